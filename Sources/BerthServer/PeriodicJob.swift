import Logging
import ServiceLifecycle

/// Runs a job every `interval` until shutdown: first at start (`atStart`) or one interval after it, and
/// once more at shutdown (`atShutdown`). A failed run is logged and the next one comes on schedule.
struct PeriodicJob: Service {
    let name: String
    let interval: Duration
    var atStart = false
    var atShutdown = false
    let logger: Logger
    let job: @Sendable () async throws -> Void

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                if atStart { await once() }
                while true {
                    try await Task.sleep(for: interval)
                    await once()
                }
            }
        } catch is CancellationError {
            // Shutdown: a run in progress stops at its next suspension point.
        }
        if atShutdown { await once() }
    }

    private func once() async {
        do {
            try await job()
        } catch is CancellationError {
        } catch {
            logger.error("\(name) failed: \(String(reflecting: error))")
        }
    }
}
