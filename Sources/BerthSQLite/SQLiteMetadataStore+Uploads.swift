import BerthCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import GRDB

extension SQLiteMetadataStore: UploadSessions {
    public func createUpload(_ id: UploadID, in repository: RepositoryName, by caller: String) async throws {
        try await pool.write { db in
            let now = Self.now()
            try db.execute(sql: """
                INSERT INTO uploads (id, repository, started_at, started_by, updated_at) VALUES (?, ?, ?, ?, ?)
                """, arguments: [id.value, repository.value, now, caller, now])
        }
    }

    public func uploadSession(_ id: UploadID) async throws -> UploadSession? {
        let row = try read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT repository, size, segments FROM uploads WHERE id = ?"),
                             arguments: [id.value])
        }
        guard let row else { return nil }
        let segments = try JSONDecoder().decode([UploadSegment].self, from: Data((row["segments"] as String).utf8))
        return UploadSession(repository: try RepositoryName(validating: row["repository"] as String),
                             size: row["size"], segments: segments)
    }

    public func advanceUpload(_ id: UploadID, from size: Int64, adding segment: UploadSegment) async throws -> Bool {
        let json = String(decoding: try JSONEncoder().encode(segment), as: UTF8.self)
        // '$[#]' appends; '$[#-1]' is the last segment, which one starting before `size` replaces.
        let path = segment.start < size ? "$[#-1]" : "$[#]"
        return try await pool.write { db in
            try db.execute(sql: """
                UPDATE uploads SET size = ?, segments = json_set(segments, ?, json(?)), updated_at = ?
                WHERE id = ? AND size = ?
                """, arguments: [segment.end, path, json, Self.now(), id.value, size])
            return db.changesCount > 0
        }
    }

    public func deleteUpload(_ id: UploadID) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM uploads WHERE id = ?", arguments: [id.value])
        }
    }

    public func uploadIDs() async throws -> [UploadID] {
        try read { db in
            try String.fetchAll(db.cachedStatement(sql: "SELECT id FROM uploads"))
        }.compactMap { try? UploadID(validating: $0) }
    }

    public func uploadIDs(idleSince cutoff: Date) async throws -> [UploadID] {
        let millis = Int64(cutoff.timeIntervalSince1970 * 1000)
        return try read { db in
            try String.fetchAll(db.cachedStatement(sql: "SELECT id FROM uploads WHERE updated_at < ?"), arguments: [millis])
        }.compactMap { try? UploadID(validating: $0) }
    }
}

extension SQLiteMetadataStore: StoreOperations {
    public func checkHealth() async throws {
        _ = try read { db in try Int.fetchOne(db, sql: "SELECT 1") }
    }

    /// One process owns an SQLite database (the embedded set-up), so a job only has to exclude itself.
    /// One job of a name at a time in this process (a set) and across processes on this database, such as
    /// `berth gc` beside a server (a `flock` on a file next to it, released by the kernel if a process dies).
    public func exclusively<T: Sendable>(_ job: String, _ body: @Sendable () async throws -> T) async throws -> T? {
        guard runningJobs.withLock({ $0.insert(job).inserted }) else { return nil }
        defer { runningJobs.withLock { _ = $0.remove(job) } }
        let path = pool.path + ".job-" + job.filter { $0.isLetter || $0.isNumber || $0 == "-" } + ".lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SQLiteJobLockError(path: path, errno: errno) }
        defer { close(fd) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            if errno == EWOULDBLOCK { return nil }
            throw SQLiteJobLockError(path: path, errno: errno)
        }
        return try await body()
    }
}

/// A job's lock file could not be opened or locked.
public struct SQLiteJobLockError: Error, CustomStringConvertible {
    public let path: String
    public let errno: Int32
    public var description: String { "\(path): \(String(cString: strerror(errno)))" }
}
