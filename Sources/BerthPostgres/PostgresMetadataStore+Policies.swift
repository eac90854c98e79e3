import BerthCore
import Foundation
import PostgresNIO

extension PostgresMetadataStore: PolicyStore {
    public func policies(_ kind: String, scopes: [String]) async throws -> [String: Data] {
        var found: [String: Data] = [:]
        for row in try await query("SELECT scope, document FROM policies WHERE kind = \(kind) AND scope = ANY(\(scopes))") {
            let (scope, document) = try row.decode((String, String).self)
            found[scope] = Data(document.utf8)
        }
        return found
    }

    public func policies(_ kind: String) async throws -> [String: Data] {
        var found: [String: Data] = [:]
        for row in try await query("SELECT scope, document FROM policies WHERE kind = \(kind)") {
            let (scope, document) = try row.decode((String, String).self)
            found[scope] = Data(document.utf8)
        }
        return found
    }

    public func setPolicy(_ kind: String, scope: String, document: Data?, by caller: String) async throws {
        if let document {
            let text = String(decoding: document, as: UTF8.self)
            _ = try await query("""
                INSERT INTO policies (kind, scope, document, updated_at, updated_by)
                VALUES (\(kind), \(scope), \(text), \(Self.millis(Date())), \(caller))
                ON CONFLICT (kind, scope) DO UPDATE SET document = excluded.document,
                    updated_at = excluded.updated_at, updated_by = excluded.updated_by
                """)
        } else {
            _ = try await query("DELETE FROM policies WHERE kind = \(kind) AND scope = \(scope)")
        }
    }
}
