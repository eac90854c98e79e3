import BerthCore

/// An authenticated caller (or the anonymous one) and the limits on what it may do.
///
/// The rule on every surface: no credential does more than its scopes say. A password login may do what its
/// user may; an access token only what its scopes name; a registry token only what its `access` claim grants
/// (and, when it was issued to an access token, that token's scopes too).
public struct Principal: Sendable, Hashable {
    /// How the caller proved who it is.
    public enum Credential: Sendable, Hashable {
        case none, password, accessToken, registryToken
    }

    public var user: String?
    public var isAdmin: Bool
    /// Set when the caller authenticated with an access token: its id and scopes.
    public var tokenID: String?
    public var tokenScopes: [TokenScope]?
    /// Set when a registry token authenticated the caller: what its `access` claim grants.
    public var registryScopes: [TokenScope]?

    public init(user: String?, isAdmin: Bool = false, tokenID: String? = nil, tokenScopes: [TokenScope]? = nil) {
        self.user = user
        self.isAdmin = isAdmin
        self.tokenID = tokenID
        self.tokenScopes = tokenScopes
    }

    public static let anonymous = Principal(user: nil)

    public var isAnonymous: Bool { user == nil }

    public var credential: Credential {
        if user == nil { return .none }
        if registryScopes != nil { return .registryToken }
        return tokenID != nil ? .accessToken : .password
    }

    /// The same caller, authenticated by a registry token granting `scopes`.
    public func presenting(registryScopes scopes: [TokenScope]) -> Principal {
        var copy = self
        copy.registryScopes = scopes
        return copy
    }

    /// Whether the caller's credentials (not its user's rights: those are checked apart) reach `scope`.
    public func within(_ scope: TokenScope) -> Bool {
        (tokenScopes.map { scope.isCovered(by: $0) } ?? true) && (registryScopes.map { scope.isCovered(by: $0) } ?? true)
    }

    /// Whether the caller's credentials name anything in `namespace` (a repository or the namespace itself, or
    /// its administration).
    public func reaches(namespace: String) -> Bool {
        func names(_ scopes: [TokenScope]) -> Bool {
            scopes.contains { scope in
                switch scope.kind {
                case .repository: scope.name.prefix { $0 != "/" } == namespace
                case .namespace: scope.name == namespace
                case .admin: scope.admin.map { $0.covers(.namespace(namespace)) } ?? false
                }
            }
        }
        return (tokenScopes.map(names) ?? true) && (registryScopes.map(names) ?? true)
    }

    /// Whether the caller's credentials reach this part of the admin API.
    public func within(_ admin: AdminScope) -> Bool { !isAnonymous && within(TokenScope(admin)) }

    public func caller(address: String?) -> Caller {
        Caller(user: user, tokenID: tokenID, address: address)
    }
}

/// Resolves what a principal may do, from one consistent view of users, namespaces and roles.
public struct AccessView: Sendable {
    public let data: AccessData
    /// Users of an htpasswd file: name → bcrypt hash; and which of them are global administrators.
    let htpasswd: [String: String]
    let htpasswdAdmins: Set<String>

    init(data: AccessData, htpasswd: [String: String], htpasswdAdmins: Set<String>) {
        self.data = data
        self.htpasswd = htpasswd
        self.htpasswdAdmins = htpasswdAdmins
    }

    /// Whether `user` exists (in Berth's store or the htpasswd file), and is a global administrator.
    public func user(_ name: String) -> (exists: Bool, admin: Bool) {
        if let user = data.users[name] { return (true, user.admin) }
        if htpasswd[name] != nil { return (true, htpasswdAdmins.contains(name)) }
        return (false, false)
    }

    /// The actions `principal` may take on `repository`: its user's rights now, within its token's scopes.
    /// A public namespace's pull stays open to tokens too: a token never does less than an anonymous caller.
    public func actions(_ principal: Principal, on repository: RepositoryName) -> Set<Action> {
        var actions = userActions(principal, on: repository)
        if let scopes = principal.tokenScopes {
            actions.formIntersection(scopes.reduce(into: Set<Action>()) { $0.formUnion($1.actions(on: repository)) })
            if data.namespaces[Namespaces.of(repository)] == .public { actions.insert(.pull) }
        }
        return actions
    }

    private func userActions(_ principal: Principal, on repository: RepositoryName) -> Set<Action> {
        if principal.isAdmin { return Set(Action.allCases) }
        let namespace = Namespaces.of(repository)
        guard let visibility = data.namespaces[namespace] else { return [] }
        var actions: Set<Action> = visibility == .public ? [.pull] : []
        if let user = principal.user, let role = data.members[namespace]?[user] { actions.formUnion(role.actions) }
        return actions
    }

    /// The principal's role in a namespace (global administrators act as its admin).
    public func role(_ principal: Principal, in namespace: String) -> Role? {
        if principal.isAdmin { return .admin }
        return principal.user.flatMap { data.members[namespace]?[$0] }
    }

    /// Whether the principal's user may do what `scope` covers on the admin API (its credential is checked apart):
    /// administrators anything; a namespace's maintainers and admins that namespace.
    public func mayAdminister(_ principal: Principal, _ scope: AdminScope) -> Bool {
        if principal.isAdmin { return true }
        if case .namespace(let name) = scope, let role = role(principal, in: name) { return role >= .maintainer }
        return scope == .tokens && !principal.isAnonymous
    }

    /// Whether the principal may see a namespace at all (public, or any role in it).
    public func canSee(_ principal: Principal, namespace: String) -> Bool {
        guard let visibility = data.namespaces[namespace] else { return principal.isAdmin }
        return visibility == .public || role(principal, in: namespace) != nil
    }
}
