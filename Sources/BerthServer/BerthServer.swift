import BerthCore
import BerthFilesystem
import BerthHTTP
import BerthSQLite
import Foundation
import Hummingbird
import Logging

/// Wires the drivers, the registry service and the HTTP application from a configuration.
public enum BerthServer {
    /// Where access-log lines go: stdout, in batches.
    static let accessLogSink = LogSink()

    /// Builds a ready-to-run application; `onServerRunning` receives the bound port.
    public static func makeApplication(
        _ configuration: Configuration,
        logger: Logger = Logger(label: "berth"),
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws -> some ApplicationProtocol {
        var logger = logger
        logger.logLevel = configuration.logLevel
        let root = URL(fileURLWithPath: configuration.root).standardizedFileURL.path
        let blobs = try FilesystemBlobStore(root: root, synchronous: configuration.fsync)
        let metadata = try SQLiteMetadataStore(path: root + "/metadata.db", synchronous: configuration.fsync)
        let service = RegistryService(
            blobs: blobs, metadata: metadata,
            options: RegistryOptions(manifestMaxBytes: configuration.manifestMaxBytes), logger: logger)
        let sessions = try await service.removeOrphanedUploads()
        let settings = try metadata.effectiveSettings()
        logger.info("metadata: journal_mode=\(settings.journalMode) synchronous=\(settings.synchronous); \(sessions) upload sessions open")
        let accessSink = accessLogSink
        var accessLogger = Logger(label: "berth.access") { label in BufferedLogHandler(label: label, sink: accessSink) }
        accessLogger.logLevel = configuration.accessLog ? configuration.logLevel : .critical
        logger.info("storing under \(root)")
        let expiry = UploadExpiryService(registry: service, age: configuration.uploadExpiry,
                                         interval: configuration.uploadExpiryInterval, logger: logger)
        let http = HTTPOptions(host: configuration.host, port: configuration.port,
                               idleTimeout: configuration.idleTimeout, maxConnections: configuration.maxConnections)
        return RegistryApplication.make(
            service: service, http: http, logger: logger, accessLogger: accessLogger, services: [expiry],
            onServerRunning: onServerRunning)
    }

    /// Runs until SIGTERM or SIGINT, then lets in-flight requests finish.
    public static func run(_ configuration: Configuration) async throws {
        let app = try await makeApplication(configuration) { port in
            Logger(label: "berth").info("listening on \(configuration.host):\(port)")
        }
        try await app.runService()
        accessLogSink.flush()
    }
}
