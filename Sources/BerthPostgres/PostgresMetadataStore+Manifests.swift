import BerthCore
import Foundation
import PostgresNIO

extension PostgresMetadataStore: ManifestIndex {
    /// The reference check and the writes share one READ COMMITTED transaction, and the check reads the
    /// referenced rows `FOR SHARE`: a concurrent removeBlob or deleteManifest of one of them either committed
    /// before (the row is gone: missing reference) or waits until this commits. Row locks were chosen over
    /// SERIALIZABLE so that concurrent pushes do not abort each other on overlapping reads; only a deadlock
    /// (rare: rows are locked in sorted order) is retried, by `transaction`.
    public func putManifest(_ manifest: ManifestRecord, tags: [String], protected: @escaping @Sendable (String) -> Bool) async throws {
        let annotations = try manifest.annotations.map { String(decoding: try Self.sortedJSON.encode($0), as: UTF8.self) }
        let repository = manifest.repository.value, digest = manifest.digest.description
        // Sorted so that concurrent pushes lock rows in one order (no deadlocks between them).
        let references = Array(Set((manifest.blobs + manifest.children).map(\.description))).sorted()
        let tagNames = Array(Set(tags)).sorted()
        let pushedAt = Self.millis(manifest.pushedAt)
        let guarded = tagNames.filter(protected)
        try await transaction { connection in
            let missingBlobs = try await Self.missing(manifest.blobs, connection, self.logger) { list in """
                SELECT digest FROM repository_blobs WHERE repository = \(repository) AND digest = ANY(\(list))
                ORDER BY digest FOR SHARE
                """ }
            let missingManifests = try await Self.missing(manifest.children, connection, self.logger) { list in """
                SELECT digest FROM manifests WHERE repository = \(repository) AND digest = ANY(\(list))
                ORDER BY digest FOR SHARE
                """ }
            if !missingBlobs.isEmpty || !missingManifests.isEmpty {
                throw StorageError.missingReferences(blobs: missingBlobs, manifests: missingManifests)
            }
            try await Self.ensureRepository(connection, repository, self.logger)
            // A collector may hold (and be deleting) an existing row of this manifest: lock it, and when it
            // went meanwhile, insert it again, so the tags and references below never point at nothing.
            for _ in 0..<2 {
                try await self.insertManifest(connection, manifest, annotations, pushedAt)
                let held = try await connection.rows("""
                    SELECT 1 FROM manifests WHERE repository = \(repository) AND digest = \(digest) FOR SHARE
                    """, self.logger)
                if !held.isEmpty { break }
            }
            if !references.isEmpty {
                try await connection.query("""
                    INSERT INTO manifest_references (repository, manifest, reference)
                    SELECT \(repository), \(digest), r FROM unnest(\(references)::text[]) AS r
                    ON CONFLICT (repository, manifest, reference) DO NOTHING
                    """, logger: self.logger)
            }
            for tag in tagNames {
                if guarded.contains(tag) {
                    // Insert-if-absent, then read: a concurrent push of another manifest to the same new tag
                    // makes this insert wait for its commit and then do nothing, so the read sees its row.
                    try await connection.query("""
                        INSERT INTO tags (repository, name, manifest, updated_at, updated_by)
                        VALUES (\(repository), \(tag), \(digest), \(pushedAt), \(manifest.pushedBy))
                        ON CONFLICT (repository, name) DO NOTHING
                        """, logger: self.logger)
                    let current = try await connection.rows("""
                        SELECT manifest FROM tags WHERE repository = \(repository) AND name = \(tag)
                        """, self.logger).first?.decode(String.self)
                    if current != digest { throw StorageError.protectedTag(tag) }
                    continue
                }
                try await connection.query("""
                    INSERT INTO tags (repository, name, manifest, updated_at, updated_by)
                    VALUES (\(repository), \(tag), \(digest), \(pushedAt), \(manifest.pushedBy))
                    ON CONFLICT (repository, name) DO UPDATE SET manifest = excluded.manifest,
                        updated_at = excluded.updated_at, updated_by = excluded.updated_by
                    """, logger: self.logger)
            }
        }
    }

    func insertManifest(_ connection: PostgresConnection, _ manifest: ManifestRecord, _ annotations: String?,
                        _ pushedAt: Int64) async throws {
        try await connection.query(try """
            INSERT INTO manifests (repository, digest, media_type, size, content, artifact_type, subject, annotations,
                                   pushed_at, pushed_by)
            VALUES (\(manifest.repository.value), \(manifest.digest.description), \(manifest.mediaType),
                    \(manifest.content.count), \(manifest.content), \(manifest.artifactType),
                    \(manifest.subject?.description), \(annotations), \(pushedAt), \(manifest.pushedBy))
            ON CONFLICT (repository, digest) DO NOTHING
            """, logger: logger)
    }

    /// The digests among `digests` that `sql` (given them as one text array) does not return.
    static func missing(_ digests: [Digest], _ connection: PostgresConnection, _ logger: Logger,
                        _ sql: ([String]) -> PostgresQuery) async throws -> [Digest] {
        guard !digests.isEmpty else { return [] }
        let found = Set(try await connection.rows(sql(digests.map(\.description)), logger).map { try $0.decode(String.self) })
        return digests.filter { !found.contains($0.description) }
    }

