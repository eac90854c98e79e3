import BerthCore
import Foundation

/// Reading what `AccessData` leaves out, to copy an access store elsewhere.
public protocol AccessExport: Sendable {
    /// Refresh tokens not yet expired (Docker keeps one per registry it logged in to).
    func liveRefreshTokens() async throws -> [RefreshTokenRecord]
}

/// Copies users, namespaces, roles, live access and refresh tokens, and the audit log into another store
/// (`berth migrate-storage`). Idempotent: what the target holds already is left or brought in line with the
/// source, so a second run after a first (interrupted or not) copies only what changed.
public enum AccessMigration {
    public struct Summary: Sendable {
        public var users = 0
        public var namespaces = 0
        public var roles = 0
        public var accessTokens = 0
        public var refreshTokens = 0
        public var auditEvents = 0
        /// True when the target's audit log held records already, so the source's were not copied.
        public var auditSkipped = false
    }

    public static func copy(from source: any AccessStore & AccessExport, to target: any AccessStore) async throws -> Summary {
        var summary = Summary()
        let from = try await source.loadAccess()
        var to = try await target.loadAccess()
        for user in from.users.values.sorted(by: { $0.name < $1.name }) {
            if let existing = to.users[user.name] {
                if existing.passwordHash != user.passwordHash { _ = try await target.setPassword(user.name, hash: user.passwordHash) }
            } else {
                _ = try await target.addUser(user)
            }
            summary.users += 1
        }
        for (name, visibility) in from.namespaces.sorted(by: { $0.key < $1.key }) {
            if let existing = to.namespaces[name] {
                if existing != visibility { _ = try await target.setVisibility(name, visibility) }
            } else {
                _ = try await target.addNamespace(name, visibility: visibility)
            }
            summary.namespaces += 1
        }
        for (namespace, members) in from.members.sorted(by: { $0.key < $1.key }) {
            for (user, role) in members.sorted(by: { $0.key < $1.key }) {
                if to.members[namespace]?[user] != role { _ = try await target.setRole(role, of: user, in: namespace) }
                summary.roles += 1
            }
        }
        to = try await target.loadAccess()
        for token in from.tokens.values.sorted(by: { $0.id < $1.id }) {
            if to.tokens[token.id] == nil { try await target.addAccessToken(token) }
            summary.accessTokens += 1
        }
        // Revoked in the source since an earlier run copied it.
        for id in to.tokens.keys.sorted() where from.tokens[id] == nil && from.users[to.tokens[id]!.user] != nil {
            _ = try await target.revokeAccessToken(id)
        }
        for token in try await source.liveRefreshTokens() {
            if try await target.refreshToken(token.id) == nil { try await target.addRefreshToken(token) }
            summary.refreshTokens += 1
        }
        summary.auditEvents = try await copyAudit(from: source, to: target)
        summary.auditSkipped = summary.auditEvents < 0
        summary.auditEvents = max(0, summary.auditEvents)
        return summary
    }

    /// The whole audit log, in one append (all or nothing), when the target's is empty; -1 when it is not.
    static func copyAudit(from source: any AccessStore, to target: any AccessStore) async throws -> Int {
        guard try await target.auditEvents(limit: 1, before: nil).isEmpty else { return -1 }
        var events: [AuditEvent] = []
        var before: Int64?
        while true {
            let page = try await source.auditEvents(limit: 1000, before: before)
            guard let last = page.last else { break }
            events.append(contentsOf: page)
            before = last.id
        }
        let oldestFirst = events.reversed().map { event in
            var copy = event
            copy.id = nil
            return copy
        }
        if !oldestFirst.isEmpty { try await target.appendAudit(oldestFirst) }
        return oldestFirst.count
    }
}
