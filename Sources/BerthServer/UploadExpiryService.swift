import BerthCore
import Logging
import ServiceLifecycle

/// Removes upload sessions idle for longer than `age`, at start and then every `interval`, until shutdown.
/// Distribution purges after 7 days; Berth's default is 24 hours (see `Configuration.uploadExpiry`).
struct UploadExpiryService: Service {
    let registry: RegistryService
    let age: Duration
    let interval: Duration
    let logger: Logger

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while true {
                    await expireOnce()
                    try await Task.sleep(for: interval)
                }
            }
        } catch is CancellationError {
            // Shutdown: nothing to finish.
        }
    }

    private func expireOnce() async {
        do {
            let count = try await registry.expireUploads(idleFor: age)
            if count > 0 { logger.info("removed \(count) upload sessions idle for more than \(age)") }
        } catch is CancellationError {
        } catch {
            logger.error("upload expiry failed: \(String(reflecting: error))")
        }
    }
}
