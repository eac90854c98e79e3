import BerthAuth
import BerthCore
import BerthFilesystem
import BerthPostgres
import BerthS3
import BerthSQLite
import Foundation
import Logging
import ServiceLifecycle

/// The storage drivers a configuration names: the filesystem or S3 for blobs, SQLite or PostgreSQL for
/// metadata (and access control, which lives in the same database).
struct Drivers: Sendable {
    let blobs: any BlobStore
    let metadata: any MetadataStore & AccessStore
    /// What releases the drivers' resources (PostgreSQL's connection pool, the S3 client).
    let closers: [@Sendable () async -> Void]
    /// One line for the start-up log.
    let summary: String

    /// `serving`: for a server (with the PostgreSQL blob cache, if configured), not a one-off command.
    static func make(_ configuration: Configuration, root: String, logger: Logger, serving: Bool = false) async throws -> Drivers {
        var closers: [@Sendable () async -> Void] = []
        var lines: [String] = []
        let blobs: any BlobStore
        switch configuration.blobStorage.driver {
        case .filesystem:
            blobs = try FilesystemBlobStore(root: root, synchronous: configuration.fsync)
            lines.append("blobs under \(root)")
        case .s3:
            let s3 = try makeS3(configuration.blobStorage.s3, logger: logger)
            blobs = s3
            closers.append { try? await s3.shutdown() }
            lines.append("blobs in s3 \(s3.configuration.endpoint) bucket \(s3.configuration.bucket)")
        }
        let (metadata, close, line) = try await openMetadata(configuration, root: root, logger: logger, serving: serving)
        closers.append(close)
        lines.append(line)
        return Drivers(blobs: blobs, metadata: metadata, closers: closers, summary: lines.joined(separator: "; "))
    }

    /// What runs beside a server for the drivers: releasing them at shutdown.
    var services: [any Service] { closers.map { Closing(close: $0) } }

    func close() async {
        for close in closers { await close() }
    }

    /// The metadata store, ready to use, with what releases it and a line describing it.
    static func openMetadata(_ configuration: Configuration, root: String, logger: Logger, serving: Bool = false) async throws
        -> (any MetadataStore & AccessStore, close: @Sendable () async -> Void, summary: String) {
        switch configuration.metadata.driver {
        case .sqlite:
            let store = try SQLiteMetadataStore(path: root + "/metadata.db", synchronous: configuration.fsync)
            let settings = try store.effectiveSettings()
            return (store, {}, "metadata in SQLite (journal_mode=\(settings.journalMode) synchronous=\(settings.synchronous))")
        case .postgres:
            let store = try makePostgres(configuration, logger: logger, blobCache: serving && configuration.metadata.postgresBlobCache)
            let pool = Task { await store.run() }
            do {
                try await store.prepare()
                let settings = try await store.effectiveSettings()
                return (store, { pool.cancel() },
                        "metadata in PostgreSQL (synchronous_commit=\(settings.synchronousCommit) fsync=\(settings.fsync)"
                            + (store.configuration.blobCache ? ", blob cache on" : "") + ")")
            } catch {
                pool.cancel()
                throw error
            }
        }
    }

    static func makeS3(_ settings: S3Settings, logger: Logger) throws -> S3BlobStore {
        var encryption = S3Configuration.Encryption.none
        switch settings.encryption {
        case "AES256": encryption = .aes256
        case "aws:kms": encryption = .kms(keyID: settings.kmsKeyID)
        default: break
        }
        let configuration = try S3Configuration.fromEnvironment(
            endpoint: settings.endpoint, region: settings.region, bucket: settings.bucket, prefix: settings.prefix,
            accessKey: settings.accessKey, secretKey: settings.secretKey, sessionToken: settings.sessionToken,
            pathStyle: settings.pathStyle, partSize: settings.partSize ?? S3Configuration.defaultPartSize,
            encryption: encryption, maxAttempts: settings.maxAttempts, uploadBufferBytes: settings.uploadBufferMemory)
        var withRedirect = configuration
        // Distribution's default lifetime for its redirect URLs.
        withRedirect.redirectExpiry = settings.redirect ? .seconds(20 * 60) : nil
        return try S3BlobStore(configuration: withRedirect, logger: logger)
    }

    static func makePostgres(_ configuration: Configuration, logger: Logger, blobCache: Bool = false) throws -> PostgresMetadataStore {
        guard let url = configuration.metadata.postgresURL ?? ProcessInfo.processInfo.environment["BERTH_POSTGRES_URL"]
        else { throw ConfigurationError("metadata.postgres.url (or BERTH_POSTGRES_URL) is required with metadata.driver postgres") }
        var settings = try PostgresMetadataStore.Configuration(
            url: url, poolSize: configuration.metadata.postgresPoolSize, durable: configuration.fsync)
        settings.blobCache = blobCache
        var limits = PostgresMetadataStore.Configuration.Limits()
        limits.statementTimeout = configuration.metadata.postgresStatementTimeout
        limits.lockTimeout = configuration.metadata.postgresLockTimeout
        limits.maintenanceTimeout = configuration.metadata.postgresMaintenanceTimeout
        do {
            try settings.setLimits(limits)
        } catch {
            throw ConfigurationError("metadata.postgres: \(error)")
        }
        if let weakness = settings.tlsWeakness { logger.warning("PostgreSQL: \(weakness)") }
        return PostgresMetadataStore(configuration: settings, logger: logger)
    }
}

/// Waits for shutdown, then releases a driver's resources.
struct Closing: Service {
    let close: @Sendable () async -> Void

    func run() async throws {
        try? await gracefulShutdown()
        await close()
    }
}
