import BerthAuth
import BerthCore
import BerthFilesystem
import BerthHTTP
import BerthSQLite
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// Wires the drivers, the registry service and the HTTP application from a configuration.
public enum BerthServer {
    /// Where access-log and audit lines go: stdout, in batches.
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
        // Every acknowledged write of a new installation depends on the root's own creation being durable.
        try DurableFolders.make(root, durable: configuration.fsync)
        let drivers = try await Drivers.make(configuration, root: root, logger: logger, serving: true)
        let blobs = drivers.blobs, metadata = drivers.metadata
        let sink = accessLogSink
        let audit = AuditLog(store: metadata) { line in sink.append(line + "\n") }
        let service = RegistryService(
            blobs: blobs, metadata: metadata,
            options: RegistryOptions(manifestMaxBytes: configuration.manifestMaxBytes, collection: configuration.gc),
            audit: audit, logger: logger)
        let sessions = try await service.openUploadCount()
        logger.info("\(drivers.summary); \(sessions) upload sessions open")
        var accessLogger = Logger(label: "berth.access") { label in BufferedLogHandler(label: label, sink: sink) }
        accessLogger.logLevel = configuration.accessLog ? configuration.logLevel : .critical

        let security = try await Security.make(configuration, root: root, store: metadata, audit: audit, logger: logger)
        let services: [any Service] = drivers.services + [
            // Upload sessions idle for longer than `uploadExpiry` go (Distribution purges after 7 days).
            PeriodicJob(name: "upload expiry", interval: configuration.uploadExpiryInterval, atStart: true, logger: logger) { [logger] in
                let count = try await service.expireUploads(idleFor: configuration.uploadExpiry)
                if count > 0 { logger.info("removed \(count) upload sessions idle for more than \(configuration.uploadExpiry)") }
            },
            // Pull times noted in memory, written in batches (and at shutdown).
            PeriodicJob(name: "recording pull times", interval: .seconds(10), atShutdown: true, logger: logger) {
                try await service.flushPulls()
            },
            // Lifecycle policies, one instance at a time over a shared database.
            PeriodicJob(name: "lifecycle run", interval: configuration.lifecycleInterval, logger: logger) { [logger] in
                let deleted = try await metadata.exclusively("lifecycle") {
                    try await service.lifecycle.applyAll(by: Caller(user: "@lifecycle"))
                }
                if let deleted, deleted > 0 { logger.info("lifecycle policies expired \(deleted) manifests") }
            },
            // Expired refresh tokens, long-ended access tokens and old audit records go (auth.retention).
            PeriodicJob(name: "retention", interval: .seconds(3600), atStart: true, logger: logger) { [logger, access = security.access] in
                let counts = try await metadata.exclusively("retention") { try await access.purge() }
                if let counts, counts != PurgeCounts() {
                    logger.info("retention: deleted \(counts.refreshTokens) refresh tokens, \(counts.accessTokens) access tokens, \(counts.auditRecords) audit records")
                }
            },
        ] + (configuration.gcInterval.map { interval in [
            // Garbage collection while serving, one collector at a time over a shared database.
            PeriodicJob(name: "garbage collection", interval: interval, logger: logger) {
                _ = try await service.collectGarbage(configuration.gc, by: Caller(user: "@gc"))
            },
        ] } ?? []) + [
            AccessRefreshService(access: security.access, audit: audit, authority: security.authority, logger: logger),
            HangupService(tls: security.tls, access: security.access, authority: security.authority, logger: logger),
        ]
        var http = HTTPOptions(host: configuration.host, port: configuration.port,
                               idleTimeout: configuration.idleTimeout, maxConnections: configuration.maxConnections,
                               tls: try security.tls?.serverConfiguration())
        http.trustedProxies = configuration.trustedProxies
        return try RegistryApplication.make(
            service: service, http: http, auth: security.options, logger: logger, accessLogger: accessLogger,
            services: services, onServerRunning: onServerRunning)
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
