import BerthAuth
import Dispatch
import Foundation
import Logging
import ServiceLifecycle

/// Keeps access control current and the audit log stored: every second, reloads users, roles, tokens and
/// signing keys when another process changed them, and writes pending audit records.
struct AccessRefreshService: Service {
    let access: AccessControl
    let audit: AuditLog
    /// Picks up signing keys added by `berth key rotate`, or removed.
    let authority: TokenAuthority?
    let logger: Logger

    /// An external issuer's keys (a JWKS file, a certificate) are re-read this often, as well as on SIGHUP and
    /// when a token names a key id not loaded.
    static let externalKeysEvery = 300

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                var tick = 0
                while true {
                    try await Task.sleep(for: .seconds(1))
                    tick += 1
                    await once(reloadExternal: tick % Self.externalKeysEvery == 0)
                }
            }
        } catch is CancellationError {}
        await once(reloadExternal: false)
    }

    private func once(reloadExternal: Bool) async {
        do {
            try await access.refreshIfChanged()
            if let authority {
                if authority.isExternal {
                    if reloadExternal { try await authority.reloadKeys() }
                } else {
                    try await authority.reloadKeysIfChanged()
                }
            }
            try await audit.flush()
        } catch {
            logger.error("access refresh failed: \(String(reflecting: error))")
        }
    }
}

/// SIGHUP reloads the TLS certificate, the htpasswd file and the token signing keys.
struct HangupService: Service {
    let tls: TLSCertificates?
    let access: AccessControl?
    let authority: TokenAuthority?
    let logger: Logger

    func run() async throws {
        signal(SIGHUP, SIG_IGN)
        let (hangups, continuation) = AsyncStream.makeStream(of: Void.self)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP)
        source.setEventHandler { continuation.yield() }
        source.resume()
        defer { source.cancel() }
        await cancelWhenGracefulShutdown {
            for await _ in hangups {
                logger.info("SIGHUP: reloading")
                tls?.reload(logger: logger)
                do {
                    try await access?.reload()
                    try await authority?.reloadKeys()
                } catch {
                    logger.error("reload failed: \(error)")
                }
            }
        }
        continuation.finish()
    }
}
