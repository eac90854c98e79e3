import BerthCore

/// An authenticated caller (or the anonymous one) and the limits on what it may do.
public struct Principal: Sendable, Hashable {
    public var user: String?
    public var isAdmin: Bool
    /// Set when the caller authenticated with an access token: its id and scopes.
    public var tokenID: String?
    public var tokenScopes: [TokenScope]?

    public init(user: String?, isAdmin: Bool = false, tokenID: String? = nil, tokenScopes: [TokenScope]? = nil) {
        self.user = user
        self.isAdmin = isAdmin
        self.tokenID = tokenID
        self.tokenScopes = tokenScopes
    }

    public static let anonymous = Principal(user: nil)

    public var isAnonymous: Bool { user == nil }

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

    /// Whether the principal may see a namespace at all (public, or any role in it).
    public func canSee(_ principal: Principal, namespace: String) -> Bool {
        guard let visibility = data.namespaces[namespace] else { return principal.isAdmin }
        return visibility == .public || role(principal, in: namespace) != nil
    }
}
