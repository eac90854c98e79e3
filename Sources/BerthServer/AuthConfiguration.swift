import Foundation

/// The `auth:` and `tls:` settings (docs/SECURITY.md).
public struct AuthConfiguration: Sendable, Equatable {
    public enum Mode: String, Sendable, CaseIterable { case none, basic, token, external }

    public var mode = Mode.none
    /// Basic mode's realm.
    public var realm = "Berth"
    public var htpasswd: String?
    /// htpasswd users who are global administrators.
    public var admins: [String] = []
    public var tokenService = "berth"
    public var tokenIssuer = "berth"
    /// Where clients fetch tokens; nil: this server's `/auth/token` at the Host the client used.
    public var tokenRealm: String?
    public var tokenExpiresIn: Duration = .seconds(300)
    /// The folder of token signing keys; nil: `keys/` under the root. Instances behind one load balancer share
    /// one (a mounted secret or shared folder), so that a token any of them issues verifies on all.
    public var tokenKeys: String?
    public var refreshExpiresIn: Duration = .seconds(30 * 86400)
    public var externalRealm: String?
    public var externalService: String?
    public var externalIssuer: String?
    public var externalJWKS: String?
    public var externalCertificate: String?
    public var leeway: Duration = .seconds(60)
    public var lockoutAttempts = 5
    public var lockoutAddressAttempts: Int?
    /// Audit records are kept this long (nil: forever); ended access tokens this long after they end.
    public var auditRetention: Duration? = .seconds(365 * 86400)
    public var tokenRetention: Duration = .seconds(30 * 86400)
    public var lockoutWindow: Duration = .seconds(60)
    public var tlsCertificate: String?
    public var tlsKey: String?

    public init() {}

    mutating func apply(_ file: ConfigFile.Auth?, tls: ConfigFile.TLS?) throws {
        if let file {
            if let text = file.mode {
                guard let parsed = Mode(rawValue: text) else {
                    throw ConfigurationError("auth.mode must be one of \(Mode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                mode = parsed
            }
            if let realm = file.realm { self.realm = realm }
            htpasswd = file.htpasswd ?? htpasswd
            admins = file.admins ?? admins
            if let token = file.token {
                tokenService = token.service ?? tokenService
                tokenIssuer = token.issuer ?? tokenIssuer
                tokenRealm = token.realm.flatMap { $0.isEmpty ? nil : $0 } ?? tokenRealm
                tokenKeys = token.keys.flatMap { $0.isEmpty ? nil : $0 } ?? tokenKeys
                if let text = token.expiresIn { tokenExpiresIn = try Configuration.duration(text, "auth.token.expires_in") }
                if let text = token.refreshExpiresIn {
                    refreshExpiresIn = try Configuration.duration(text, "auth.token.refresh_expires_in")
                }
            }
            if let external = file.external {
                externalRealm = external.realm
                externalService = external.service
                externalIssuer = external.issuer
                externalJWKS = external.jwks
                externalCertificate = external.certificate
                if let text = external.leeway { leeway = try Configuration.duration(text, "auth.external.leeway") }
            }
            if let retention = file.retention {
                if let text = retention.audit {
                    auditRetention = text == "forever" ? nil : try Configuration.duration(text, "auth.retention.audit")
                }
                if let text = retention.tokens { tokenRetention = try Configuration.duration(text, "auth.retention.tokens") }
            }
            if let lockout = file.lockout {
                if let attempts = lockout.attempts {
                    guard (1...1_000_000).contains(attempts) else { throw ConfigurationError("auth.lockout.attempts is 1 to 1000000") }
                    lockoutAttempts = attempts
                }
                if let attempts = lockout.addressAttempts {
                    guard (1...4_000_000).contains(attempts) else {
                        throw ConfigurationError("auth.lockout.address_attempts is 1 to 4000000")
                    }
                    lockoutAddressAttempts = attempts
                }
                if let text = lockout.window { lockoutWindow = try Configuration.duration(text, "auth.lockout.window") }
            }
        }
        if let tls {
            tlsCertificate = tls.certificate
            tlsKey = tls.key
        }
        try validate()
    }

    func validate() throws {
        if (tlsCertificate == nil) != (tlsKey == nil) { throw ConfigurationError("tls needs both certificate and key") }
        if mode == .external {
            guard externalRealm != nil, externalService != nil, externalIssuer != nil else {
                throw ConfigurationError("auth.external needs realm, service and issuer")
            }
            guard externalJWKS != nil || externalCertificate != nil else {
                throw ConfigurationError("auth.external needs jwks or certificate")
            }
        }
    }
}

extension ConfigFile {
    struct Auth: Decodable {
        struct Token: Decodable {
            var service: String?
            var issuer: String?
            var realm: String?
            var keys: String?
            var expiresIn: String?
            var refreshExpiresIn: String?
            enum CodingKeys: String, CodingKey {
                case service, issuer, realm, keys
                case expiresIn = "expires_in", refreshExpiresIn = "refresh_expires_in"
            }
        }

        struct External: Decodable {
            var realm: String?
            var service: String?
            var issuer: String?
            var jwks: String?
            var certificate: String?
            var leeway: String?
        }

        struct Retention: Decodable {
            var audit: String?
            var tokens: String?
        }

        struct Lockout: Decodable {
            var attempts: Int?
            var window: String?
            var addressAttempts: Int?
            enum CodingKeys: String, CodingKey { case attempts, window, addressAttempts = "address_attempts" }
        }

        var mode: String?
        var realm: String?
        var htpasswd: String?
        var admins: [String]?
        var token: Token?
        var external: External?
        var lockout: Lockout?
        var retention: Retention?
    }

    struct TLS: Decodable {
        var certificate: String?
        var key: String?
    }
}
