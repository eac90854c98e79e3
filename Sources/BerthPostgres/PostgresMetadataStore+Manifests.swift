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

    /// Each manifest's row is locked `FOR UPDATE` before its tags are read: a tag push holds that row
    /// `FOR SHARE` from before it writes the tag until it commits (putManifest), so the tags read here are all
    /// the tags there are, and none can be added before this commits (the push then finds the row gone and
    /// writes the manifest again). Reading the tags first, as this did, let a push tag the manifest between
    /// the check and the delete, and the delete took its immutable tag along.
    public func deleteManifests(_ deletions: [ManifestDeletion], in repository: RepositoryName,
                                protected: @escaping @Sendable (String) -> Bool) async throws -> [Digest] {
        let repository = repository.value
        let wanted = Dictionary(deletions.map { ($0.digest.description, $0) }, uniquingKeysWith: { first, _ in first })
        // Sorted: concurrent deletes lock rows in one order.
        let keys = wanted.keys.sorted()
        guard !keys.isEmpty else { return [] }
        return try await transaction { connection in
            let present = try await connection.rows("""
                SELECT digest FROM manifests WHERE repository = \(repository) AND digest = ANY(\(keys))
                ORDER BY digest FOR UPDATE
                """, self.logger).map { try $0.decode(String.self) }
            guard !present.isEmpty else { return [] }
            var tags: [String: Set<String>] = [:]
            for row in try await connection.rows("""
                SELECT manifest, name FROM tags WHERE repository = \(repository) AND manifest = ANY(\(present))
                ORDER BY manifest, name FOR UPDATE
                """, self.logger) {
                let (manifest, name) = try row.decode((String, String).self)
                tags[manifest, default: []].insert(name)
            }
            for key in present {
                let found = tags[key] ?? []
                if let tag = found.sorted().first(where: protected) { throw StorageError.protectedTag(tag) }
                if let deletion = wanted[key], !deletion.expects(found) { throw WriteConflict.tagsChanged(deletion.digest) }
            }
            try await connection.query("DELETE FROM manifests WHERE repository = \(repository) AND digest = ANY(\(present))",
                                       logger: self.logger)
            let removed = try await connection.rows("""
                DELETE FROM tags WHERE repository = \(repository) AND manifest = ANY(\(present)) RETURNING 1
                """, self.logger)
            // Only the tags checked above: the row locks leave no other (this guards that reasoning).
            guard removed.count == tags.values.reduce(0, { $0 + $1.count }) else {
                throw WriteConflict.tagsChanged(wanted[present[0]]!.digest)
            }
            try await connection.query("""
                DELETE FROM manifest_references WHERE repository = \(repository) AND manifest = ANY(\(present))
                """, logger: self.logger)
            return present.compactMap { wanted[$0]?.digest }
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
