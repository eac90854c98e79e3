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
        try requireAdmin(actor)
        let view = self.view
        var users = view.data.users.values.map { UserInfo(name: $0.name, admin: $0.admin, source: "berth") }
        for name in view.htpasswd.keys where view.data.users[name] == nil {
            users.append(UserInfo(name: name, admin: view.htpasswdAdmins.contains(name), source: "htpasswd"))
        }
        return users.sorted { $0.name < $1.name }
    }

    public func addUser(_ name: String, password: String, admin: Bool, by actor: Principal, address: String?) async throws {
        try requireAdmin(actor)
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

    /// Administrators set anyone's password; a user sets their own (with their password, not a token).
    public func setPassword(_ name: String, password: String, by actor: Principal, address: String?) async throws {
        guard actor.isAdmin || (actor.user == name && actor.tokenID == nil) else {
            throw AccessError.denied("only an administrator or the user may set a password")
        }
        try Self.checkPassword(password)
        let hash = try await Self.bcryptHash(password)
        guard try await store.setPassword(name, hash: hash) else { throw AccessError.notFound("no user \(name) in Berth's store") }
        try await changed(actor, address, "user.passwd", name)
    }

    public func removeUser(_ name: String, by actor: Principal, address: String?) async throws {
        try requireAdmin(actor)
        guard try await store.removeUser(name) else { throw AccessError.notFound("no user \(name) in Berth's store") }
        try await changed(actor, address, "user.remove", name)
    }

    public func listNamespaces(by actor: Principal) -> [NamespaceInfo] {
        let view = self.view
        return view.data.namespaces.filter { view.canSee(actor, namespace: $0.key) }
            .map { NamespaceInfo(name: $0.key, visibility: $0.value) }.sorted { $0.name < $1.name }
    }

    public func createNamespace(_ name: String, visibility: Visibility, by actor: Principal, address: String?) async throws {
        try requireAdmin(actor)
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

    /// Users create tokens for themselves (authenticated by password); administrators for anyone.
    public func createAccessToken(for user: String?, scopes: [TokenScope], expiresIn: Duration,
                                  by actor: Principal, address: String?) async throws -> IssuedAccessToken {
        guard let owner = user ?? actor.user else { throw AccessError.unauthenticated("authentication required") }
        guard actor.isAdmin || (actor.user == owner && actor.tokenID == nil) else {
            throw AccessError.denied("only an administrator may create tokens for another user")
        }
        guard view.user(owner).exists else { throw AccessError.notFound("no user \(owner)") }
        guard !scopes.isEmpty else { throw AccessError.invalid("a token needs at least one scope") }
        let seconds = Double(expiresIn.components.seconds)
        guard seconds >= 1, seconds <= 366 * 86400 else { throw AccessError.invalid("a token expires in 1 s to 366 days") }
        let id = Secrets.id(), secret = Secrets.secret(), now = Date()
        let record = AccessTokenRecord(id: id, user: owner, scopes: scopes, createdAt: now,
                                       expiresAt: now.addingTimeInterval(seconds), secretHash: Secrets.hash(secret))
        try await store.addAccessToken(record)
        try await changed(actor, address, "token.create", id,
                          detail: "user \(owner); " + scopes.map(\.description).joined(separator: " "))
        return IssuedAccessToken(record: record, token: Secrets.compose("berth", id: id, secret: secret))
    }

    public func accessTokens(of user: String?, by actor: Principal) async throws -> [AccessTokenRecord] {
        guard let actorUser = actor.user else { throw AccessError.unauthenticated("authentication required") }
        if !actor.isAdmin, user != nil, user != actorUser { throw AccessError.denied("only an administrator may list others' tokens") }
        return try await store.accessTokens(of: actor.isAdmin ? user : actorUser)
    }

    public func revokeAccessToken(_ id: String, by actor: Principal, address: String?) async throws {
        let token = try await store.accessTokens(of: nil).first { $0.id == id }
        guard let token else { throw AccessError.notFound("no token \(id)") }
        guard actor.isAdmin || (actor.user == token.user && actor.tokenID == nil) else {
            throw AccessError.denied("only an administrator or the token's user may revoke it")
        }
        guard try await store.revokeAccessToken(id) else { throw AccessError.notFound("token \(id) is revoked already") }
        try await changed(actor, address, "token.revoke", id, detail: "user \(token.user)")
    }

    public func auditEvents(limit: Int, before: Int64?, by actor: Principal) async throws -> [AuditEvent] {
        try requireAdmin(actor)
        return try await store.auditEvents(limit: min(max(limit, 1), 1000), before: before)
    }

    // MARK: - Helpers

    public func requireAdmin(_ actor: Principal) throws(AccessError) {
        guard actor.isAdmin else {
            throw actor.isAnonymous ? .unauthenticated("authentication required") : .denied("administrators only")
        }
    }

    func requireNamespaceAdmin(_ actor: Principal, _ namespace: String) throws(AccessError) {
        guard view.role(actor, in: namespace) == .admin, actor.tokenScopes == nil || actor.isAdmin else {
            throw actor.isAnonymous ? .unauthenticated("authentication required")
                : .denied("only an admin of namespace \(namespace) may do this")
        }
        guard view.data.namespaces[namespace] != nil else { throw .notFound("no namespace \(namespace)") }
    }

    /// Repository policies (tag immutability, …) are set by the namespace's maintainers and admins.
    public func requireMaintainer(_ actor: Principal, of namespace: String) throws(AccessError) {
        guard let role = view.role(actor, in: namespace), role >= .maintainer, actor.tokenScopes == nil || actor.isAdmin else {
            throw actor.isAnonymous ? .unauthenticated("authentication required")
                : .denied("only a maintainer of namespace \(namespace) may do this")
        }
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
