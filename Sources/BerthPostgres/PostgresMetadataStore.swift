import BerthCore
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Metadata in PostgreSQL, shared by several Berth instances. Every write that SQLite makes atomic by having a
/// single writer is a transaction here; races between instances (two pushes of one blob or tag) are absorbed
/// by `INSERT ... ON CONFLICT`, and reference checks lock the rows they rely on (see `putManifest`).
///
/// Lifecycle: `init(configuration:)`, then run `run()` in a long-lived task (it drives the connection pool),
/// then `prepare()` (checks durability settings and migrates) before serving.
public final class PostgresMetadataStore: Sendable {
    public let configuration: Configuration
    let client: PostgresClient
    let logger: Logger
    /// Blob sizes for the HEAD and GET hot path, when `configuration.blobCache` is on.
    let blobCache: BlobSizeCache?
    /// Link removals whose invalidation no fence has awaited yet (PostgresMetadataStore+Invalidation).
    let unsettledRemovals = Mutex(false)

    public init(configuration: Configuration, logger: Logger = Logger(label: "berth.postgres")) {
        self.configuration = configuration
        self.logger = logger
        client = PostgresClient(configuration: configuration.client, backgroundLogger: logger)
        blobCache = configuration.blobCache ? BlobSizeCache() : nil
    }

    /// Runs the connection pool (and the blob cache's listener) until the task is cancelled. Nothing reaches
    /// the database unless this runs.
    public func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.client.run() }
            if let cache = self.blobCache {
                group.addTask { await self.maintainBlobCache(cache) }
            }
        }
    }

    /// Checks the server's durability settings and brings the schema up to date. Call once `run()` is going.
    public func prepare() async throws {
        let settings = try await effectiveSettings()
        if configuration.durable, settings.synchronousCommit == "off" || settings.fsync == "off" {
            throw PostgresSettingsError(synchronousCommit: settings.synchronousCommit, fsync: settings.fsync)
        }
        try await migrate()
    }

    /// The server's `synchronous_commit` and `fsync` as this store's connections see them.
    public func effectiveSettings() async throws -> (synchronousCommit: String, fsync: String) {
        let rows = try await query("SELECT current_setting('synchronous_commit'), current_setting('fsync')")
        guard let row = rows.first else { return ("", "") }
        let (commit, fsync) = try row.decode((String, String).self)
        return (commit, fsync)
    }

    /// Applies the migrations not yet recorded, in one transaction under an advisory lock, so that instances
    /// starting together apply each once (the second waits, then finds nothing to do).
    public func migrate() async throws {
        let schema = configuration.schema
        let lockName = "berth-migrate/" + (schema ?? "")
        try await transaction { connection in
            // A migration may rebuild an index on a large table, and instances starting together wait here
            // for the first one's migration: the ordinary limits would fail both.
            try await self.lift(connection)
            try await connection.query("SELECT pg_advisory_xact_lock(\(unescaped: Self.lockKeySQL)) FROM (SELECT \(lockName)::text AS name) k",
                                       logger: self.logger)
            if let schema {
                // Validated as a plain identifier by the configuration.
                try await connection.query("CREATE SCHEMA IF NOT EXISTS \(unescaped: "\"" + schema + "\"")", logger: self.logger)
            }
            try await connection.query("""
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version INTEGER PRIMARY KEY,
                    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
                )
                """, logger: self.logger)
            let applied = Set(try await connection.query("SELECT version FROM schema_migrations", logger: self.logger)
                .collect().map { try $0.decode(Int.self) })
            for migration in PostgresSchema.migrations where !applied.contains(migration.version) {
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: self.logger)
                }
                try await connection.query("INSERT INTO schema_migrations (version) VALUES (\(migration.version))",
                                           logger: self.logger)
                self.logger.info("applied PostgreSQL schema migration \(migration.version)")
            }
        }
    }

    /// A stable 64-bit advisory-lock key from the text column `name`: the first 16 hex digits of its MD5.
    static let lockKeySQL = "('x' || substr(md5(name), 1, 16))::bit(64)::bigint"

    // MARK: Helpers

    @discardableResult
    func query(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await client.query(query, logger: logger).collect()
    }

    /// The first row of a prepared statement (the rest, if any, is drained).
    func first<Statement: PostgresPreparedStatement>(_ statement: Statement) async throws -> Statement.Row? {
        var found: Statement.Row?
        for try await row in try await client.execute(statement, logger: logger) where found == nil { found = row }
        return found
    }

    /// Runs `body` in a transaction on one pooled connection: COMMIT when it returns, ROLLBACK when it throws.
    /// Errors pass through as they are (postgres-nio's own `withTransaction` wraps them, which would hide
    /// `StorageError.missingReferences`). `isolation` is a `SET TRANSACTION` mode such as
    /// `ISOLATION LEVEL REPEATABLE READ, READ ONLY`.
    /// A deadlock or serialization failure (the server aborted this transaction to let another finish) is
    /// retried a few times: the body only runs queries, so running it again is safe.
    func transaction<T: Sendable>(_ isolation: String? = nil,
                                  _ body: (PostgresConnection) async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await transactionOnce(isolation, body)
            } catch let error as PSQLError where attempt < 4 && Self.isRetryable(error) {
                logger.debug("retrying a PostgreSQL transaction after \(error.serverInfo?[.sqlState] ?? "")")
                attempt += 1
            }
        }
    }

    static func isRetryable(_ error: PSQLError) -> Bool {
        // 40001 serialization_failure, 40P01 deadlock_detected
        ["40001", "40P01"].contains(error.serverInfo?[.sqlState] ?? "")
    }

    private func transactionOnce<T: Sendable>(_ isolation: String?,
                                              _ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await client.withConnection { connection in
            try await connection.query("BEGIN", logger: self.logger)
            do {
                if let isolation {
                    try await connection.query("SET TRANSACTION \(unescaped: isolation)", logger: self.logger)
                }
                let value = try await body(connection)
                try await connection.query("COMMIT", logger: self.logger)
                return value
            } catch {
                // After a failed COMMIT there is no transaction left; ROLLBACK then only warns.
                _ = try? await connection.query("ROLLBACK", logger: self.logger)
                throw error
            }
        }
    }

    /// Runs `body` in a transaction under the maintenance limits (see `Configuration.Limits`): garbage
    /// collection's listings scan whole tables, which the ordinary statement timeout is not meant for.
    func maintenance<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await transaction { connection in
            try await self.lift(connection)
            return try await body(connection)
        }
    }

    /// Replaces the connection's limits with the maintenance ones until the transaction ends (`SET LOCAL`).
    func lift(_ connection: PostgresConnection) async throws {
        let limit = String(Configuration.milliseconds(configuration.limits.maintenanceTimeout))
        try await connection.query("""
            SELECT set_config('statement_timeout', \(limit), true), set_config('lock_timeout', \(limit), true)
            """, logger: logger)
    }

    static func now() -> Int64 { millis(Date()) }
    static func millis(_ date: Date) -> Int64 { Int64(date.timeIntervalSince1970 * 1000) }
    static func date(_ millis: Int64) -> Date { Date(timeIntervalSince1970: Double(millis) / 1000) }

    static func ensureRepository(_ connection: PostgresConnection, _ name: String, _ logger: Logger) async throws {
        try await connection.query("""
            INSERT INTO repositories (name, created_at) VALUES (\(name), \(now())) ON CONFLICT (name) DO NOTHING
            """, logger: logger)
    }
}

