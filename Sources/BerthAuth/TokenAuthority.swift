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
    public var expiresAt: Date
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
    let keys: JWTKeyCollection
    private let signing: Mutex<String?>
    /// The key files last loaded, to notice `berth key rotate`.
    private let keyFiles = Mutex<[String]>([])
    var signingKID: String? { signing.withLock { $0 } }
    /// Verified tokens by their text, until they expire: a request pays a dictionary lookup, not an ECDSA check.
    private let verified = Mutex<[String: VerifiedToken]>([:])

    init(settings: Settings, keys: JWTKeyCollection, signingKID: String?) {
        self.settings = settings
        self.keys = keys
        signing = Mutex(signingKID)
    }

    /// Picks up keys added to the folder (`berth key rotate`): the newest signs from now on.
    public func reloadKeys(folder: String) async throws {
        guard signingKID != nil else { return }
        keyFiles.withLock { $0 = SigningKeys.fileNames(folder) }
        let loaded = try SigningKeys.load(folder: folder)
        for key in loaded { await keys.add(ecdsa: key.key, kid: JWKIdentifier(string: key.kid)) }
        signing.withLock { $0 = loaded.last?.kid }
    }

    /// Reloads the keys when the folder's key files changed since the last load. Cheap: one folder listing.
    public func reloadKeysIfChanged(folder: String) async throws {
        guard signingKID != nil, keyFiles.withLock({ $0 }) != SigningKeys.fileNames(folder) else { return }
        try await reloadKeys(folder: folder)
    }

    /// Berth's own token service, signing with the newest key of `keysFolder` (made on first start).
    public static func issuing(keysFolder: String, settings: Settings) async throws -> TokenAuthority {
        let collection = JWTKeyCollection()
        let loaded = try SigningKeys.load(folder: keysFolder)
        for key in loaded { await collection.add(ecdsa: key.key, kid: JWKIdentifier(string: key.kid)) }
        let authority = TokenAuthority(settings: settings, keys: collection, signingKID: loaded.last?.kid)
        authority.keyFiles.withLock { $0 = SigningKeys.fileNames(keysFolder) }
        return authority
    }

    /// Verifies tokens of an external issuer, from a JWKS file or a PEM public key or certificate.
    public static func external(jwks: String?, certificate: String?, settings: Settings) async throws -> TokenAuthority {
        let collection = JWTKeyCollection()
        if let jwks { try await collection.add(jwksJSON: String(contentsOfFile: jwks, encoding: .utf8)) }
        if let certificate {
            let pem = try String(contentsOfFile: certificate, encoding: .utf8)
            if let key = (try? ES256PublicKey(certificate: pem)) ?? (try? ES256PublicKey(pem: pem)) {
                await collection.add(ecdsa: key)
            } else if let key = try? Insecure.RSA.PublicKey(certificatePEM: pem) {
                await collection.add(rsa: key, digestAlgorithm: .sha256)
            } else {
                await collection.add(rsa: try Insecure.RSA.PublicKey(pem: pem), digestAlgorithm: .sha256)
            }
        }
        return TokenAuthority(settings: settings, keys: collection, signingKID: nil)
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
        guard token.utf8.count <= 16_384, let claims = try? await keys.verify(token, as: RegistryClaims.self) else { return nil }
        let leeway = Double(settings.leeway.components.seconds)
        guard claims.iss.value == settings.issuer, claims.aud.value.contains(settings.service),
              claims.exp.value.addingTimeInterval(leeway) > now,
              (claims.nbf?.value ?? .distantPast) <= now.addingTimeInterval(leeway) else { return nil }
        var repositories: [String: Set<Action>] = [:]
        var catalog = false
        for entry in claims.access ?? [] {
            if entry.type == "repository" {
                let actions = entry.actions.contains("*") ? Set(Action.allCases) : Set(entry.actions.compactMap(Action.init(rawValue:)))
                repositories[entry.name, default: []].formUnion(actions)
            } else if entry.type == "registry", entry.name == "catalog", entry.actions.contains("*") {
                catalog = true
            }
        }
        let result = VerifiedToken(subject: claims.sub.value, tokenID: claims.berthToken, repositories: repositories,
                                   catalog: catalog, expiresAt: claims.exp.value.addingTimeInterval(leeway))
        verified.withLock { cache in
            if cache.count >= 10_000 { cache = cache.filter { $0.value.expiresAt > now } }
            if cache.count < 10_000 { cache[token] = result }
        }
        return result
    }
}
