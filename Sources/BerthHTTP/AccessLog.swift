import Foundation
import Hummingbird
import Logging
import NIOCore

/// One line per request: method, path, status, response bytes and duration.
struct AccessLog: Sendable {
    let logger: Logger

    func record(_ request: Request, _ response: Response, since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        let bytes = response.headers[.contentLength] ?? "-"
        logger.info("\(request.method) \(request.uri.path) \(response.status.code) \(bytes) \(String(format: "%.1f", ms))ms")
    }
}
