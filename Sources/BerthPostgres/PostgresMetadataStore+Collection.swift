import BerthCore
import Foundation
import PostgresNIO

/// Garbage collection's decisions, each in one READ COMMITTED transaction that first locks the row it may
/// delete (`FOR UPDATE`) and only then re-checks its references: writers that rely on the row lock it
/// `FOR SHARE` (putManifest its links and child manifests and its own row, mountBlob the blob), so either
/// their commit comes first and the re-check, a later statement with a fresh snapshot, sees it, or they wait
/// and find the row gone. Claims and condemnations of one digest also take a transaction-scoped advisory
/// lock on it, which orders them even when the blob has no row yet. Claims are stamped by the database's
/// clock, as links are: `dropClaims`' cut-off is read from it, and an instance's clock may be off.
/// The listings scan whole tables and run under the maintenance limits (`Configuration.Limits`).
extension PostgresMetadataStore: GarbageIndex {
    public func clock() async throws -> Int64 {
        try await query("SELECT \(unescaped: Self.databaseClock)").first?.decode(Int64.self) ?? Self.now()
    }

    func lockDigest(_ connection: PostgresConnection, _ digest: Digest) async throws {
        let name = "berth-blob/" + digest.description
        try await connection.query("SELECT pg_advisory_xact_lock(\(unescaped: Self.lockKeySQL)) FROM (SELECT \(name)::text AS name) k",
                                   logger: logger)
    }

    public func claimBlob(_ digest: Digest, claim: String) async throws -> Bool {
        try await transaction { connection in
            try await self.lockDigest(connection, digest)
            let condemned = try await connection.rows("SELECT condemned FROM blobs WHERE digest = \(digest.description)",
                                                      self.logger).first?.decode(Bool.self) ?? false
            if condemned { return false }
            try await connection.query("""
                INSERT INTO blob_claims (digest, claim, claimed_at)
                VALUES (\(digest.description), \(claim), \(unescaped: Self.databaseClock))
                ON CONFLICT (digest, claim) DO UPDATE SET claimed_at = excluded.claimed_at
                """, logger: self.logger)
            return true
        }
    }

    public func releaseClaim(_ digest: Digest, claim: String) async throws {
        try await query("DELETE FROM blob_claims WHERE digest = \(digest.description) AND claim = \(claim)")
    }

    public func collectableRepositories() async throws -> [RepositoryName] {
        try await maintenance { try await $0.rows("SELECT name FROM repositories ORDER BY name", self.logger) }
            .compactMap { try? RepositoryName(validating: try $0.decode(String.self)) }
    }

    /// Untagged, unlisted manifests whose subject is absent (`m` is the manifest).
    static let unreferencedManifest = """
        NOT EXISTS (SELECT 1 FROM tags t WHERE t.repository = m.repository AND t.manifest = m.digest)
        AND NOT EXISTS (SELECT 1 FROM manifest_references r WHERE r.repository = m.repository AND r.reference = m.digest)
        AND (m.subject IS NULL OR NOT EXISTS (SELECT 1 FROM manifests s WHERE s.repository = m.repository AND s.digest = m.subject))
        """

    public func unreferencedManifests(in repository: RepositoryName, before cutoff: Int64) async throws -> [Digest] {
        try await maintenance { try await $0.rows("""
            SELECT m.digest FROM manifests m WHERE m.repository = \(repository.value) AND m.pushed_at < \(cutoff)
            AND \(unescaped: Self.unreferencedManifest) ORDER BY m.digest
            """, self.logger) }.compactMap { try? Digest(parsing: try $0.decode(String.self)) }
    }

    public func collectManifest(_ digest: Digest, in repository: RepositoryName, before cutoff: Int64) async throws -> Bool {
        let name = repository.value, key = digest.description
        return try await transaction { connection in
            let locked = try await connection.rows("""
                SELECT 1 FROM manifests WHERE repository = \(name) AND digest = \(key) AND pushed_at < \(cutoff) FOR UPDATE
                """, self.logger)
            guard !locked.isEmpty else { return false }
            let still = try await connection.rows("""
                SELECT 1 FROM manifests m WHERE m.repository = \(name) AND m.digest = \(key) AND \(unescaped: Self.unreferencedManifest)
                """, self.logger)
            guard !still.isEmpty else { return false }
            try await connection.query("DELETE FROM manifests WHERE repository = \(name) AND digest = \(key)", logger: self.logger)
            try await connection.query("DELETE FROM manifest_references WHERE repository = \(name) AND manifest = \(key)",
                                       logger: self.logger)
            return true
        }
    }

