import BerthCore
import Prometheus
import Synchronization

/// The server's Prometheus metrics, served at `/metrics`. One registry per application (not the process-wide
/// default), so that several servers in one process (the tests) count apart. Code outside the HTTP layer can
/// report into the same registry through swift-metrics with `factory` (e.g. `MetricsSystem.bootstrap`).
public final class BerthMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let bytesReceived: Prometheus.Counter
    let bytesSent: Prometheus.Counter
    private let uploadsOpened: Prometheus.Counter
    private let uploadsCompleted: Prometheus.Counter
    private let uploadsCancelled: Prometheus.Counter
    /// Series by route kind and status, made on first use: one lock and one lookup per request.
    private let series = Mutex<[SeriesKey: Series]>([:])

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        bytesReceived = registry.makeCounter(descriptor: Self.name(
            "http", "received_bytes", "total", "Request body bytes received, counted as they arrive"))
        bytesSent = registry.makeCounter(descriptor: Self.name(
            "http", "sent_bytes", "total", "Response body bytes handed to the connection"))
        func uploads(_ event: String) -> Prometheus.Counter {
            registry.makeCounter(descriptor: Self.name(
                nil, "upload_sessions", "total",
                "Upload sessions opened (POST answered 202), completed (PUT answered 201) and cancelled (DELETE answered 204)"),
                labels: [("event", event)])
        }
        uploadsOpened = uploads("opened")
        uploadsCompleted = uploads("completed")
        uploadsCancelled = uploads("cancelled")
    }

    /// `berth_<subsystem>_<metric>_<unit>`, with its help text (the registry checks every use of a name
    /// carries the same).
    static func name(_ subsystem: String?, _ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "berth", subsystem: subsystem, metricName: metric, unitName: unit, helpText: help)
    }

    /// swift-metrics reporting into this registry.
    public var factory: PrometheusMetricsFactory { PrometheusMetricsFactory(registry: registry) }

    /// The Prometheus text exposition of every metric.
    func exposition() -> [UInt8] { registry.emitToBuffer() }

    /// Latency buckets: a HEAD or a manifest GET takes well under a millisecond on a warm cache, a large
    /// monolithic upload can take a minute.
    static let latencyBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
    ]

    /// Counts one answered request.
    func record(_ kind: RouteKind, status: Int, elapsed: Duration) {
        let key = SeriesKey(kind: kind, status: UInt16(clamping: status))
        let entry = series.withLock { table in
            if let entry = table[key] { return entry }
            let entry = Series(kind: kind, status: status, registry: registry)
            table[key] = entry
            return entry
        }
        entry.requests.increment()
        entry.latency.record(elapsed)
        entry.backendErrors?.increment()
        if kind.resource == .upload {
            switch (kind.verb, status) {
            case (.post, 202): uploadsOpened.increment()
            case (.put, 201): uploadsCompleted.increment()
            case (.delete, 204): uploadsCancelled.increment()
            default: break
            }
        }
    }

    /// Sets `berth_health_up{part}` from a health check.
    func record(_ report: HealthReport) {
        for (part, outcome) in [("storage", report.storage), ("database", report.database)] {
            registry.makeGauge(descriptor: Self.name(nil, "health", "up", "1 when the part answered the last /healthz check in time, else 0"),
                               labels: [("part", part)])
                .set(to: outcome == .ok ? 1.0 : 0.0)
        }
    }

    private struct SeriesKey: Hashable {
        let kind: RouteKind
        let status: UInt16
    }

    /// The metrics one (route kind, status) pair updates.
    private final class Series: Sendable {
        let requests: Prometheus.Counter
        let latency: DurationHistogram
        /// Only for 500s: the API answers every error of its own (bad requests, unknown names, refusals)
        /// with a 4xx, so a 500 means a blob store, metadata store or access store call threw.
        let backendErrors: Prometheus.Counter?

        init(kind: RouteKind, status: Int, registry: PrometheusCollectorRegistry) {
            let route = kind.label
            requests = registry.makeCounter(
                descriptor: BerthMetrics.name("http", "requests", "total", "HTTP requests answered, by route kind (resource_method) and status"),
                labels: [("route", route), ("status", String(status))])
            latency = registry.makeDurationHistogram(
                descriptor: BerthMetrics.name(
                    "http", "request_duration", "seconds",
                    "Time from a request's arrival to its response head, by route kind (includes a request body received, not a response body sent)"),
                labels: [("route", route)], buckets: BerthMetrics.latencyBuckets)
            backendErrors = status == 500 ? registry.makeCounter(
                descriptor: BerthMetrics.name(nil, "backend_errors", "total", "Requests that failed with 500 because a storage or database call threw"),
                labels: [("route", route)]) : nil
        }
    }
}
