import BerthCore
import Foundation

/// A user as listed: never with a hash.
public struct UserInfo: Sendable, Codable, Equatable {
    public var name: String
    public var admin: Bool
    /// `berth` (Berth's own store) or `htpasswd`.
    public var source: String
}

public struct NamespaceInfo: Sendable, Codable, Equatable {
    public var name: String
    public var visibility: Visibility
}

public struct MemberInfo: Sendable, Codable, Equatable {
    public var user: String
    public var role: Role
}

/// A new access token: the only time its secret is shown.
public struct IssuedAccessToken: Sendable {
    public var record: AccessTokenRecord
    public var token: String
}

/// Administration: every operation checks what `actor` may do, changes the store, records an audit event and
/// reloads the view, so the change holds at once in this process (and within a second in others).
extension AccessControl {
    public func listUsers(by actor: Principal) throws(AccessError) -> [UserInfo] {
        try requireAdmin(actor, .users)
        let view = self.view
        var users = view.data.users.values.map { UserInfo(name: $0.name, admin: $0.admin, source: "berth") }
        for name in view.htpasswd.keys where view.data.users[name] == nil {
            users.append(UserInfo(name: name, admin: view.htpasswdAdmins.contains(name), source: "htpasswd"))
        }
        return users.sorted { $0.name < $1.name }
    }

    public func addUser(_ name: String, password: String, admin: Bool, by actor: Principal, address: String?) async throws {
        try requireAdmin(actor, .users)
        guard UserNames.isValid(name) else {
            throw AccessError.invalid("a user name is 1 to 64 letters, digits, '.', '_', '-' or '@', starting with a letter or digit")
        }
        try Self.checkPassword(password)
        let hash = try await Self.bcryptHash(password)
        guard try await store.addUser(UserRecord(name: name, passwordHash: hash, admin: admin)) else {
            throw AccessError.conflict("user \(name) exists")
        }
        try await changed(actor, address, "user.add", name, detail: admin ? "admin" : nil)
    }

    /// Administrators set anyone else's password; everyone sets their own by giving the current one, from a
    /// password login (a token, or a stolen session, cannot take the account over).
    public func setPassword(_ name: String, password: String, current: String? = nil, by actor: Principal,
                            address: String?) async throws {
        if actor.user == name, actor != Self.commandLine {
            guard actor.credential == .password else {
                throw AccessError.denied("changing your password needs a password login, not a token")
            }
            let key = Self.loginKey(name, address)
            if let wait = throttle.retryAfter(key) { throw AccessError.throttled(retryAfter: wait) }
            guard let current, await verifyPassword(name, current, view) else {
                throttle.fail(key)
                record(actor.caller(address: address), "user.passwd", name, outcome: "denied", detail: "wrong current password")
                throw AccessError.denied("changing your password needs your current password (current_password)")
            }
        } else {
            try requireAdmin(actor, .users)
        }
        try Self.checkPassword(password)
        let hash = try await Self.bcryptHash(password)
        guard try await store.setPassword(name, hash: hash) else { throw AccessError.notFound("no user \(name) in Berth's store") }
        try await changed(actor, address, "user.passwd", name)
    }

    public func removeUser(_ name: String, by actor: Principal, address: String?) async throws {
        try requireAdmin(actor, .users)
        guard try await store.removeUser(name) else { throw AccessError.notFound("no user \(name) in Berth's store") }
        try await changed(actor, address, "user.remove", name)
    }

    /// The namespaces the caller may see; a token's, only those its scopes name.
    public func listNamespaces(by actor: Principal) -> [NamespaceInfo] {
        let view = self.view
        return view.data.namespaces.filter { view.canSee(actor, namespace: $0.key) && actor.reaches(namespace: $0.key) }
            .map { NamespaceInfo(name: $0.key, visibility: $0.value) }.sorted { $0.name < $1.name }
    }

    public func createNamespace(_ name: String, visibility: Visibility, by actor: Principal, address: String?) async throws {
        try requireAdmin(actor, .namespaces)
        guard Namespaces.isValidName(name) else { throw AccessError.invalid("invalid namespace name \(name)") }
        guard try await store.addNamespace(name, visibility: visibility) else {
            throw AccessError.conflict("namespace \(name) exists")
        }
        try await changed(actor, address, "namespace.create", name, detail: visibility.rawValue)
    }

    public func setVisibility(_ name: String, _ visibility: Visibility, by actor: Principal, address: String?) async throws {
        try requireNamespaceAdmin(actor, name)
        guard try await store.setVisibility(name, visibility) else { throw AccessError.notFound("no namespace \(name)") }
        try await changed(actor, address, "namespace.visibility", name, detail: visibility.rawValue)
    }

    public func members(of namespace: String, by actor: Principal) throws(AccessError) -> [MemberInfo] {
        try requireNamespaceAdmin(actor, namespace)
        return (view.data.members[namespace] ?? [:]).map { MemberInfo(user: $0.key, role: $0.value) }.sorted { $0.user < $1.user }
    }

    public func grant(_ role: Role, to user: String, in namespace: String, by actor: Principal, address: String?) async throws {
        try requireNamespaceAdmin(actor, namespace)
        guard view.user(user).exists else { throw AccessError.notFound("no user \(user)") }
        _ = try await store.setRole(role, of: user, in: namespace)
        try await changed(actor, address, "grant", "\(namespace)/\(user)", detail: role.rawValue)
    }

    public func revoke(_ user: String, in namespace: String, by actor: Principal, address: String?) async throws {
        try requireNamespaceAdmin(actor, namespace)
        guard try await store.setRole(nil, of: user, in: namespace) else {
            throw AccessError.notFound("\(user) has no role in \(namespace)")
        }
        try await changed(actor, address, "revoke", "\(namespace)/\(user)")
    }

