import BerthAuth
import BerthHTTP
import BerthSQLite
import Foundation
import Logging

/// Access control, the token authority and TLS, as the configuration asks.
struct Security {
    var access: AccessControl
    var authority: TokenAuthority?
    var tls: TLSCertificates?
    var options: AuthOptions

    /// The token signing keys' folder: `auth.token.keys`, else `keys/` under the root.
    static func keysFolder(_ configuration: Configuration, root: String) -> String {
        configuration.auth.tokenKeys.map { URL(fileURLWithPath: $0).standardizedFileURL.path } ?? root + "/keys"
    }

    static func make(_ configuration: Configuration, root: String, store: any AccessStore, audit: AuditLog,
                     logger: Logger) async throws -> Security {
        let auth = configuration.auth
        var settings = AccessSettings()
        settings.htpasswdPath = auth.htpasswd
        settings.htpasswdAdmins = Set(auth.admins)
        settings.lockoutAttempts = auth.lockoutAttempts
        settings.lockoutAddressAttempts = auth.lockoutAddressAttempts
        settings.auditRetention = auth.auditRetention
        settings.tokenRetention = auth.tokenRetention
        settings.lockoutWindow = auth.lockoutWindow
        let access = try await AccessControl(store: store, settings: settings, audit: audit,
                                             logger: Logger(label: "berth.auth"))
        var authority: TokenAuthority?
        let mode: AuthMode
        switch auth.mode {
        case .none:
            mode = .none
            if !isLoopback(configuration.host) {
                logger.warning("auth.mode is none: anyone who can reach \(configuration.host):\(configuration.port) may push and delete; see docs/SECURITY.md")
            }
        case .basic:
            mode = .basic(realm: auth.realm)
        case .token:
            let issuing = try await TokenAuthority.issuing(
                keysFolder: keysFolder(configuration, root: root),
                settings: .init(issuer: auth.tokenIssuer, service: auth.tokenService, expiresIn: auth.tokenExpiresIn,
                                leeway: auth.leeway))
            authority = issuing
            mode = .token(realm: auth.tokenRealm, authority: issuing)
        case .external:
            let verifying = try await TokenAuthority.external(
                jwks: auth.externalJWKS, certificate: auth.externalCertificate,
                settings: .init(issuer: auth.externalIssuer!, service: auth.externalService!, leeway: auth.leeway))
            authority = verifying
            mode = .external(realm: auth.externalRealm!, authority: verifying)
        }
        logger.info("auth mode \(mode.name)")
        let tls = try auth.tlsCertificate.map { try TLSCertificates(certificate: $0, key: auth.tlsKey!) }
        return Security(access: access, authority: authority, tls: tls,
                        options: AuthOptions(mode: mode, access: access, refreshExpiresIn: auth.refreshExpiresIn))
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}
