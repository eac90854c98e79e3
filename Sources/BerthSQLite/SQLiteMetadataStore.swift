import BerthCore
import Foundation
import GRDB
import Synchronization

/// Metadata in one SQLite database in WAL mode: one writer, concurrent readers.
/// With `synchronous` on, every commit is fsynced (`synchronous=FULL`) before it returns.
/// Reads are small indexed lookups served from SQLite's page cache, so they run on the caller's thread, on
/// one of a few read-only connections: a hop to another thread would cost more than the query. Writes, which
/// fsync, go through GRDB's async writer so they never block a request's thread.
public final class SQLiteMetadataStore: Sendable {
    let pool: DatabasePool
    /// Read-only connections for the single-statement reads of the hot paths, taken in turn. The pool's own
    /// readers check the schema version (a second statement and two file-lock calls) before every read; the
    /// schema only changes in migrations, before these open.
    let readers: [DatabaseQueue]
    let nextReader = Atomic<Int>(0)
    /// Background jobs running now (`exclusively`).
    let runningJobs = Mutex<Set<String>>([])

    public init(path: String, synchronous: Bool = true) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(30)
        pool = try DatabasePool(path: path, configuration: configuration)
        // GRDB's pool switches the writer to synchronous=NORMAL when it enables WAL, after any
        // prepareDatabase hook: a commit would then reach disk only at the next checkpoint. Set it on the
        // writer connection itself, once open, and read back what is in effect.
        let wanted = synchronous ? 2 : 1  // FULL : NORMAL
        let (mode, level) = try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = \(wanted)")
            return try Self.settings(db)
        }
        guard mode.lowercased() == "wal", level == wanted else {
            throw SQLiteSettingsError(path: path, journalMode: mode, synchronous: level, wanted: wanted)
        }
        try Schema.migrator.migrate(pool)
        var readOnly = Configuration()
        readOnly.readonly = true
        readOnly.busyMode = .timeout(30)
        readers = try (0..<Self.readerCount).map { _ in try DatabaseQueue(path: path, configuration: readOnly) }
    }

    static let readerCount = 4

    /// The writer connection's effective `journal_mode` and `synchronous` (0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA).
    public func effectiveSettings() throws -> (journalMode: String, synchronous: Int) {
        try pool.writeWithoutTransaction(Self.settings)
    }

    private static func settings(_ db: Database) throws -> (journalMode: String, synchronous: Int) {
        (try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "", try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1)
    }

    /// A read on the caller's thread (see the type's comment), outside a transaction: each read is one
    /// statement (or, for tags, a second one whose answer a concurrent write could only make fresher).
    func read<T>(_ body: (Database) throws -> T) throws -> T {
        let turn = nextReader.wrappingAdd(1, ordering: .relaxed).oldValue
        return try readers[(turn & Int.max) % readers.count].inDatabase(body)
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    static func ensureRepository(_ db: Database, _ name: String) throws {
        try db.execute(sql: "INSERT INTO repositories (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                       arguments: [name, now()])
    }

    /// A list of digests as one JSON array argument, read in SQL with `json_each(?)`: one fixed statement
    /// whatever the list's length (an `IN (?, …)` list sized by the request would add a cached statement
    /// per length and fail past SQLite's variable limit).
    static func jsonArray(_ digests: [Digest]) -> String {
        "[" + digests.map { "\"\($0)\"" }.joined(separator: ",") + "]"
    }

    /// A manifest's tags from `group_concat(name, ' ')`: tags never contain spaces, so one space-separated
    /// list per manifest carries them.
    static func tagList(_ text: String?) -> [String] {
        text.map { $0.split(separator: " ").map(String.init).sorted() } ?? []
    }

    /// The digests among `digests` that `sql` (taking the repository and a `jsonArray`) does not return.
    static func missing(_ digests: [Digest], in db: Database, sql: String, _ repository: String) throws -> [Digest] {
        guard !digests.isEmpty else { return [] }
        let found = Set(try String.fetchAll(db.cachedStatement(sql: sql), arguments: [repository, jsonArray(digests)]))
        return digests.filter { !found.contains($0.description) }
    }
}

/// The database would not run with the durability the configuration asks for.
public struct SQLiteSettingsError: Error, CustomStringConvertible {
    public let path: String
    public let journalMode: String
    public let synchronous: Int
    public let wanted: Int

    public var description: String {
        "\(path): SQLite runs with journal_mode=\(journalMode) synchronous=\(synchronous); Berth needs journal_mode=wal synchronous=\(wanted)"
    }
}

extension SQLiteMetadataStore: BlobIndex {
    public func blobSize(_ digest: Digest, in repository: RepositoryName) async throws -> Int64? {
        try read { db in
            try Int64.fetchOne(db.cachedStatement(sql: """
                SELECT b.size FROM repository_blobs r JOIN blobs b ON b.digest = r.digest
                WHERE r.repository = ? AND r.digest = ?
                """), arguments: [repository.value, digest.description])
        }
    }

    public func addBlob(_ digest: Digest, size: Int64, to repository: RepositoryName,
                        completing upload: UploadID?, claim: String?, by caller: String) async throws {
        try await pool.write { db in
            let now = Self.now()
            if let upload {
                try db.execute(sql: "DELETE FROM uploads WHERE id = ?", arguments: [upload.value])
            }
            if let claim {
                try db.execute(sql: "DELETE FROM blob_claims WHERE digest = ? AND claim = ?", arguments: [digest.description, claim])
                // Without its claim, a collector may have condemned and deleted the bytes the writer relied on
                // (it drops claims an hour old as dead writers'): linking them would acknowledge nothing.
                guard db.changesCount == 1 else { throw WriteConflict.claimLost(digest) }
            }
            let condemned = try Bool.fetchOne(db, sql: "SELECT condemned FROM blobs WHERE digest = ?",
                                              arguments: [digest.description]) ?? false
            if condemned { throw WriteConflict.claimLost(digest) }
            try Self.ensureRepository(db, repository.value)
            try db.execute(sql: "INSERT INTO blobs (digest, size, created_at) VALUES (?, ?, ?) ON CONFLICT (digest) DO NOTHING",
                           arguments: [digest.description, size, now])
            try Self.link(db, digest, repository, by: caller, at: now)
        }
    }

    static func link(_ db: Database, _ digest: Digest, _ repository: RepositoryName, by caller: String, at now: Int64) throws {
        try db.execute(sql: """
            INSERT INTO repository_blobs (repository, digest, linked_at, linked_by) VALUES (?, ?, ?, ?)
            ON CONFLICT (repository, digest) DO UPDATE SET linked_at = excluded.linked_at
            """, arguments: [repository.value, digest.description, now, caller])
    }

    public func mountBlob(_ digest: Digest, from source: RepositoryName, to repository: RepositoryName,
                          by caller: String) async throws -> Bool {
        try await pool.write { db in
            let visible = try Bool.fetchOne(db.cachedStatement(sql: """
                SELECT 1 FROM repository_blobs l JOIN blobs b ON b.digest = l.digest
                WHERE l.repository = ? AND l.digest = ? AND NOT b.condemned
                """), arguments: [source.value, digest.description]) ?? false
            guard visible else { return false }
            try Self.ensureRepository(db, repository.value)
            try Self.link(db, digest, repository, by: caller, at: Self.now())
            return true
        }
    }

    public func repositories(holding digest: Digest, limit: Int) async throws -> [RepositoryName] {
        try read { db in
            try String.fetchAll(db.cachedStatement(sql: """
                SELECT repository FROM repository_blobs WHERE digest = ? ORDER BY repository LIMIT ?
                """), arguments: [digest.description, limit])
        }.compactMap { try? RepositoryName(validating: $0) }
    }

    public func removeBlob(_ digest: Digest, from repository: RepositoryName) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM repository_blobs WHERE repository = ? AND digest = ?",
                           arguments: [repository.value, digest.description])
            return db.changesCount > 0
        }
    }

}
