import BerthAuth
import Foundation
import PostgresNIO

extension PostgresMetadataStore {
    /// One transaction; no generation bump: none of these rows is in the live access view (expired and revoked
    /// tokens are not, and the audit log never was).
    public func purge(refreshBefore: Date, tokensBefore: Date, auditBefore: Date?) async throws -> PurgeCounts {
        let refreshCut = Self.millis(refreshBefore), tokenCut = Self.millis(tokensBefore)
        let auditCut = auditBefore.map(Self.millis)
        return try await transaction { connection in
            func count(_ query: PostgresQuery) async throws -> Int {
                try await connection.query(query, logger: self.logger).collect().first?.decode(Int.self) ?? 0
            }
            var counts = PurgeCounts()
            counts.refreshTokens = try await count("""
                WITH d AS (DELETE FROM refresh_tokens WHERE expires_at < \(refreshCut) RETURNING 1) SELECT count(*)::bigint FROM d
                """)
            counts.accessTokens = try await count("""
                WITH d AS (DELETE FROM access_tokens WHERE expires_at < \(tokenCut) OR revoked_at < \(tokenCut) RETURNING 1)
                SELECT count(*)::bigint FROM d
                """)
            if let auditCut {
                counts.auditRecords = try await count("""
                    WITH d AS (DELETE FROM audit_log WHERE at < \(auditCut) RETURNING 1) SELECT count(*)::bigint FROM d
                    """)
            }
            return counts
        }
    }
}
