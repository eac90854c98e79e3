import BerthWire
import NIOCore

/// A request body whose failures (the client closed the connection, garbled chunked encoding, sent fewer
/// bytes than its Content-Length and went idle) are the client's fault: they surface as a 400, not a 500.
struct ClientBody<Base: AsyncSequence<ByteBuffer, any Error>>: AsyncSequence {
    typealias Element = ByteBuffer
    let base: Base

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator

        mutating func next() async throws -> ByteBuffer? {
            do {
                return try await base.next()
            } catch let error as CancellationError {
                throw error
            } catch {
                throw APIError.bodyIncomplete
            }
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator()) }
}
