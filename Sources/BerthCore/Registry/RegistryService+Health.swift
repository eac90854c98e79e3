import Synchronization

/// The outcome of one health check: how the blob store and the metadata store answered.
public struct HealthReport: Sendable, Equatable {
    public enum Outcome: String, Sendable, Equatable {
        case ok
        /// The check threw.
        case error
        /// The check did not answer within the timeout (a hung mount, an unreachable database).
        case timeout
    }

    public var storage: Outcome
    public var database: Outcome
    /// What the failed checks threw, for the server's log only: a driver's message may name paths or hosts,
    /// which a health endpoint open to anyone should not show.
    public var details: [String: String]

    public init(storage: Outcome, database: Outcome, details: [String: String] = [:]) {
        self.storage = storage
        self.database = database
        self.details = details
    }

    public var healthy: Bool { storage == .ok && database == .ok }
}

extension RegistryService {
    /// Asks the blob store and the metadata store, at the same time, whether they can serve. Returns within
    /// about `timeout` even when a check hangs and ignores cancellation (that check is cancelled and left to
    /// finish on its own), so a load balancer's probe never waits on a stuck mount or database.
    public func checkHealth(timeout: Duration = .seconds(2)) async -> HealthReport {
        async let storage = Self.probe(timeout) { [blobs] in try await blobs.checkHealth() }
        async let database = Self.probe(timeout) { [metadata] in try await metadata.checkHealth() }
        let (storageResult, databaseResult) = await (storage, database)
        var details: [String: String] = [:]
        details["storage"] = storageResult.detail
        details["database"] = databaseResult.detail
        return HealthReport(storage: storageResult.outcome, database: databaseResult.outcome, details: details)
    }

    /// Runs `check` in its own task and returns its outcome, or `.timeout` once `timeout` has passed,
    /// whichever comes first. Not a task group: a group waits for all its children, a hung one included.
    static func probe(_ timeout: Duration, _ check: @escaping @Sendable () async throws -> Void) async
        -> HealthProbe.Result {
        let probe = HealthProbe()
        return await withCheckedContinuation { continuation in
            probe.waiter.withLock { $0 = continuation }
            let work = Task {
                let result: HealthProbe.Result
                do {
                    try await check()
                    result = (.ok, nil)
                } catch {
                    result = (.error, String(describing: error))
                }
                probe.timer.withLock { $0 }?.cancel()
                probe.finish(result)
            }
            let timer = Task {
                try? await Task.sleep(for: timeout)
                guard !Task.isCancelled else { return }
                work.cancel()
                probe.finish((.timeout, "no answer within \(timeout)"))
            }
            probe.timer.withLock { $0 = timer }
        }
    }
}

/// The state one probe's check and timer share (noncopyable mutexes cannot be captured by tasks directly).
final class HealthProbe: Sendable {
    typealias Result = (outcome: HealthReport.Outcome, detail: String?)
    /// Whoever takes the continuation first resumes it; the other finds nil.
    let waiter = Mutex<CheckedContinuation<Result, Never>?>(nil)
    /// The timer, so a check that answers in time stops it rather than leaving it asleep.
    let timer = Mutex<Task<Void, Never>?>(nil)

    func finish(_ result: Result) {
        waiter.withLock { $0.take() }?.resume(returning: result)
    }
}
