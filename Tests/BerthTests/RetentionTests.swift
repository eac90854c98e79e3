import BerthAuth
import BerthCore
import Foundation
import Testing

/// Expired refresh tokens, long-ended access tokens and old audit records are purged; live ones stay.
@Suite struct RetentionTests {
    @Test func purgeKeepsWhatIsLiveAndDeletesWhatEnded() async throws {
        let f = try await AccessTests.Fixture.make { $0.tokenRetention = .seconds(86400); $0.auditRetention = .seconds(10 * 86400) }
        defer { f.remove() }
        let access = f.access, cli = AccessControl.commandLine
        try await access.addUser("ann", password: "ann-password", admin: false, by: cli, address: nil)
        let scope = [try TokenScope(parsing: "namespace:team:pull")]
        let live = try await access.createAccessToken(for: "ann", scopes: scope, expiresIn: .seconds(90 * 86400), by: cli, address: nil)
        let revoked = try await access.createAccessToken(for: "ann", scopes: scope, expiresIn: .seconds(90 * 86400), by: cli, address: nil)
        try await access.revokeAccessToken(revoked.record.id, by: cli, address: nil)
        let ann = try await access.authenticate(username: "ann", password: "ann-password", address: nil)
        let refresh = try #require(try await access.issueRefreshToken(for: ann, expiresIn: .seconds(3600)))
        let now = Date()
        try await f.store.appendAudit([AuditEvent(at: now.addingTimeInterval(-20 * 86400), actor: "old", action: "x", target: "y", address: nil),
                                       AuditEvent(at: now, actor: "new", action: "x", target: "y", address: nil)])
        // Now: nothing has ended long enough ago, but the old audit record goes.
        #expect(try await access.purge(now: now) == PurgeCounts(auditRecords: 1))
        #expect(try await access.redeemRefreshToken(refresh, address: nil).user == "ann")
        // Two days on: the revoked token (ended > 1 day before) and the expired refresh token go; the live one stays.
        #expect(try await access.purge(now: now.addingTimeInterval(2 * 86400)) == PurgeCounts(refreshTokens: 1, accessTokens: 1))
        #expect(try await f.store.accessTokens(of: "ann").map(\.id) == [live.record.id])
        #expect(try await f.store.auditEvents(limit: 10, before: nil).contains { $0.actor == "new" })
    }
}
