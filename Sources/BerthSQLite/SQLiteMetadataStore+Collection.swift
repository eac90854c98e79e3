import BerthCore
import Foundation
import GRDB

/// Garbage collection's decisions. SQLite has one writer, so each check-and-delete below is one write
/// transaction that no push, mount or claim can interleave with.
extension SQLiteMetadataStore: GarbageIndex {
    public func clock() async throws -> Int64 { Self.now() }

    public func claimBlob(_ digest: Digest, claim: String) async throws -> Bool {
        try await pool.write { db in
            let condemned = try Bool.fetchOne(db, sql: "SELECT condemned FROM blobs WHERE digest = ?",
                                              arguments: [digest.description]) ?? false
            if condemned { return false }
            try db.execute(sql: """
                INSERT INTO blob_claims (digest, claim, claimed_at) VALUES (?, ?, ?)
                ON CONFLICT (digest, claim) DO UPDATE SET claimed_at = excluded.claimed_at
                """, arguments: [digest.description, claim, Self.now()])
            return true
        }
    }

    public func releaseClaim(_ digest: Digest, claim: String) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM blob_claims WHERE digest = ? AND claim = ?", arguments: [digest.description, claim])
        }
    }

    public func collectableRepositories() async throws -> [RepositoryName] {
        try read { db in try String.fetchAll(db, sql: "SELECT name FROM repositories ORDER BY name") }
            .compactMap { try? RepositoryName(validating: $0) }
    }

    /// Untagged, unlisted manifests whose subject is absent (`m` is the manifest).
    static let unreferencedManifest = """
        m.pushed_at < ?
        AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repository = m.repository AND t.manifest = m.digest)
        AND NOT EXISTS (SELECT 1 FROM manifest_references r WHERE r.repository = m.repository AND r.reference = m.digest)
        AND (m.subject IS NULL OR NOT EXISTS (SELECT 1 FROM manifests s WHERE s.repository = m.repository AND s.digest = m.subject))
        """

    public func unreferencedManifests(in repository: RepositoryName, before cutoff: Int64) async throws -> [Digest] {
        try read { db in
            try String.fetchAll(db, sql: "SELECT m.digest FROM manifests m WHERE m.repository = ? AND \(Self.unreferencedManifest) ORDER BY m.digest",
                                arguments: [repository.value, cutoff])
        }.compactMap { try? Digest(parsing: $0) }
    }

    public func collectManifest(_ digest: Digest, in repository: RepositoryName, before cutoff: Int64) async throws -> Bool {
        try await pool.write { db in
            let arguments: StatementArguments = [repository.value, digest.description]
            try db.execute(sql: """
                DELETE FROM manifests WHERE rowid IN (
                    SELECT m.rowid FROM manifests m WHERE m.repository = ? AND m.digest = ? AND \(Self.unreferencedManifest))
                """, arguments: arguments + [cutoff])
            guard db.changesCount > 0 else { return false }
            try db.execute(sql: "DELETE FROM manifest_references WHERE repository = ? AND manifest = ?", arguments: arguments)
            return true
        }
    }

    static let unreferencedLink = """
        l.linked_at < ?
        AND NOT EXISTS (SELECT 1 FROM manifest_references r WHERE r.repository = l.repository AND r.reference = l.digest)
        """

    public func unreferencedLinks(in repository: RepositoryName, before cutoff: Int64) async throws -> [Digest] {
        try read { db in
            try String.fetchAll(db, sql: "SELECT l.digest FROM repository_blobs l WHERE l.repository = ? AND \(Self.unreferencedLink) ORDER BY l.digest",
                                arguments: [repository.value, cutoff])
        }.compactMap { try? Digest(parsing: $0) }
    }

    public func collectLink(_ digest: Digest, in repository: RepositoryName, before cutoff: Int64) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: """
                DELETE FROM repository_blobs WHERE rowid IN (
                    SELECT l.rowid FROM repository_blobs l WHERE l.repository = ? AND l.digest = ? AND \(Self.unreferencedLink))
                """, arguments: [repository.value, digest.description, cutoff])
            return db.changesCount > 0
        }
    }

    static let unlinked = """
        NOT EXISTS (SELECT 1 FROM repository_blobs l WHERE l.digest = b.digest)
        AND NOT EXISTS (SELECT 1 FROM manifest_references r WHERE r.reference = b.digest)
        """

    public func unlinkedBlobs(after: Digest?, limit: Int) async throws -> [(digest: Digest, size: Int64)] {
        try read { db in
            try Row.fetchAll(db, sql: """
                SELECT b.digest, b.size FROM blobs b WHERE b.digest > ? AND (b.condemned OR (\(Self.unlinked)))
                ORDER BY b.digest LIMIT ?
                """, arguments: [after?.description ?? "", limit])
        }.compactMap { row in (try? Digest(parsing: row["digest"] as String)).map { ($0, row["size"]) } }
    }

    public func condemnBlob(_ digest: Digest) async throws -> Int64? {
        try await pool.write { db in
            let key = digest.description
            let claimed = try Bool.fetchOne(db, sql: "SELECT 1 FROM blob_claims WHERE digest = ?", arguments: [key]) ?? false
            guard let row = try Row.fetchOne(db, sql: "SELECT b.size, b.condemned, \(Self.unlinked) AS unlinked FROM blobs b WHERE b.digest = ?",
                                             arguments: [key]) else {
                // Bytes without a row: a writer that died between storing and recording them, unless one holds a claim.
                if claimed { return nil }
                try db.execute(sql: "INSERT INTO blobs (digest, size, created_at, condemned) VALUES (?, 0, ?, 1)", arguments: [key, Self.now()])
                return 0
            }
            if row["condemned"] as Bool { return row["size"] as Int64 }
            guard !claimed, row["unlinked"] as Bool else { return nil }
            try db.execute(sql: "UPDATE blobs SET condemned = 1 WHERE digest = ?", arguments: [key])
            return row["size"] as Int64
        }
    }

    public func forgetBlob(_ digest: Digest) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM blobs WHERE digest = ? AND condemned", arguments: [digest.description])
        }
    }

    public func accountedBlobs(_ digests: [Digest]) async throws -> Set<Digest> {
        guard !digests.isEmpty else { return [] }
        let list = Self.jsonArray(digests)
        return Set(try read { db in
            try String.fetchAll(db, sql: """
                SELECT digest FROM blobs WHERE digest IN (SELECT value FROM json_each(?))
                UNION SELECT digest FROM blob_claims WHERE digest IN (SELECT value FROM json_each(?))
                """, arguments: [list, list])
        }.compactMap { try? Digest(parsing: $0) })
    }

    public func dropClaims(before cutoff: Int64) async throws -> Int {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM blob_claims WHERE claimed_at < ?", arguments: [cutoff])
            return db.changesCount
        }
    }
}
