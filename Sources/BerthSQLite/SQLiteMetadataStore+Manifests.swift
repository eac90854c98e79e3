import BerthCore
import Foundation
import GRDB

extension SQLiteMetadataStore: ManifestIndex {
    public func putManifest(_ manifest: ManifestRecord, tags: [String], protected: @escaping @Sendable (String) -> Bool) async throws {
        let annotations = try manifest.annotations.map { try String(decoding: JSONEncoder.sorted.encode($0), as: UTF8.self) }
        let guarded = tags.filter(protected)
        try await pool.write { db in
            let repository = manifest.repository.value, digest = manifest.digest.description
            for tag in guarded {
                let current = try String.fetchOne(db.cachedStatement(sql: "SELECT manifest FROM tags WHERE repository = ? AND name = ?"),
                                                  arguments: [repository, tag])
                if let current, current != digest { throw StorageError.protectedTag(tag) }
            }
            let missingBlobs = try Self.missing(manifest.blobs, in: db, sql: """
                SELECT digest FROM repository_blobs WHERE repository = ? AND digest IN (SELECT value FROM json_each(?))
                """, repository)
            let missingManifests = try Self.missing(manifest.children, in: db, sql: """
                SELECT digest FROM manifests WHERE repository = ? AND digest IN (SELECT value FROM json_each(?))
                """, repository)
            if !missingBlobs.isEmpty || !missingManifests.isEmpty {
                throw StorageError.missingReferences(blobs: missingBlobs, manifests: missingManifests)
            }
            let pushedAt = Int64(manifest.pushedAt.timeIntervalSince1970 * 1000)
            try Self.ensureRepository(db, repository)
            try db.execute(sql: """
                INSERT INTO manifests (repository, digest, media_type, size, content, artifact_type, subject, annotations,
                                       pushed_at, pushed_by)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (repository, digest) DO NOTHING
                """, arguments: [repository, digest, manifest.mediaType, manifest.content.count, manifest.content,
                                 manifest.artifactType, manifest.subject?.description, annotations, pushedAt,
                                 manifest.pushedBy])
            // `WHERE true` lets SQLite parse the upsert clause after a SELECT.
            try db.execute(sql: """
                INSERT INTO manifest_references (repository, manifest, reference)
                SELECT ?, ?, value FROM json_each(?) WHERE true
                ON CONFLICT (repository, manifest, reference) DO NOTHING
                """, arguments: [repository, digest, Self.jsonArray(manifest.blobs + manifest.children)])
            for tag in tags {
                try db.execute(sql: """
                    INSERT INTO tags (repository, name, manifest, updated_at, updated_by) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (repository, name) DO UPDATE SET manifest = excluded.manifest,
                        updated_at = excluded.updated_at, updated_by = excluded.updated_by
                    """, arguments: [repository, tag, digest, pushedAt, manifest.pushedBy])
            }
        }
    }

    public func manifest(_ reference: ManifestReference, in repository: RepositoryName) async throws -> ManifestRecord? {
        let row = try read { db -> Row? in
            switch reference {
            case .digest(let digest):
                return try Row.fetchOne(db.cachedStatement(sql: """
                    SELECT digest, media_type, content, artifact_type, subject, pushed_at, pushed_by FROM manifests
                    WHERE repository = ? AND digest = ?
                    """), arguments: [repository.value, digest.description])
            case .tag(let tag):
                return try Row.fetchOne(db.cachedStatement(sql: """
                    SELECT m.digest, m.media_type, m.content, m.artifact_type, m.subject, m.pushed_at, m.pushed_by
                    FROM tags t JOIN manifests m ON m.repository = t.repository AND m.digest = t.manifest
                    WHERE t.repository = ? AND t.name = ?
                    """), arguments: [repository.value, tag])
            }
        }
        guard let row else { return nil }
        let subject: String? = row["subject"]
        return ManifestRecord(
            repository: repository, digest: try Digest(parsing: row["digest"] as String),
            mediaType: row["media_type"], content: row["content"], artifactType: row["artifact_type"],
            subject: try subject.map { s throws(RegistryError) in try Digest(parsing: s) }, annotations: nil,
            blobs: [], children: [], pushedAt: Date(timeIntervalSince1970: Double(row["pushed_at"] as Int64) / 1000),
            pushedBy: row["pushed_by"] ?? "anonymous")
    }

