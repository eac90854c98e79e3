import BerthCore
import Foundation
import GRDB

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
