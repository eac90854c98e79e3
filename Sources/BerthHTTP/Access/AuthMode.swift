import BerthAuth

/// How requests authenticate.
public enum AuthMode: Sendable {
    /// Anyone may do anything.
    case none
    /// `Authorization: Basic` on every request.
    case basic(realm: String)
    /// Bearer tokens from Berth's token service (`realm` nil: this server's `/auth/token`).
    case token(realm: String?, authority: TokenAuthority)
    /// Bearer tokens from an external issuer, whose token endpoint is `realm`.
    case external(realm: String, authority: TokenAuthority)

    public var name: String {
        switch self {
        case .none: "none"
        case .basic: "basic"
        case .token: "token"
        case .external: "external"
        }
    }
}
