import BerthCore
import Foundation
import PostgresNIO

extension PostgresMetadataStore: BlobIndex {
    public func blobSize(_ digest: Digest, in repository: RepositoryName) async throws -> Int64? {
        let statement = PostgresStatements.BlobSize(repository: repository.value, digest: digest.description)
        guard let cache = blobCache else { return try await first(statement) }
        let key = BlobSizeCache.key(statement.repository, statement.digest)
        if let size = cache.size(key) { return size }
        let ticket = cache.ticket()
        let size = try await first(statement)
        if let size, let ticket { cache.store(key, size, ticket) }
        return size
    }

    public func addBlob(_ digest: Digest, size: Int64, to repository: RepositoryName,
                        completing upload: UploadID?, claim: String?, by caller: String) async throws {
        try await transaction { connection in
            let now = Self.now()
            if let upload {
                try await connection.query("DELETE FROM uploads WHERE id = \(upload.value)", logger: self.logger)
            }
            // Ordered with claims and condemnations of this digest (they take the same lock): a collector either
            // condemned before, and this sees it, or sees this link once it is committed.
            try await self.lockDigest(connection, digest)
            if let claim {
                let held = try await connection.rows("""
                    DELETE FROM blob_claims WHERE digest = \(digest.description) AND claim = \(claim) RETURNING 1
                    """, self.logger)
                // Without its claim, a collector may have condemned and deleted the bytes the writer relied on
                // (it drops claims an hour old as dead writers'): linking them would acknowledge nothing.
                if held.isEmpty { throw WriteConflict.claimLost(digest) }
            }
            let condemned = try await connection.rows("SELECT condemned FROM blobs WHERE digest = \(digest.description)",
                                                      self.logger).first?.decode(Bool.self) ?? false
            if condemned { throw WriteConflict.claimLost(digest) }
            try await Self.ensureRepository(connection, repository.value, self.logger)
            // Another instance may add the same blob at the same time: the conflict is the expected outcome.
            try await connection.query("""
                INSERT INTO blobs (digest, size, created_at) VALUES (\(digest.description), \(size), \(now))
                ON CONFLICT (digest) DO NOTHING
                """, logger: self.logger)
            try await self.link(connection, digest, repository, by: caller, at: now)
        }
    }

    /// Links are stamped by the database's clock, which garbage collection's fence also reads: instances'
    /// clocks may differ.
    func link(_ connection: PostgresConnection, _ digest: Digest, _ repository: RepositoryName,
              by caller: String, at now: Int64) async throws {
        try await connection.query("""
            INSERT INTO repository_blobs (repository, digest, linked_at, linked_by)
            VALUES (\(repository.value), \(digest.description), \(unescaped: Self.databaseClock), \(caller))
            ON CONFLICT (repository, digest) DO UPDATE SET linked_at = excluded.linked_at
            """, logger: logger)
    }

    static let databaseClock = "(extract(epoch from clock_timestamp()) * 1000)::bigint"

    public func mountBlob(_ digest: Digest, from source: RepositoryName, to repository: RepositoryName,
                          by caller: String) async throws -> Bool {
        try await transaction { connection in
            // FOR SHARE: a concurrent removeBlob from the source waits until the mount is committed.
            let visible = try await connection.rows("""
                SELECT 1 FROM repository_blobs WHERE repository = \(source.value) AND digest = \(digest.description)
                FOR SHARE
                """, self.logger)
            guard !visible.isEmpty else { return false }
            // FOR SHARE: a collector condemning the blob waits until this link is committed, then sees it.
            let condemned = try await connection.rows("""
                SELECT condemned FROM blobs WHERE digest = \(digest.description) FOR SHARE
                """, self.logger).first?.decode(Bool.self) ?? true
            guard !condemned else { return false }
            try await Self.ensureRepository(connection, repository.value, self.logger)
            try await self.link(connection, digest, repository, by: caller, at: Self.now())
            return true
        }
    }

    public func repositories(holding digest: Digest, limit: Int) async throws -> [RepositoryName] {
        try await query("""
            SELECT repository FROM repository_blobs WHERE digest = \(digest.description) ORDER BY repository LIMIT \(limit)
            """).compactMap { try? RepositoryName(validating: try $0.decode(String.self)) }
    }

    public func removeBlob(_ digest: Digest, from repository: RepositoryName) async throws -> Bool {
        let removed = try await transaction { connection in
            let rows = try await connection.rows("""
                DELETE FROM repository_blobs WHERE repository = \(repository.value) AND digest = \(digest.description)
                RETURNING 1
                """, self.logger)
            if !rows.isEmpty { try await self.announceRemoval(connection, repository.value, digest.description) }
            return !rows.isEmpty
        }
        if removed { try await awaitRemoval() }
        return removed
    }
}
