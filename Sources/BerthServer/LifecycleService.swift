import BerthCore
import Logging
import ServiceLifecycle

/// Writes the manifest pulls noted in memory every `interval`, and once more at shutdown.
struct PullFlushService: Service {
    let registry: RegistryService
    let interval: Duration
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while true {
                try await Task.sleep(for: interval)
                await flush()
            }
        }
        await flush()
    }

    private func flush() async {
        do {
            try await registry.flushPulls()
        } catch {
            logger.warning("recording pull times failed (kept for the next try): \(String(reflecting: error))")
        }
    }
}

/// Applies lifecycle policies every `interval` (the first run one interval after start), one instance at a
/// time over a shared database, until shutdown. Every expiry goes to the audit log.
struct LifecycleService: Service {
    let lifecycle: Lifecycle
    let jobs: any StoreOperations
    let interval: Duration
    let logger: Logger

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while true {
                    try await Task.sleep(for: interval)
                    await applyOnce()
                }
            }
        } catch is CancellationError {
            // Shutdown: a run in progress stops between deletions.
        }
    }

    private func applyOnce() async {
        do {
            let deleted = try await jobs.exclusively("lifecycle") {
                try await lifecycle.applyAll(by: Caller(user: "@lifecycle"))
            }
            if let deleted, deleted > 0 { logger.info("lifecycle policies expired \(deleted) manifests") }
        } catch is CancellationError {
        } catch {
            logger.error("lifecycle run failed: \(String(reflecting: error))")
        }
    }
}
