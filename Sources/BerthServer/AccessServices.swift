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
    /// Picks up signing keys added by `berth key rotate`.
    let authority: TokenAuthority?
    let keysFolder: String
    let logger: Logger

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while true {
                    try await Task.sleep(for: .seconds(1))
                    await once()
                }
            }
        } catch is CancellationError {}
        await once()
    }

    private func once() async {
        do {
            try await access.refreshIfChanged()
            try await authority?.reloadKeysIfChanged(folder: keysFolder)
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
    let keysFolder: String
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
                    try await authority?.reloadKeys(folder: keysFolder)
                } catch {
                    logger.error("reload failed: \(error)")
                }
            }
        }
        continuation.finish()
    }
}
