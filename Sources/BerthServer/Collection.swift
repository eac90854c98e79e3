import BerthAuth
import BerthCore
import Foundation
import Logging

/// `berth gc`: one garbage collection straight on an installation's storage and database, safe while its
/// servers run (every decision is a database transaction; one collector at a time).
public enum Collection {
    /// The collection's report; nil when another collector is running.
    public static func run(_ configuration: Configuration, options: CollectionOptions) async throws -> CollectionReport? {
        let root = URL(fileURLWithPath: configuration.root).standardizedFileURL.path
        var logger = Logger(label: "berth")
        logger.logLevel = .warning
        let drivers = try await Drivers.make(configuration, root: root, logger: logger)
        let audit = AuditLog(store: drivers.metadata) { _ in }
        let service = RegistryService(blobs: drivers.blobs, metadata: drivers.metadata, audit: audit, logger: logger)
        do {
            let report = try await service.collectGarbage(options, by: Caller(user: "@gc"))
            try await audit.flush()
            await drivers.close()
            return report
        } catch {
            await drivers.close()
            throw error
        }
    }
}
