import BerthAuth
import BerthCore
import BerthWire
import Hummingbird

/// Who sent a request, as far as the gate could tell.
struct Identity: Sendable {
    var principal: Principal
    /// The registry token presented (token and external modes).
    var token: VerifiedToken?
    var address: String?

    var caller: Caller { principal.caller(address: address) }
}

/// The auth stage between routing and the registry service: identifies the caller from `Authorization`
/// and decides whether it may do what the request needs, answering with the mode's challenge when not.
struct Gate: Sendable {
    let mode: AuthMode
    let access: AccessControl?
    /// Whether the server speaks TLS, for the token realm derived from the request.
    let tls: Bool

    /// Identifies the caller. Bad credentials are refused here, whatever the request needs.
    func identify(_ request: Request, address: String?, need: AccessNeed) async throws -> Identity {
        let authorization = request.headers[.authorization]
        switch mode {
        case .none:
            return Identity(principal: .anonymous, address: address)
        case .basic:
            guard let access, let basic = BasicCredentials.parse(request.headers[.authorization]) else {
                if authorization != nil { throw Refusal.unauthorized("unsupported authorization", challenge: challenge(request)) }
                return Identity(principal: .anonymous, address: address)
            }
            if basic.isAnonymous { return Identity(principal: .anonymous, address: address) }
            do {
                let principal = try await access.authenticate(username: basic.username, password: basic.password, address: address)
                return Identity(principal: principal, address: address)
            } catch {
                throw Refusal.from(error, challenge: challenge(request))
            }
        case .token(_, let authority), .external(_, let authority):
            guard let authorization, authorization.hasPrefix("Bearer ") else {
                return Identity(principal: .anonymous, address: address)
            }
            let text = String(authorization.dropFirst("Bearer ".count))
            let token = await authority.verify(text)
            guard let token, let principal = principal(of: token) else {
                access?.recordRejectedToken(subject: token?.subject, address: address)
                // With the scope, as Distribution does: a client refreshing on this 401 asks for what it needs.
                throw Refusal.unauthorized("invalid or expired token",
                                           challenge: challenge(request, scope: Self.scope(need), error: "invalid_token"))
            }
            return Identity(principal: principal, token: token, address: address)
        }
    }

    /// The principal a verified token stands for. Berth's own tokens are checked against the current users
    /// and access tokens, so deleting a user or revoking a token holds at once.
    private func principal(of token: VerifiedToken) -> Principal? {
        if case .external = mode { return Principal(user: token.subject.isEmpty ? nil : token.subject) }
        return access?.principal(subject: token.subject, tokenID: token.tokenID)
    }

    /// Checks what the request needs; refuses with 401 (and the challenge) or 403.
    func authorize(_ identity: Identity, _ need: AccessNeed, _ request: Request) async throws {
        switch mode {
        case .none:
            return
        case .basic:
            if case .repository(let name, let actions) = need, !permits(identity, name, actions) {
                throw identity.principal.isAnonymous
                    ? Refusal.unauthorized("authentication required", challenge: challenge(request))
                    : Refusal.denied("access denied: this request needs \(actions.map(\.rawValue).joined(separator: ",")) on the repository")
            }
            if need == .login, identity.principal.isAnonymous {
                throw Refusal.unauthorized("authentication required", challenge: challenge(request))
            }
        case .token, .external:
            let allowed = switch need {
            case .login: identity.token != nil
            case .catalog: identity.token?.catalog == true
            case .repository(let name, let actions): mayUse(identity, name, actions)
            }
            let scope = Self.scope(need)
            if !allowed {
                throw Refusal.unauthorized(identity.token == nil ? "authentication required" : "insufficient scope",
                                           challenge: challenge(request, scope: scope,
                                                                error: identity.token == nil ? nil : "insufficient_scope"))
            }
        }
        if case .repository(let name, let actions) = need, actions.contains(.push), let access {
            try await access.prepareNamespace(for: name, by: identity.principal, address: identity.address)
        }
    }

    static func scope(_ need: AccessNeed) -> ResourceScope? {
        switch need {
        case .login: nil
        case .catalog: .catalog
        case .repository(let name, let actions): .repository(name, actions)
        }
    }

    /// Whether this request's credentials allow these actions on a repository: in token mode, the token must
    /// grant them too.
    func mayUse(_ identity: Identity, _ name: RepositoryName, _ actions: [Action]) -> Bool {
        if case .token = mode, !actions.allSatisfy((identity.token?.repositories[name.value] ?? []).contains) { return false }
        return permits(identity, name, actions)
    }

    /// Whether the caller may take these actions on a repository now, whatever its registry token names: the
    /// catalog lists by this, and a mount's source is checked by this. A mount source the caller may pull is
    /// safe to link whether or not the client asked for it in the token (the conformance suite's client does
    /// not); an access token's own scopes still apply.
    func permits(_ identity: Identity, _ name: RepositoryName, _ actions: [Action]) -> Bool {
        switch mode {
        case .none: return true
        case .external: return actions.allSatisfy((identity.token?.repositories[name.value] ?? []).contains)
        case .basic, .token:
            guard let access else { return false }
            let allowed = access.actions(identity.principal, on: name)
            return actions.allSatisfy(allowed.contains)
        }
    }

    /// The `WWW-Authenticate` value for this mode.
    func challenge(_ request: Request, scope: ResourceScope? = nil, error: String? = nil) -> String {
        let realm: String, service: String
        switch mode {
        case .none: return ""
        case .basic(let name): return "Basic realm=\"\(name)\", charset=\"UTF-8\""
        case .token(let configured, let authority):
            realm = configured ?? derivedRealm(request)
            service = authority.settings.service
        case .external(let configured, let authority):
            realm = configured
            service = authority.settings.service
        }
        var value = "Bearer realm=\"\(realm)\",service=\"\(service)\""
        if let scope { value += ",scope=\"\(scope)\"" }
        if let error { value += ",error=\"\(error)\"" }
        return value
    }

    /// `<scheme>://<Host>/auth/token`, from the request's own Host.
    private func derivedRealm(_ request: Request) -> String {
        let host = request.head.authority ?? "localhost"
        return "\(tls ? "https" : "http")://\(host)/auth/token"
    }
}