    /// One write transaction: no push can tag a manifest between the check of its tags and its deletion.
    public func deleteManifests(_ deletions: [ManifestDeletion], in repository: RepositoryName,
                                protected: @escaping @Sendable (String) -> Bool) async throws -> [Digest] {
        try await pool.write { db in
            var deleted: [Digest] = []
            for deletion in deletions where !deleted.contains(deletion.digest) {
                let arguments: StatementArguments = [repository.value, deletion.digest.description]
                guard try Bool.fetchOne(db, sql: "SELECT 1 FROM manifests WHERE repository = ? AND digest = ?",
                                        arguments: arguments) ?? false else { continue }
                let tags = try String.fetchAll(db, sql: "SELECT name FROM tags WHERE repository = ? AND manifest = ? ORDER BY name",
                                               arguments: arguments)
                if let tag = tags.first(where: protected) { throw StorageError.protectedTag(tag) }
                if !deletion.expects(Set(tags)) { throw WriteConflict.tagsChanged(deletion.digest) }
                try db.execute(sql: "DELETE FROM manifests WHERE repository = ? AND digest = ?", arguments: arguments)
                try db.execute(sql: "DELETE FROM tags WHERE repository = ? AND manifest = ?", arguments: arguments)
                try db.execute(sql: "DELETE FROM manifest_references WHERE repository = ? AND manifest = ?", arguments: arguments)
                deleted.append(deletion.digest)
            }
            return deleted
        }
    }

    public func deleteTag(_ tag: String, in repository: RepositoryName) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM tags WHERE repository = ? AND name = ?", arguments: [repository.value, tag])
            return db.changesCount > 0
        }
    }

    public func tags(in repository: RepositoryName, after last: String?, limit: Int) async throws -> [String]? {
        try read { db in
            guard try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM repositories WHERE name = ?"), arguments: [repository.value]) ?? false
            else { return nil }
            return try String.fetchAll(db.cachedStatement(sql: """
                SELECT name FROM tags WHERE repository = ? AND name > ? ORDER BY name LIMIT ?
                """), arguments: [repository.value, last ?? "", limit])
        }
    }

    public func repositories(after last: String?, limit: Int) async throws -> [String] {
        try read { db in
            try String.fetchAll(db.cachedStatement(sql: "SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?"),
                                arguments: [last ?? "", limit])
        }
    }

    public func referrers(of subject: Digest, in repository: RepositoryName, artifactType: String?) async throws -> [Descriptor] {
        let rows = try read { db in
            var sql = """
                SELECT digest, media_type, size, artifact_type, annotations FROM manifests
                WHERE repository = ? AND subject = ?
                """
            var arguments: StatementArguments = [repository.value, subject.description]
            if let artifactType {
                sql += " AND artifact_type = ?"
                arguments += [artifactType]
            }
            return try Row.fetchAll(db.cachedStatement(sql: sql + " ORDER BY digest"), arguments: arguments)
        }
        return rows.map { row in
            let annotations = (row["annotations"] as String?).flatMap {
                try? JSONDecoder().decode([String: String].self, from: Data($0.utf8))
            }
            return Descriptor(mediaType: row["media_type"], digest: row["digest"], size: row["size"],
                              artifactType: row["artifact_type"], annotations: annotations)
        }
    }
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return encoder
    }
}

/// What lifecycle rules read, and pull times written in batches.
extension SQLiteMetadataStore {
    public func manifestEntries(in repository: RepositoryName) async throws -> [ManifestEntry] {
        try read { db in
            try Row.fetchAll(db, sql: """
                SELECT m.digest, m.pushed_at, m.subject, m.last_pulled_at,
                       (SELECT group_concat(t.name, ' ') FROM tags t WHERE t.repository = m.repository AND t.manifest = m.digest) AS tags,
                       EXISTS (SELECT 1 FROM manifest_references r WHERE r.repository = m.repository AND r.reference = m.digest) AS listed
                FROM manifests m WHERE m.repository = ? ORDER BY m.digest
                """, arguments: [repository.value]).map { row in
                ManifestEntry(digest: try Digest(parsing: row["digest"] as String),
                              tags: Self.tagList(row["tags"]),
                              pushedAt: Self.date(row["pushed_at"]),
                              subject: try (row["subject"] as String?).map { s throws(RegistryError) in try Digest(parsing: s) },
                              listed: row["listed"], lastPulledAt: (row["last_pulled_at"] as Int64?).map(Self.date))
            }
        }
    }

    public func recordPulls(_ pulls: [ManifestPull]) async throws {
        guard !pulls.isEmpty else { return }
        try await pool.write { db in
            for pull in pulls {
                try db.execute(sql: """
                    UPDATE manifests SET last_pulled_at = max(coalesce(last_pulled_at, 0), ?) WHERE repository = ? AND digest = ?
                    """, arguments: [Self.millis(pull.at), pull.repository.value, pull.digest.description])
            }
        }
    }
}