    public func unreferencedLinks(in repository: RepositoryName, before cutoff: Int64) async throws -> [Digest] {
        try await maintenance { try await $0.rows("""
            SELECT l.digest FROM repository_blobs l WHERE l.repository = \(repository.value) AND l.linked_at < \(cutoff)
            AND NOT EXISTS (SELECT 1 FROM manifest_references r WHERE r.repository = l.repository AND r.reference = l.digest)
            ORDER BY l.digest
            """, self.logger) }.compactMap { try? Digest(parsing: try $0.decode(String.self)) }
    }

    public func collectLink(_ digest: Digest, in repository: RepositoryName, before cutoff: Int64) async throws -> Bool {
        let name = repository.value, key = digest.description
        let removed = try await transaction { connection in
            let locked = try await connection.rows("""
                SELECT 1 FROM repository_blobs WHERE repository = \(name) AND digest = \(key) AND linked_at < \(cutoff) FOR UPDATE
                """, self.logger)
            guard !locked.isEmpty else { return false }
            let referenced = try await connection.rows("""
                SELECT 1 FROM manifest_references WHERE repository = \(name) AND reference = \(key) LIMIT 1
                """, self.logger)
            guard referenced.isEmpty else { return false }
            try await connection.query("DELETE FROM repository_blobs WHERE repository = \(name) AND digest = \(key)", logger: self.logger)
            try await self.announceRemoval(connection, name, key)
            return true
        }
        // No client waits for this answer: the instances' caches are awaited once for the whole batch, before
        // the first blob is condemned (settleRemovals), not once per link.
        if removed { unsettledRemovals.withLock { $0 = true } }
        return removed
    }

    static let unlinked = """
        NOT EXISTS (SELECT 1 FROM repository_blobs l WHERE l.digest = b.digest)
        AND NOT EXISTS (SELECT 1 FROM manifest_references r WHERE r.reference = b.digest)
        """

    public func unlinkedBlobs(after: Digest?, limit: Int) async throws -> [(digest: Digest, size: Int64)] {
        try await settleRemovals()
        let start = after?.description ?? ""
        return try await maintenance { try await $0.rows("""
            SELECT b.digest, b.size FROM blobs b WHERE b.digest > \(start) AND (b.condemned OR (\(unescaped: Self.unlinked)))
            ORDER BY b.digest LIMIT \(limit)
            """, self.logger) }.compactMap { row in
                let (digest, size) = try row.decode((String, Int64).self)
                return (try? Digest(parsing: digest)).map { ($0, size) }
            }
    }

    public func condemnBlob(_ digest: Digest) async throws -> Int64? {
        try await settleRemovals()
        let key = digest.description
        return try await transaction { connection in
            try await self.lockDigest(connection, digest)
            let claimed = try await !connection.rows("SELECT 1 FROM blob_claims WHERE digest = \(key) LIMIT 1", self.logger).isEmpty
            guard let row = try await connection.rows("""
                SELECT size, condemned FROM blobs WHERE digest = \(key) FOR UPDATE
                """, self.logger).first else {
                // Bytes without a row: a writer that died between storing and recording them, unless one holds a claim.
                if claimed { return nil }
                try await connection.query("""
                    INSERT INTO blobs (digest, size, created_at, condemned) VALUES (\(key), 0, \(Self.now()), true)
                    """, logger: self.logger)
                return 0
            }
            let (size, condemned) = try row.decode((Int64, Bool).self)
            if condemned { return size }
            guard !claimed else { return nil }
            let unlinked = try await connection.rows("SELECT 1 FROM blobs b WHERE b.digest = \(key) AND \(unescaped: Self.unlinked)",
                                                     self.logger)
            guard !unlinked.isEmpty else { return nil }
            try await connection.query("UPDATE blobs SET condemned = true WHERE digest = \(key)", logger: self.logger)
            return size
        }
    }

    public func forgetBlob(_ digest: Digest) async throws {
        try await query("DELETE FROM blobs WHERE digest = \(digest.description) AND condemned")
    }

    public func accountedBlobs(_ digests: [Digest]) async throws -> Set<Digest> {
        guard !digests.isEmpty else { return [] }
        let list = digests.map(\.description)
        return Set(try await maintenance { try await $0.rows("""
            SELECT digest FROM blobs WHERE digest = ANY(\(list)) UNION SELECT digest FROM blob_claims WHERE digest = ANY(\(list))
            """, self.logger) }.compactMap { try? Digest(parsing: try $0.decode(String.self)) })
    }

    public func dropClaims(before cutoff: Int64) async throws -> Int {
        try await maintenance { try await $0.rows("DELETE FROM blob_claims WHERE claimed_at < \(cutoff) RETURNING 1", self.logger) }.count
    }
}
