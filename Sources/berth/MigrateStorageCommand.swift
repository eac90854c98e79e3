import ArgumentParser
import BerthServer
import Foundation

struct MigrateStorage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate-storage",
        abstract: "Copy an embedded installation (filesystem + SQLite) into the stores a configuration names.",
        discussion: """
            Every blob is hashed on its way and every manifest re-hashed and re-parsed; tags, push times, users, \
            namespaces, roles, tokens and the audit log come along. Then the target is checked against the \
            source. Safe to interrupt and run again: what is already copied is skipped. Run it once while the \
            old registry serves, then stop it, run it again to copy the last pushes, and start the new set-up.
            """)

    @Option(help: "Root folder of the installation to copy (its blobs and metadata.db).")
    var from: String

    @Option(help: "YAML configuration of the target (storage.driver s3, metadata.driver postgres, …).")
    var config: String

    @Option(help: "Blobs copied at once.") var jobs = 4

    @Flag(help: "Only check that the target holds everything the source holds.") var verifyOnly = false

    func run() async throws {
        let settings = try Configuration.load(file: config)
        let report = try await StorageMove.run(from: from, to: settings, jobs: jobs, verifyOnly: verifyOnly) { line in
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
        if let copy = report.copy {
            print("copied: \(copy.blobsCopied) blobs (\(copy.bytesCopied) bytes), \(copy.blobsPresent) already present; "
                  + "\(copy.links) blob links, \(copy.manifests) manifests, \(copy.tags) tags, \(copy.policies) policies")
            for problem in copy.problems { print("not copied: " + problem) }
        }
        if let access = report.access {
            print("access: \(access.users) users, \(access.namespaces) namespaces, \(access.roles) roles, "
                  + "\(access.accessTokens) access tokens, \(access.refreshTokens) refresh tokens, "
                  + (access.auditSkipped ? "audit log not copied (the target's holds records)" : "\(access.auditEvents) audit records"))
        }
        if !report.keysCopied.isEmpty {
            print("token signing keys copied: \(report.keysCopied.joined(separator: ", ")) (every instance needs them: "
                  + "share the folder with auth.token.keys)")
        }
        let v = report.verification
        print("verified: \(v.blobs) blobs, \(v.links) blob links, \(v.manifests) manifests, \(v.tags) tags, \(v.policies) policies; "
              + "\(v.mismatches.count) mismatches")
        for mismatch in v.mismatches.prefix(50) { print("mismatch: " + mismatch) }
        guard report.complete else { throw ExitCode(1) }
    }
}
