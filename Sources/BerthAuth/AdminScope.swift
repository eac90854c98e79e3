import BerthCore

/// What a token may do on the admin API. Admin scopes are their own: a repository scope never implies one,
/// nor does the token's user being an administrator (the model of GitHub's fine-grained tokens and Harbor's
/// robot permissions). A password login is not limited by them; it may do what its user may.
///
/// Written `admin:users`, `admin:tokens`, `admin:audit`, `admin:gc`, `admin:namespaces` (every namespace, and
/// creating them) or `admin:namespace:NAME` in an access token; a registry token carries the same as an
/// `access` entry of type `admin` (`admin:users:*`, `admin:namespace:team:*` in the token service's grammar).
public enum AdminScope: Sendable, Hashable, CustomStringConvertible {
    /// Listing, adding and removing users; setting another user's password.
    case users
    /// Creating, listing and revoking access tokens.
    case tokens
    /// Reading the audit log.
    case audit
    /// Running garbage collection.
    case gc
    /// Creating namespaces, quotas, and everything `namespace(_)` allows on every namespace.
    case namespaces
    /// One namespace's visibility, members and policies (within the user's role there).
    case namespace(String)

    /// `users`, `tokens`, …, `namespace:NAME`: the part after `admin:`.
    public init?(area: String) {
        switch area {
        case "users": self = .users
        case "tokens": self = .tokens
        case "audit": self = .audit
        case "gc": self = .gc
        case "namespaces": self = .namespaces
        default:
            guard area.hasPrefix("namespace:") else { return nil }
            let name = String(area.dropFirst("namespace:".count))
            guard Namespaces.isValidName(name) else { return nil }
            self = .namespace(name)
        }
    }

    public var area: String {
        switch self {
        case .users: "users"
        case .tokens: "tokens"
        case .audit: "audit"
        case .gc: "gc"
        case .namespaces: "namespaces"
        case .namespace(let name): "namespace:" + name
        }
    }

    public var description: String { "admin:" + area }

    /// Whether holding `self` allows what `other` allows.
    public func covers(_ other: AdminScope) -> Bool {
        if self == other { return true }
        if case .namespaces = self, case .namespace = other { return true }
        return false
    }
}
