import BerthCore
import Crypto
import Foundation
import HummingbirdBcrypt
import Logging
import NIOPosix
import Synchronization

/// Settings of authentication that do not depend on the mode.
public struct AccessSettings: Sendable {
    /// Users of an htpasswd file, and which of them are global administrators.
    public var htpasswdPath: String?
    public var htpasswdAdmins: Set<String> = []
    /// Failed logins per user from one client address within `lockoutWindow` before 429s. Keyed by user and
    /// address together, so nobody can lock a named CI user out from another address.
    public var lockoutAttempts = 5
    /// Failed logins per client address, whatever the user names, before 429s (a higher limit; nil: 4 × the
    /// per-user limit).
    public var lockoutAddressAttempts: Int?
    public var lockoutWindow: Duration = .seconds(60)
    /// Audit records older than this are deleted (nil: kept forever).
    public var auditRetention: Duration? = .seconds(365 * 86400)
    /// Access tokens are listed (as expired or revoked) this long after they end, then deleted.
    public var tokenRetention: Duration = .seconds(30 * 86400)

    public init() {}
}

/// Who is who, and what they may do: authenticates credentials and answers permission questions from an
/// in-memory view of the access store, reloaded whenever the store's generation changes. No request pays a
/// bcrypt once its credentials were verified, and none reads the database.
public final class AccessControl: Sendable {
    let store: any AccessStore
    let settings: AccessSettings
    let audit: any AuditRecorder
    let logger: Logger
    /// Failed logins by user and address, and by address alone.
    let throttle: Throttle
    let addressThrottle: Throttle
    private let state: Mutex<State>

    /// bcrypt cost of passwords Berth sets.
    public static let bcryptCost: UInt8 = 10
    /// The principal of the local CLI, which works on the store directly as the machine's administrator.
    public static let commandLine = Principal(user: "@cli", isAdmin: true)

    private struct State {
        var view: AccessView
        /// SHA-256 of `user \0 password` → the principal it authenticated and until when (an access token's
        /// expiry), for this generation only.
        var logins: [String: (principal: Principal, until: Date)] = [:]
    }

    public init(store: any AccessStore, settings: AccessSettings = .init(), audit: any AuditRecorder = NoAudit(),
                logger: Logger = Logger(label: "berth.auth")) async throws {
        self.store = store
        self.settings = settings
        self.audit = audit
        self.logger = logger
        throttle = Throttle(attempts: settings.lockoutAttempts, window: settings.lockoutWindow)
        addressThrottle = Throttle(attempts: settings.lockoutAddressAttempts ?? 4 * settings.lockoutAttempts,
                                   window: settings.lockoutWindow)
        let view = try await Self.load(store, settings, logger)
        state = Mutex(State(view: view))
    }

    private static func load(_ store: any AccessStore, _ settings: AccessSettings, _ logger: Logger) async throws -> AccessView {
        var htpasswd: [String: String] = [:]
        if let path = settings.htpasswdPath {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            let parsed = Htpasswd.parse(text)
            for problem in parsed.problems { logger.warning("htpasswd \(path): \(problem); skipped") }
            htpasswd = parsed.users
        }
        return AccessView(data: try await store.loadAccess(), htpasswd: htpasswd, htpasswdAdmins: settings.htpasswdAdmins)
    }

    /// The current view of users, namespaces, roles and tokens.
    public var view: AccessView { state.withLock { $0.view } }

    /// Reloads when another process (the CLI, another instance) changed the store. Cheap when nothing did.
    public func refreshIfChanged() async throws {
        let generation = try await store.accessGeneration()
        if generation != view.data.generation { try await reload() }
    }

    /// Reloads the view (and the htpasswd file) and forgets cached logins.
    public func reload() async throws {
        let view = try await Self.load(store, settings, logger)
        state.withLock { $0 = State(view: view) }
    }

    // MARK: - Authentication

    /// Checks a user name and password, or an access token given as the password. Failures are counted per
    /// user and address, and per address (a higher limit); past either, the caller waits.
    public func authenticate(username: String, password: String, address: String?) async throws(AccessError) -> Principal {
        let userKey = Self.loginKey(username, address)
        let addressKey = address.map { "address:" + $0 }
        if let wait = throttle.retryAfter(userKey) ?? addressKey.flatMap({ addressThrottle.retryAfter($0) }) {
            record(Caller(user: nil, address: address), "login.throttled", username, outcome: "denied")
            throw .throttled(retryAfter: wait)
        }
        let cacheKey = Secrets.hex(SHA256.hash(data: Data((username + "\u{0}" + password).utf8)))
        // A cached login holds only until its token expires: the cache must never outlive the credential.
        if let known = state.withLock({ $0.logins[cacheKey] }), known.until > Date() { return known.principal }
        let view = self.view
        guard let (principal, until) = await verify(username, password, view) else {
            throttle.fail(userKey)
            if let addressKey { addressThrottle.fail(addressKey) }
            record(Caller(user: nil, address: address), "login.failed", username, outcome: "denied")
            throw .unauthenticated("invalid username or password")
        }
        throttle.succeed(userKey)
        state.withLock { state in
            guard state.view.data.generation == view.data.generation else { return }
            if state.logins.count >= 10_000 { state.logins.removeAll() }
            state.logins[cacheKey] = (principal, until)
        }
        return principal
    }

