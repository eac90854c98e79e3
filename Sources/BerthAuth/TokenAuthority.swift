import BerthCore
import Foundation
import JWTKit
import Synchronization

/// One entry of a registry token's `access` claim: a scope holding the actions granted.
public typealias GrantedAccess = ResourceScope

/// The claims of a registry token (the Docker token spec's JWT), plus the access token it came from.
struct RegistryClaims: JWTPayload {
    var iss: IssuerClaim
    var sub: SubjectClaim
    var aud: AudienceClaim
    var exp: ExpirationClaim
    var nbf: NotBeforeClaim?
    var iat: IssuedAtClaim?
    var jti: IDClaim?
    var access: [GrantedAccess]?
    var berthToken: String?

    enum CodingKeys: String, CodingKey {
        case iss, sub, aud, exp, nbf, iat, jti, access
        case berthToken = "berth_token"
    }

    /// Time checks only; issuer and audience are checked by the authority, which knows what to expect.
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// A registry token that verified: whose it is and what it grants.
public struct VerifiedToken: Sendable {
    public var subject: String
    public var tokenID: String?
    /// Repository name → actions granted.
    public var repositories: [String: Set<Action>]
    public var catalog: Bool
    /// Admin API areas granted (`users`, `namespace:team`, …; see `AdminScope`).
    public var admin: Set<String> = []
    public var expiresAt: Date

    /// The grants as token scopes: what a caller presenting this token may reach, and nothing more.
    public var scopes: [TokenScope] {
        repositories.map { TokenScope(kind: .repository, name: $0.key, actions: $0.value) }
            + admin.sorted().map { TokenScope(kind: .admin, name: $0, actions: []) }
    }
}

/// Issues (token mode) and verifies (token and external modes) registry tokens.
public final class TokenAuthority: Sendable {
    public struct Settings: Sendable {
        public var issuer: String
        /// The `service` clients name, and the tokens' audience.
        public var service: String
        public var expiresIn: Duration
        /// Clock skew tolerated on `exp` and `nbf`.
        public var leeway: Duration

        public init(issuer: String = "berth", service: String = "berth", expiresIn: Duration = .seconds(300),
                    leeway: Duration = .seconds(60)) {
            self.issuer = issuer
            self.service = service
            self.expiresIn = expiresIn
            self.leeway = leeway
        }
    }

    public let settings: Settings
    /// Where the keys come from, to rebuild them on reload.
    let source: KeySource
    /// The verifying (and, in token mode, signing) keys. Replaced whole on reload, so a removed key stops
    /// verifying at once.
    let keySet: Mutex<KeySet>
    /// Verified tokens by their text, until they expire: a request pays a dictionary lookup, not an ECDSA check.
    /// Emptied whenever the keys change.
    let verified = Mutex<[String: VerifiedToken]>([:])
    /// When an unknown key id last made an external issuer's keys reload (at most one reload per `kidReloadEvery`).
    let lastKidReload = Mutex<ContinuousClock.Instant?>(nil)
    static let kidReloadEvery: Duration = .seconds(30)

    var keys: JWTKeyCollection { keySet.withLock { $0.collection } }
    var signingKID: String? { keySet.withLock { $0.signingKID } }

    init(settings: Settings, source: KeySource, keys: KeySet) {
        self.settings = settings
        self.source = source
        keySet = Mutex(keys)
    }

    /// Berth's own token service, signing with the newest key of `keysFolder` (made on first start).
    public static func issuing(keysFolder: String, settings: Settings) async throws -> TokenAuthority {
        let source = KeySource.folder(keysFolder)
        return TokenAuthority(settings: settings, source: source, keys: try await source.load())
    }

    /// Verifies tokens of an external issuer, from a JWKS file or a PEM public key or certificate.
    public static func external(jwks: String?, certificate: String?, settings: Settings) async throws -> TokenAuthority {
        let source = KeySource.external(jwks: jwks, certificate: certificate)
        return TokenAuthority(settings: settings, source: source, keys: try await source.load())
    }

    /// Signs a token for `subject` (empty for anonymous) granting `access`.
    public func issue(subject: String, tokenID: String?, access: [GrantedAccess]) async throws -> (token: String, expiresIn: Int, issuedAt: Date) {
        guard let kid = signingKID else { throw AccessError.invalid("this registry does not issue tokens") }
        // Whole seconds: verifiers written in other languages read NumericDates as integers.
        let now = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        let lifetime = Int(settings.expiresIn.components.seconds)
        let claims = RegistryClaims(
            iss: IssuerClaim(value: settings.issuer), sub: SubjectClaim(value: subject),
            aud: AudienceClaim(value: settings.service), exp: ExpirationClaim(value: now.addingTimeInterval(Double(lifetime))),
            nbf: NotBeforeClaim(value: now.addingTimeInterval(-1)), iat: IssuedAtClaim(value: now),
            jti: IDClaim(value: Secrets.id()), access: access, berthToken: tokenID)
        let token = try await keys.sign(claims, kid: JWKIdentifier(string: kid))
        return (token, lifetime, now)
    }

    /// The token's grants when its signature, issuer, audience and times check out; nil otherwise.
    public func verify(_ token: String) async -> VerifiedToken? {
        let now = Date()
        if let known = verified.withLock({ $0[token] }) {
            return known.expiresAt > now ? known : nil
        }
        guard token.utf8.count <= 16_384, let claims = await claims(of: token) else { return nil }
        let leeway = Double(settings.leeway.components.seconds)
        guard claims.iss.value == settings.issuer, claims.aud.value.contains(settings.service),
              claims.exp.value.addingTimeInterval(leeway) > now,
              (claims.nbf?.value ?? .distantPast) <= now.addingTimeInterval(leeway) else { return nil }
        var repositories: [String: Set<Action>] = [:]
        var catalog = false
        var admin = Set<String>()
        for entry in claims.access ?? [] {
            if entry.type == "repository" {
                let actions = entry.actions.contains("*") ? Set(Action.allCases) : Set(entry.actions.compactMap(Action.init(rawValue:)))
                repositories[entry.name, default: []].formUnion(actions)
            } else if entry.type == "registry", entry.name == "catalog", entry.actions.contains("*") {
                catalog = true
            } else if entry.type == "admin", entry.actions.contains("*"), AdminScope(area: entry.name) != nil {
                admin.insert(entry.name)
            }
        }
        let result = VerifiedToken(subject: claims.sub.value, tokenID: claims.berthToken, repositories: repositories,
                                   catalog: catalog, admin: admin, expiresAt: claims.exp.value.addingTimeInterval(leeway))
        verified.withLock { cache in
            if cache.count >= 10_000 { cache = cache.filter { $0.value.expiresAt > now } }
            if cache.count < 10_000 { cache[token] = result }
        }
        return result
    }
}