    public func manifest(_ reference: ManifestReference, in repository: RepositoryName) async throws -> ManifestRecord? {
        let columns: PostgresStatements.ManifestColumns?
        switch reference {
        case .digest(let digest):
            columns = try await first(PostgresStatements.ManifestByDigest(repository: repository.value, digest: digest.description))
        case .tag(let tag):
            columns = try await first(PostgresStatements.ManifestByTag(repository: repository.value, tag: tag))
        }
        guard let (digest, mediaType, buffer, artifactType, subject, pushedAt, pushedBy) = columns else { return nil }
        let content = Data(buffer: buffer)
        return ManifestRecord(
            repository: repository, digest: try Digest(parsing: digest), mediaType: mediaType, content: content,
            artifactType: artifactType, subject: try subject.map { s throws(RegistryError) in try Digest(parsing: s) },
            annotations: nil, blobs: [], children: [], pushedAt: Self.date(pushedAt), pushedBy: pushedBy ?? "anonymous")
    }

    public func deleteManifest(_ digest: Digest, in repository: RepositoryName,
                               protected: @escaping @Sendable (String) -> Bool) async throws -> Bool {
        let repository = repository.value, digest = digest.description
        return try await transaction { connection in
            let tags = try await connection.rows("""
                SELECT name FROM tags WHERE repository = \(repository) AND manifest = \(digest) ORDER BY name FOR UPDATE
                """, self.logger).map { try $0.decode(String.self) }
            if let tag = tags.first(where: protected) { throw StorageError.protectedTag(tag) }
            let deleted = try await connection.rows("""
                DELETE FROM manifests WHERE repository = \(repository) AND digest = \(digest) RETURNING 1
                """, self.logger)
            guard !deleted.isEmpty else { return false }
            try await connection.query("DELETE FROM tags WHERE repository = \(repository) AND manifest = \(digest)",
                                       logger: self.logger)
            try await connection.query("""
                DELETE FROM manifest_references WHERE repository = \(repository) AND manifest = \(digest)
                """, logger: self.logger)
            return true
        }
    }

    public func deleteTag(_ tag: String, in repository: RepositoryName) async throws -> Bool {
        try await !query("DELETE FROM tags WHERE repository = \(repository.value) AND name = \(tag) RETURNING 1").isEmpty
    }

    public func tags(in repository: RepositoryName, after last: String?, limit: Int) async throws -> [String]? {
        // One statement: NULL when the repository is unknown, else its tags (possibly none) in byte order.
        let row = try await query("""
            SELECT (SELECT array_agg(name ORDER BY name) FROM (
                        SELECT name FROM tags WHERE repository = r.name AND name > \(last ?? "") ORDER BY name LIMIT \(limit)
                    ) t)
            FROM repositories r WHERE r.name = \(repository.value)
            """).first
        guard let row else { return nil }
        return try row.decode([String]?.self) ?? []
    }

    public func repositories(after last: String?, limit: Int) async throws -> [String] {
        try await query("""
            SELECT name FROM repositories WHERE name > \(last ?? "") ORDER BY name LIMIT \(limit)
            """).map { try $0.decode(String.self) }
    }

    public func referrers(of subject: Digest, in repository: RepositoryName, artifactType: String?) async throws -> [Descriptor] {
        try await query("""
            SELECT digest, media_type, size, artifact_type, annotations FROM manifests
            WHERE repository = \(repository.value) AND subject = \(subject.description)
              AND (\(artifactType)::text IS NULL OR artifact_type = \(artifactType))
            ORDER BY digest
            """).map { row in
            let (digest, mediaType, size, artifactType, annotations) =
                try row.decode((String, String, Int64, String?, String?).self)
            return Descriptor(mediaType: mediaType, digest: digest, size: size, artifactType: artifactType,
                              annotations: annotations.flatMap {
                                  try? JSONDecoder().decode([String: String].self, from: Data($0.utf8))
                              })
        }
    }

    static var sortedJSON: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return encoder
    }
}

/// What lifecycle rules read, and pull times written in batches.
extension PostgresMetadataStore {
    public func manifestEntries(in repository: RepositoryName) async throws -> [ManifestEntry] {
        try await query("""
            SELECT m.digest, m.pushed_at, m.subject, m.last_pulled_at,
                   (SELECT array_agg(t.name ORDER BY t.name) FROM tags t WHERE t.repository = m.repository AND t.manifest = m.digest),
                   EXISTS (SELECT 1 FROM manifest_references r WHERE r.repository = m.repository AND r.reference = m.digest)
            FROM manifests m WHERE m.repository = \(repository.value) ORDER BY m.digest
            """).map { row in
            let (digest, pushedAt, subject, pulledAt, tags, listed) =
                try row.decode((String, Int64, String?, Int64?, [String]?, Bool).self)
            return ManifestEntry(digest: try Digest(parsing: digest), tags: tags ?? [], pushedAt: Self.date(pushedAt),
                                 subject: try subject.map { s throws(RegistryError) in try Digest(parsing: s) }, listed: listed,
                                 lastPulledAt: pulledAt.map(Self.date))
        }
    }

    public func recordPulls(_ pulls: [ManifestPull]) async throws {
        guard !pulls.isEmpty else { return }
        _ = try await query("""
            UPDATE manifests m SET last_pulled_at = GREATEST(COALESCE(m.last_pulled_at, 0), p.at)
            FROM unnest(\(pulls.map(\.repository.value))::text[], \(pulls.map(\.digest.description))::text[],
                        \(pulls.map { Self.millis($0.at) })::bigint[]) AS p(repository, digest, at)
            WHERE m.repository = p.repository AND m.digest = p.digest
            """)
    }
}