    /// Users create tokens for themselves; administrators for anyone. A token (with `admin:tokens`) may mint
    /// tokens only for its own user, within its own scopes, expiring no later than itself.
    public func createAccessToken(for user: String?, scopes: [TokenScope], expiresIn: Duration,
                                  by actor: Principal, address: String?) async throws -> IssuedAccessToken {
        guard let owner = user ?? actor.user else { throw AccessError.unauthenticated("authentication required") }
        try requireScope(actor, .tokens)
        guard actor.user == owner || actor.isAdmin else {
            throw AccessError.denied("only an administrator may create tokens for another user")
        }
        guard view.user(owner).exists else { throw AccessError.notFound("no user \(owner)") }
        guard !scopes.isEmpty else { throw AccessError.invalid("a token needs at least one scope") }
        let seconds = Double(expiresIn.components.seconds)
        guard seconds >= 1, seconds <= 366 * 86400 else { throw AccessError.invalid("a token expires in 1 s to 366 days") }
        let now = Date()
        if actor.credential != .password, actor != Self.commandLine {
            guard actor.user == owner else { throw AccessError.denied("a token may create tokens only for its own user") }
            if let wider = scopes.first(where: { !actor.within($0) }) {
                throw AccessError.denied("a token may not create a token reaching further than itself (\(wider))")
            }
            if let id = actor.tokenID, let maker = view.data.tokens[id], now.addingTimeInterval(seconds) > maker.expiresAt {
                throw AccessError.denied("a token may not create a token that outlives it")
            }
        }
        let id = Secrets.id(), secret = Secrets.secret()
        let record = AccessTokenRecord(id: id, user: owner, scopes: scopes, createdAt: now,
                                       expiresAt: now.addingTimeInterval(seconds), secretHash: Secrets.hash(secret))
        try await store.addAccessToken(record)
        try await changed(actor, address, "token.create", id,
                          detail: "user \(owner); " + scopes.map(\.description).joined(separator: " "))
        return IssuedAccessToken(record: record, token: Secrets.compose("berth", id: id, secret: secret))
    }

    public func accessTokens(of user: String?, by actor: Principal) async throws -> [AccessTokenRecord] {
        guard let actorUser = actor.user else { throw AccessError.unauthenticated("authentication required") }
        try requireScope(actor, .tokens)
        if !actor.isAdmin, user != nil, user != actorUser { throw AccessError.denied("only an administrator may list others' tokens") }
        return try await store.accessTokens(of: actor.isAdmin ? user : actorUser)
    }

    public func revokeAccessToken(_ id: String, by actor: Principal, address: String?) async throws {
        try requireScope(actor, .tokens)
        let token = try await store.accessTokens(of: nil).first { $0.id == id }
        guard let token else { throw AccessError.notFound("no token \(id)") }
        guard actor.isAdmin || actor.user == token.user else {
            throw AccessError.denied("only an administrator or the token's user may revoke it")
        }
        guard try await store.revokeAccessToken(id) else { throw AccessError.notFound("token \(id) is revoked already") }
        try await changed(actor, address, "token.revoke", id, detail: "user \(token.user)")
    }

    public func auditEvents(limit: Int, before: Int64?, by actor: Principal) async throws -> [AuditEvent] {
        try requireAdmin(actor, .audit)
        return try await store.auditEvents(limit: min(max(limit, 1), 1000), before: before)
    }

    // MARK: - Helpers

    /// A global administrator's operation: the user must be one, and the credential must reach `scope`.
    public func requireAdmin(_ actor: Principal, _ scope: AdminScope) throws(AccessError) {
        guard actor.isAdmin else {
            throw actor.isAnonymous ? .unauthenticated("authentication required") : .denied("administrators only")
        }
        try requireScope(actor, scope)
    }

    /// The credential (password, access token, registry token) must reach `scope`, whoever its user is.
    public func requireScope(_ actor: Principal, _ scope: AdminScope) throws(AccessError) {
        if actor.isAnonymous { throw .unauthenticated("authentication required") }
        guard actor.within(scope) else { throw .denied("this credential's scopes do not include \(scope)") }
    }

    func requireNamespaceAdmin(_ actor: Principal, _ namespace: String) throws(AccessError) {
        guard view.role(actor, in: namespace) == .admin else {
            throw actor.isAnonymous ? .unauthenticated("authentication required")
                : .denied("only an admin of namespace \(namespace) may do this")
        }
        try requireScope(actor, .namespace(namespace))
        guard view.data.namespaces[namespace] != nil else { throw .notFound("no namespace \(namespace)") }
    }

    /// Repository policies (tag immutability, …) are set by the namespace's maintainers and admins.
    public func requireMaintainer(_ actor: Principal, of namespace: String) throws(AccessError) {
        guard let role = view.role(actor, in: namespace), role >= .maintainer else {
            throw actor.isAnonymous ? .unauthenticated("authentication required")
                : .denied("only a maintainer of namespace \(namespace) may do this")
        }
        try requireScope(actor, .namespace(namespace))
    }

    static func checkPassword(_ password: String) throws(AccessError) {
        // bcrypt reads 72 bytes at most: a longer password would be silently cut.
        guard (1...72).contains(password.utf8.count) else { throw .invalid("a password has 1 to 72 bytes") }
    }

    private func changed(_ actor: Principal, _ address: String?, _ action: String, _ target: String,
                         detail: String? = nil) async throws {
        record(actor.caller(address: address), action, target, detail: detail)
        try await reload()
    }
}
