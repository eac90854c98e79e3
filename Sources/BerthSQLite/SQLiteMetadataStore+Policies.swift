import BerthCore
import Foundation
import GRDB

extension SQLiteMetadataStore {
    public func manifestEntries(in repository: RepositoryName) async throws -> [ManifestEntry] {
        // Tags never contain spaces, so one space-separated list per manifest carries them.
        try read { db in
            try Row.fetchAll(db, sql: """
                SELECT m.digest, m.pushed_at, m.subject, m.last_pulled_at,
                       (SELECT group_concat(t.name, ' ') FROM tags t WHERE t.repository = m.repository AND t.manifest = m.digest) AS tags,
                       EXISTS (SELECT 1 FROM manifest_references r WHERE r.repository = m.repository AND r.reference = m.digest) AS listed
                FROM manifests m WHERE m.repository = ? ORDER BY m.digest
                """, arguments: [repository.value]).map { row in
                ManifestEntry(digest: try Digest(parsing: row["digest"] as String),
                              tags: (row["tags"] as String?).map { $0.split(separator: " ").map(String.init).sorted() } ?? [],
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

extension SQLiteMetadataStore: PolicyStore {
    public func policies(_ kind: String, scopes: [String]) async throws -> [String: Data] {
        let scopesJSON = String(decoding: try JSONEncoder().encode(scopes), as: UTF8.self)
        return try read { db in
            var found: [String: Data] = [:]
            for row in try Row.fetchAll(db.cachedStatement(sql: """
                SELECT scope, document FROM policies WHERE kind = ? AND scope IN (SELECT value FROM json_each(?))
                """), arguments: [kind, scopesJSON]) {
                found[row["scope"]] = Data((row["document"] as String).utf8)
            }
            return found
        }
    }

    public func policies(_ kind: String) async throws -> [String: Data] {
        try read { db in
            var found: [String: Data] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT scope, document FROM policies WHERE kind = ?", arguments: [kind]) {
                found[row["scope"]] = Data((row["document"] as String).utf8)
            }
            return found
        }
    }

    public func setPolicy(_ kind: String, scope: String, document: Data?, by caller: String) async throws {
        try await pool.write { db in
            if let document {
                try db.execute(sql: """
                    INSERT INTO policies (kind, scope, document, updated_at, updated_by) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (kind, scope) DO UPDATE SET document = excluded.document,
                        updated_at = excluded.updated_at, updated_by = excluded.updated_by
                    """, arguments: [kind, scope, String(decoding: document, as: UTF8.self), Self.now(), caller])
            } else {
                try db.execute(sql: "DELETE FROM policies WHERE kind = ? AND scope = ?", arguments: [kind, scope])
            }
        }
    }
}