extension PostgresConnection {
    /// The rows of a statement on this connection (for `RETURNING` counts, too).
    @discardableResult
    func rows(_ query: PostgresQuery, _ logger: Logger) async throws -> [PostgresRow] {
        try await self.query(query, logger: logger).collect()
    }
}

extension PostgresMetadataStore: StoreOperations {
    public func checkHealth() async throws {
        try await query("SELECT 1")
    }

    /// A session-level advisory lock held on one dedicated connection for the job's length: other instances
    /// (and this one) get false from `pg_try_advisory_lock` meanwhile, and the server drops the lock if this
    /// process dies. The key is the job's name (with the schema), hashed to 64 bits.
    public func exclusively<T: Sendable>(_ job: String, _ body: @Sendable () async throws -> T) async throws -> T? {
        let name = "berth-job/" + (configuration.schema ?? "") + "/" + job
        return try await client.withConnection { connection -> T? in
            let acquired = try await connection.rows("""
                SELECT pg_try_advisory_lock(\(unescaped: Self.lockKeySQL)) FROM (SELECT \(name)::text AS name) k
                """, self.logger).first?.decode(Bool.self) ?? false
            guard acquired else { return nil }
            let result: Result<T, any Error>
            do { result = .success(try await body()) } catch { result = .failure(error) }
            try await connection.query("""
                SELECT pg_advisory_unlock(\(unescaped: Self.lockKeySQL)) FROM (SELECT \(name)::text AS name) k
                """, logger: self.logger)
            return try result.get()
        }
    }
}
