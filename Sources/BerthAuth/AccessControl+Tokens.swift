import BerthCore
import Foundation

extension AccessControl {
    /// What a registry token for `principal` may grant for the scopes asked: for each, the intersection of the
    /// actions asked and the actions allowed. A scope the principal may not have comes back with no actions.
    public func grantedAccess(_ principal: Principal, for scopes: [ResourceScope]) -> [GrantedAccess] {
        let view = self.view
        return scopes.map { scope in
            var granted: [String] = []
            switch scope.type {
            case "repository":
                if let name = try? RepositoryName(validating: scope.name) {
                    let allowed = view.actions(principal, on: name)
                    let asked = scope.actions.contains("*") ? Set(Action.allCases) : Set(scope.actions.compactMap(Action.init(rawValue:)))
                    granted = allowed.intersection(asked).sorted().map(\.rawValue)
                }
            case "registry" where scope.name == "catalog":
                // Anyone may list; the list shows only what the caller may pull.
                granted = scope.actions.filter { $0 == "*" }
            case "admin":
                // Only what both the user and the credential asking may do on the admin API.
                if scope.actions.contains("*"), let admin = AdminScope(area: scope.name), principal.within(admin),
                   view.mayAdminister(principal, admin) {
                    granted = ["*"]
                }
            default:
                break
            }
            return GrantedAccess(type: scope.type, name: scope.name, actions: granted)
        }
    }

    /// A refresh (offline) token for a user who logged in with a password.
    public func issueRefreshToken(for principal: Principal, expiresIn: Duration) async throws -> String? {
        guard let user = principal.user, principal.credential == .password,
              let passwordHash = passwordHash(of: user, view) else { return nil }
        let id = Secrets.id(), secret = Secrets.secret()
        try await store.addRefreshToken(RefreshTokenRecord(
            id: id, user: user, secretHash: Self.refreshHash(secret, passwordHash),
            expiresAt: Date().addingTimeInterval(Double(expiresIn.components.seconds))))
        return Secrets.compose("berthr", id: id, secret: secret)
    }

    /// A refresh token's stored hash covers its user's password hash at issue: once the password changes,
    /// wherever (Berth's store, or the htpasswd file edited by hand), the token no longer matches. The store's
    /// own password change also deletes them; an htpasswd file has no such hook.
    static func refreshHash(_ secret: String, _ passwordHash: String) -> String {
        Secrets.hash(secret + "\u{0}" + passwordHash)
    }

    /// The user a refresh token stands for, while it is live, its user exists and has the same password.
    public func redeemRefreshToken(_ text: String, address: String?) async throws -> Principal {
        let key = address.map { "address:" + $0 }
        if let key, let wait = addressThrottle.retryAfter(key) { throw AccessError.throttled(retryAfter: wait) }
        let view = self.view
        if let (id, secret) = Secrets.parse("berthr", text), let record = try await store.refreshToken(id),
           record.expiresAt > Date(), let passwordHash = passwordHash(of: record.user, view),
           Secrets.constantTimeEqual(record.secretHash, Self.refreshHash(secret, passwordHash)),
           let principal = principal(subject: record.user, tokenID: nil) {
            return principal
        }
        if let key { addressThrottle.fail(key) }
        record(Caller(user: nil, address: address), "login.failed", "refresh token", outcome: "denied")
        throw AccessError.unauthenticated("invalid refresh token")
    }

    /// Records a registry request that presented a token which did not verify (forged, expired, revoked).
    public func recordRejectedToken(subject: String?, address: String?) {
        record(Caller(user: nil, address: address), "login.failed", "bearer token" + (subject.map { " of \($0)" } ?? ""),
               outcome: "denied")
    }

    /// Records a registry token's issue in the audit log.
    public func recordIssue(_ principal: Principal, access: [GrantedAccess], address: String?) {
        let scopes = access.map(\.description).joined(separator: " ")
        record(principal.caller(address: address), "token.issue", scopes.isEmpty ? "-" : scopes)
    }
}
