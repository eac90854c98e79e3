import BerthAuth
import Foundation
import GRDB

extension SQLiteMetadataStore {
    /// One transaction; no generation bump: none of these rows is in the live access view (expired and revoked
    /// tokens are not, and the audit log never was).
    public func purge(refreshBefore: Date, tokensBefore: Date, auditBefore: Date?) async throws -> PurgeCounts {
        try await pool.write { db in
            var counts = PurgeCounts()
            try db.execute(sql: "DELETE FROM refresh_tokens WHERE expires_at < ?", arguments: [Self.millis(refreshBefore)])
            counts.refreshTokens = db.changesCount
            let cut = Self.millis(tokensBefore)
            try db.execute(sql: "DELETE FROM access_tokens WHERE expires_at < ? OR revoked_at < ?", arguments: [cut, cut])
            counts.accessTokens = db.changesCount
            if let auditBefore {
                try db.execute(sql: "DELETE FROM audit_log WHERE at < ?", arguments: [Self.millis(auditBefore)])
                counts.auditRecords = db.changesCount
            }
            return counts
        }
    }
}
