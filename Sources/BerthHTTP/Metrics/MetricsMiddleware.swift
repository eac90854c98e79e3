import Hummingbird
import NIOCore
import Prometheus

/// Counts every request by route kind and status, times it, and counts body bytes both ways. The first
/// middleware on the router, so it also sees the 404s and the errors the others let through.
struct MetricsMiddleware: RouterMiddleware {
    typealias Context = BerthRequestContext
    let metrics: BerthMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let kind = RouteKind(method: request.method, path: request.uri.path)
        var request = request
        if Self.hasBody(request) {
            // Counted as the bytes arrive, so a body cut short counts what came.
            request.body = RequestBody(asyncSequence: CountingBody(base: request.body, counter: metrics.bytesReceived))
        }
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            // What Hummingbird will answer: the error's own status, else 500.
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            metrics.record(kind, status: status, elapsed: ContinuousClock.now - start)
            throw error
        }
        metrics.record(kind, status: response.status.code, elapsed: ContinuousClock.now - start)
        // Empty bodies (HEADs, 201s, 202s) have nothing to count: no wrapper on the hottest paths.
        if response.body.contentLength != 0 {
            let body = response.body
            let counter = metrics.bytesSent
            // The same length, so the Content-Length header stays as it was.
            response.body = ResponseBody(contentLength: body.contentLength) { writer in
                try await body.write(CountingWriter(base: writer, counter: counter))
            }
        }
        return response
    }

    /// A request body is announced by a non-zero Content-Length or by Transfer-Encoding.
    static func hasBody(_ request: Request) -> Bool {
        if let length = request.headers[.contentLength] { return length != "0" }
        return request.headers[.transferEncoding] != nil
    }
}

/// A request body that counts its bytes as they are read.
struct CountingBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let base: RequestBody
    let counter: Prometheus.Counter

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: RequestBody.AsyncIterator
        let counter: Prometheus.Counter

        mutating func next() async throws -> ByteBuffer? {
            let buffer = try await base.next()
            if let buffer { counter.increment(by: Int64(buffer.readableBytes)) }
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator(), counter: counter) }
}

/// A response body writer that counts the bytes it hands on.
struct CountingWriter: ResponseBodyWriter {
    var base: any ResponseBodyWriter
    let counter: Prometheus.Counter

    mutating func write(_ buffer: ByteBuffer) async throws {
        try await base.write(buffer)
        counter.increment(by: Int64(buffer.readableBytes))
    }

    mutating func write(contentsOf buffers: some Sequence<ByteBuffer>) async throws {
        for buffer in buffers { try await write(buffer) }
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        try await base.finish(trailingHeaders)
    }
}
