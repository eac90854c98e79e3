import BerthAuth
import BerthCore
import BerthFilesystem
import BerthSQLite
import Foundation
import Logging

/// `berth migrate-storage`: copies an embedded installation (blobs on the filesystem, metadata in SQLite, both
/// under one root) into the stores a configuration names, typically S3 and PostgreSQL, then checks the copy.
public enum StorageMove {
    public struct Report: Sendable {
        /// Nil when only verifying.
        public var copy: StorageMigration.Summary?
        public var access: AccessMigration.Summary?
        public var verification: StorageMigration.Verification
        /// Token signing keys copied into the target's root.
        public var keysCopied: [String] = []

        /// True when everything was copied and the target holds it all.
        public var complete: Bool { (copy?.problems.isEmpty ?? true) && verification.mismatches.isEmpty }
    }

    public static func run(from sourceRoot: String, to configuration: Configuration, jobs: Int, verifyOnly: Bool,
                           progress: @escaping @Sendable (String) -> Void) async throws -> Report {
        let source = URL(fileURLWithPath: sourceRoot).standardizedFileURL.path
        let targetRoot = URL(fileURLWithPath: configuration.root).standardizedFileURL.path
        guard FileManager.default.fileExists(atPath: source + "/metadata.db") else {
            throw ConfigurationError("\(source) holds no Berth installation (no metadata.db)")
        }
        if configuration.blobStorage.driver == .filesystem || configuration.metadata.driver == .sqlite,
           source == targetRoot {
            throw ConfigurationError("the target's root is the source (\(source)): give a configuration for other stores")
        }
        var logger = Logger(label: "berth.migrate-storage")
        logger.logLevel = .warning
        try DurableFolders.make(targetRoot, durable: configuration.fsync)
        let sourceBlobs = try FilesystemBlobStore(root: source, synchronous: configuration.fsync)
        let sourceMetadata = try SQLiteMetadataStore(path: source + "/metadata.db", synchronous: configuration.fsync)
        let target = try await Drivers.make(configuration, root: targetRoot, logger: logger)
        progress("from blobs under \(source), metadata in \(source)/metadata.db")
        progress("to \(target.summary)")
        do {
            let migration = StorageMigration(from: (sourceBlobs, sourceMetadata), to: (target.blobs, target.metadata),
                                             jobs: jobs, progress: progress)
            var report = Report(verification: .init())
            if !verifyOnly {
                report.copy = try await migration.run()
                report.access = try await AccessMigration.copy(from: sourceMetadata, to: target.metadata)
                report.keysCopied = try copyKeys(from: source + "/keys",
                                                 to: Security.keysFolder(configuration, root: targetRoot))
            }
            progress("verifying the target against the source")
            report.verification = try await migration.verify()
            await target.close()
            return report
        } catch {
            await target.close()
            throw error
        }
    }

    /// Token signing keys live in files, not in the stores: copied into the target's keys folder (shared by
    /// its instances with `auth.token.keys`), so that tokens issued before the move still verify.
    static func copyKeys(from: String, to: String) throws -> [String] {
        guard from != to, let names = try? FileManager.default.contentsOfDirectory(atPath: from) else { return [] }
        try DurableFolders.make(to, mode: 0o700)
        var copied: [String] = []
        for name in names.sorted() where !FileManager.default.fileExists(atPath: to + "/" + name) {
            // Synced and renamed into place like a new key: the copy is the target's only copy.
            try SigningKeys.writeDurably(try Data(contentsOf: URL(fileURLWithPath: from + "/" + name)), to: to + "/" + name, mode: 0o600)
            copied.append(name)
        }
        return copied
    }
}
