import ArgumentParser
import BerthServer
import Foundation

struct Berth: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "berth",
        abstract: "An OCI Distribution container registry.",
        subcommands: [Serve.self, Config.self, UserCommand.self, NamespaceCommand.self, GrantCommand.self,
                       RevokeCommand.self, TokenCommand.self, KeyCommand.self, AuditCommand.self, Migrate.self,
                       MigrateStorage.self, ImmutabilityCommand.self, LifecycleCommand.self, QuotaCommand.self,
                       UsageCommand.self, CollectCommand.self]
    )
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the registry.")

    @Option(help: "Listen address, host:port (default 0.0.0.0:5000).")
    var address: String?

    @Option(help: "Folder holding blobs and metadata (default ./berth-data).")
    var root: String?

    @Option(help: "YAML configuration file; flags override it.")
    var config: String?

    @Flag(inversion: .prefixedNo, help: "fsync writes before acknowledging them (default on).")
    var fsync: Bool?

    func run() async throws {
        var settings = try config.map(Configuration.load(file:)) ?? Configuration()
        if let address { try settings.setAddress(address) }
        if let root { settings.root = root }
        if let fsync { settings.fsync = fsync }
        try await BerthServer.run(settings)
    }
}

struct Config: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with configuration files.", subcommands: [Check.self])

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Validate a configuration file.")

        @Argument(help: "The YAML file to check.")
        var file: String

        func run() async throws {
            do {
                let settings = try Configuration.load(file: file)
                print("\(file): ok (address \(settings.host):\(settings.port), root \(settings.root), fsync \(settings.fsync))")
            } catch {
                FileHandle.standardError.write(Data("\(file): \(error)\n".utf8))
                throw ExitCode(1)
            }
        }
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bring the metadata database's schema up to date (berth serve also does this at start).")

    @OptionGroup var store: StoreOptions

    func run() async throws {
        var settings = try store.config.map(Configuration.load(file:)) ?? Configuration()
        if let root = store.root { settings.root = root }
        print("up to date: " + (try await Administration.migrate(settings)))
    }
}
