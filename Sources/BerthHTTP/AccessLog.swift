import Hummingbird
import Logging
import NIOCore

/// One line per request: method, path, status, response bytes and duration.
struct AccessLog: Sendable {
    let logger: Logger

    func record(_ request: Request, _ response: Response, since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        // Tenths of a millisecond with integer arithmetic: String(format:) costs more than the rest of the line.
        let tenths = elapsed.components.seconds * 10_000 + elapsed.components.attoseconds / 100_000_000_000_000
        let bytes = response.headers[.contentLength] ?? "-"
        logger.info("\(request.method) \(request.uri.path) \(response.status.code) \(bytes) \(tenths / 10).\(tenths % 10)ms")
    }
}