    /// The throttle's key of one user's logins from one address.
    static func loginKey(_ user: String, _ address: String?) -> String {
        "user:" + user + (address.map { "@" + $0 } ?? "")
    }

    /// The principal these credentials stand for, and until when they do.
    func verify(_ username: String, _ password: String, _ view: AccessView) async -> (Principal, Date)? {
        if let (id, secret) = Secrets.parse("berth", password) {
            guard let token = view.data.tokens[id], token.expiresAt > Date(),
                  Secrets.constantTimeEqual(token.secretHash, Secrets.hash(secret)) else { return nil }
            let user = view.user(token.user)
            guard user.exists else { return nil }
            return (Principal(user: token.user, isAdmin: user.admin, tokenID: id, tokenScopes: token.scopes), token.expiresAt)
        }
        guard await verifyPassword(username, password, view) else { return nil }
        return (Principal(user: username, isAdmin: view.user(username).admin), .distantFuture)
    }

    /// Whether `password` is the user's password (never an access token).
    func verifyPassword(_ username: String, _ password: String, _ view: AccessView) async -> Bool {
        let hash = view.data.users[username]?.passwordHash ?? view.htpasswd[username]
        // A missing user still costs a bcrypt, so timing does not tell which names exist.
        let matches = await Self.bcryptVerify(password, hash: hash ?? Self.decoyHash)
        guard let hash, !hash.isEmpty, matches else { return false }
        return true
    }

    /// The current password hash of a user (Berth's store first, then htpasswd), to bind refresh tokens to it.
    func passwordHash(of user: String, _ view: AccessView) -> String? {
        view.data.users[user]?.passwordHash ?? view.htpasswd[user]
    }

    /// A hash of a random password at Berth's cost, verified against for unknown users.
    private static let decoyHash = Bcrypt.hash(Secrets.secret(), cost: bcryptCost)

    /// bcrypt takes tens of milliseconds: run it on the blocking pool, never on an event loop.
    static func bcryptVerify(_ password: String, hash: String) async -> Bool {
        (try? await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }) ?? false
    }

    static func bcryptHash(_ password: String) async throws -> String {
        try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: bcryptCost) }
    }

    /// The principal behind a token's subject, checked against the current view: the user must still exist
    /// and an access token named in it must still be live (so revocation holds at once, even for issued JWTs).
    public func principal(subject: String, tokenID: String?) -> Principal? {
        let view = self.view
        if subject.isEmpty { return .anonymous }
        let user = view.user(subject)
        guard user.exists else { return nil }
        if let tokenID {
            guard let token = view.data.tokens[tokenID], token.user == subject, token.expiresAt > Date() else { return nil }
            return Principal(user: subject, isAdmin: user.admin, tokenID: tokenID, tokenScopes: token.scopes)
        }
        return Principal(user: subject, isAdmin: user.admin)
    }

    /// The actions `principal` may take on `repository` now.
    public func actions(_ principal: Principal, on repository: RepositoryName) -> Set<Action> {
        view.actions(principal, on: repository)
    }

    /// Deletes expired refresh tokens, access tokens ended longer ago than `tokenRetention`, and audit records
    /// older than `auditRetention` (a scheduled job).
    public func purge(now: Date = Date()) async throws -> PurgeCounts {
        try await store.purge(refreshBefore: now, tokensBefore: now.addingTimeInterval(-Self.seconds(settings.tokenRetention)),
                              auditBefore: settings.auditRetention.map { now.addingTimeInterval(-Self.seconds($0)) })
    }

    private static func seconds(_ duration: Duration) -> Double { Double(duration.components.seconds) }

    /// A global administrator's first push into a namespace that does not exist creates it, private.
    public func prepareNamespace(for repository: RepositoryName, by principal: Principal, address: String?) async throws {
        let namespace = Namespaces.of(repository)
        guard principal.isAdmin, principal.tokenScopes == nil, view.data.namespaces[namespace] == nil else { return }
        if try await store.addNamespace(namespace, visibility: .private) {
            record(principal.caller(address: address), "namespace.create", namespace, detail: "private, on first push")
        }
        try await reload()
    }

    func record(_ caller: Caller, _ action: String, _ target: String, outcome: String = "ok", detail: String? = nil) {
        audit.record(AuditEvent(caller, action, target, outcome: outcome, detail: detail))
    }
}
