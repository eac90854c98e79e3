import BerthCore
import Foundation

/// Everything access control reads at once, small enough to keep in memory.
public struct AccessData: Sendable {
    public var generation: Int64
    public var users: [String: UserRecord]
    public var namespaces: [String: Visibility]
    /// namespace → user → role
    public var members: [String: [String: Role]]
    /// Live (unrevoked) access tokens by id.
    public var tokens: [String: AccessTokenRecord]

    public init(generation: Int64, users: [String: UserRecord], namespaces: [String: Visibility],
                members: [String: [String: Role]], tokens: [String: AccessTokenRecord]) {
        self.generation = generation
        self.users = users
        self.namespaces = namespaces
        self.members = members
        self.tokens = tokens
    }
}

/// A refresh (offline) token of the token service, stored as a hash.
public struct RefreshTokenRecord: Sendable {
    public var id: String
    public var user: String
    public var secretHash: String
    public var expiresAt: Date
    public init(id: String, user: String, secretHash: String, expiresAt: Date) {
        self.id = id
        self.user = user
        self.secretHash = secretHash
        self.expiresAt = expiresAt
    }
}

/// Rows a retention purge deleted.
public struct PurgeCounts: Sendable, Equatable {
    public var refreshTokens = 0, accessTokens = 0, auditRecords = 0
    public init(refreshTokens: Int = 0, accessTokens: Int = 0, auditRecords: Int = 0) {
        self.refreshTokens = refreshTokens
        self.accessTokens = accessTokens
        self.auditRecords = auditRecords
    }
}

/// Where users, namespaces, roles, tokens and the audit log are kept. Every change bumps the generation in
/// the same transaction, so servers sharing the store reload what changed.
public protocol AccessStore: Sendable {
    func accessGeneration() async throws -> Int64
    func loadAccess() async throws -> AccessData

    /// Returns false when the user exists already.
    func addUser(_ user: UserRecord) async throws -> Bool
    /// Sets a password and drops the user's refresh tokens. Returns false for an unknown user.
    func setPassword(_ user: String, hash: String) async throws -> Bool
    /// Removes a user with their roles, access tokens and refresh tokens. Returns false for an unknown user.
    func removeUser(_ user: String) async throws -> Bool

    /// Returns false when the namespace exists already.
    func addNamespace(_ name: String, visibility: Visibility) async throws -> Bool
    /// Returns false for an unknown namespace.
    func setVisibility(_ name: String, _ visibility: Visibility) async throws -> Bool
    /// Sets (or with nil, removes) a user's role in a namespace. Returns false when nothing changed on removal.
    func setRole(_ role: Role?, of user: String, in namespace: String) async throws -> Bool

    func addAccessToken(_ token: AccessTokenRecord) async throws
    /// Access tokens, live or not, optionally of one user, newest first.
    func accessTokens(of user: String?) async throws -> [AccessTokenRecord]
    /// Returns false for an unknown or already revoked token.
    func revokeAccessToken(_ id: String) async throws -> Bool

    func addRefreshToken(_ token: RefreshTokenRecord) async throws
    func refreshToken(_ id: String) async throws -> RefreshTokenRecord?

    /// Deletes what the retention settings let go: refresh tokens expired before `refreshBefore`, access tokens
    /// that expired or were revoked before `tokensBefore`, audit records older than `auditBefore` (nil: all
    /// kept). Returns the rows deleted of each.
    func purge(refreshBefore: Date, tokensBefore: Date, auditBefore: Date?) async throws -> PurgeCounts

    func appendAudit(_ events: [AuditEvent]) async throws
    /// Audit records, newest first, with ids below `before` when given.
    func auditEvents(limit: Int, before: Int64?) async throws -> [AuditEvent]
}
