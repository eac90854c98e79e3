import BerthCore
import Foundation
import PostgresNIO

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
