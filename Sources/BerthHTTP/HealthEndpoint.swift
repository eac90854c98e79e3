import BerthCore
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// `GET /healthz` and `HEAD /healthz`: 200 `{"status":"ok"}` when the blob store and the metadata store both
/// answered within the timeout, else 503 naming the part that failed (`error` or `timeout`, never the
/// driver's message, which may name hosts or paths; that goes to the log). Unauthenticated, as load
/// balancers probe it.
///
/// A result is reused for `cacheFor`, and concurrent probes share one check in flight, so a load balancer
/// polling every few milliseconds costs the stores one check per interval.
final class HealthEndpoint: Sendable {
    let service: RegistryService
    let timeout: Duration
    let cacheFor: Duration
    let metrics: BerthMetrics?
    let logger: Logger

    private struct State {
        var last: (report: HealthReport, at: ContinuousClock.Instant)?
        var running: Task<HealthReport, Never>?
    }
    private let state = Mutex(State())

    init(service: RegistryService, timeout: Duration, cacheFor: Duration, metrics: BerthMetrics?, logger: Logger) {
        self.service = service
        self.timeout = timeout
        self.cacheFor = cacheFor
        self.metrics = metrics
        self.logger = logger
    }

    func register(on router: Router<BerthRequestContext>) {
        router.get("/healthz") { _, _ in await self.response(head: false) }
        router.head("/healthz") { _, _ in await self.response(head: true) }
    }

    func response(head: Bool) async -> Response {
        let report = await current()
        let body = report.healthy
            ? #"{"status":"ok"}"#
            : #"{"database":"\#(report.database.rawValue)","status":"unavailable","storage":"\#(report.storage.rawValue)"}"#
        var headers: HTTPFields = [.contentType: "application/json", .cacheControl: "no-store"]
        let status: HTTPResponse.Status = report.healthy ? .ok : .serviceUnavailable
        if head {
            headers[.contentLength] = String(body.utf8.count)
            return Response(status: status, headers: headers)
        }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }

    /// The cached report while fresh, else the check in flight, else a new check.
    func current() async -> HealthReport {
        enum Next { case cached(HealthReport), wait(Task<HealthReport, Never>) }
        let now = ContinuousClock.now
        let next: Next = state.withLock { state in
            if let last = state.last, now - last.at < cacheFor { return .cached(last.report) }
            if let running = state.running { return .wait(running) }
            let running = Task { await self.check() }
            state.running = running
            return .wait(running)
        }
        switch next {
        case .cached(let report): return report
        case .wait(let task): return await task.value
        }
    }

    private func check() async -> HealthReport {
        let report = await service.checkHealth(timeout: timeout)
        let previous = state.withLock { state in
            let previous = state.last?.report
            state.last = (report, ContinuousClock.now)
            state.running = nil
            return previous
        }
        metrics?.record(report)
        // Log changes only: a load balancer's probes would otherwise repeat the same line every second.
        let changed = previous.map { ($0.storage, $0.database) != (report.storage, report.database) } ?? !report.healthy
        if changed {
            if report.healthy {
                logger.notice("health: storage and database answer again")
            } else {
                let parts = report.details.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
                logger.error("health: unavailable (storage \(report.storage.rawValue), database \(report.database.rawValue)); \(parts.joined(separator: "; "))")
            }
        }
        return report
    }
}
