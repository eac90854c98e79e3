import ArgumentParser
import BerthCore
import BerthServer
import BerthWire
import Foundation

struct CollectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc", abstract: "Collect garbage once, while the registry serves.",
        discussion: """
            Removes blob links no manifest references, blobs no repository links (their bytes), abandoned upload \
            sessions and, with --untagged, manifests no tag or index references. Works directly on the \
            configured storage and database; servers keep serving. Links and untagged manifests younger than \
            the grace period stay (gc.grace, default 1h). Waits for nothing: if another collection is running, \
            it says so and exits with status 2.
            """)

    @OptionGroup var store: StoreOptions
    @Flag(help: "Only report what would be removed.") var dryRun = false
    @Option(help: "Grace period, e.g. 0s, 30m (default: the configuration's gc.grace).") var grace: String?
    @Flag(help: "Also remove manifests that no tag and no index references.") var untagged = false
    @Flag(help: "Print the report as one JSON line.") var json = false

    func run() async throws {
        var settings = try store.config.map(Configuration.load(file:)) ?? Configuration()
        if let root = store.root { settings.root = root }
        var options = settings.gc
        options.dryRun = dryRun
        if untagged { options.untagged = true }
        if let grace {
            do { options.grace = try Durations.parse(grace, "--grace", allowZero: true) } catch { throw ValidationError(error.description) }
        }
        guard let report = try await Collection.run(settings, options: options) else {
            FileHandle.standardError.write(Data("berth: a garbage collection is already running\n".utf8))
            throw ExitCode(2)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(report.summary)
        }
    }
}
