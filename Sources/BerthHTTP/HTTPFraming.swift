import BerthWire
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Requests whose framing Berth cannot trust are refused before any route sees them (RFC 9112): a
/// `Transfer-Encoding` other than `chunked` (501: its body's length is unknown, and what follows it would be read
/// as the next request), and a request without a `Host` or with two (400; HTTP/1.0 clients send one too).
struct FramingMiddleware: RouterMiddleware {
    typealias Context = BerthRequestContext
    static let host = HTTPField.Name("Host")!

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // Cheap on the hot path: one lookup each, an array only when the header is there at all.
        if request.headers[.transferEncoding] != nil, !request.headers[values: .transferEncoding].allSatisfy({
            $0.trimmingCharacters(in: .whitespaces).lowercased() == "chunked"
        }) {
            return Self.refuse(APIError(.unsupported, status: 501, "unsupported Transfer-Encoding; only chunked is implemented"))
        }
        if request.head.authority == nil || request.headers[Self.host] != nil {
            return Self.refuse(APIError(.unsupported, status: 400, "a request needs exactly one Host header"))
        }
        return try await next(request, context)
    }

    /// The connection closes after the refusal: what the client sends next cannot be told apart from a body.
    static func refuse(_ error: APIError) -> Response {
        ErrorResponse.response(error, headers: [.connection: "close"])
    }
}

/// A request the HTTP parser cannot read (a path with bytes that are neither ASCII nor UTF-8, a malformed header)
/// gets the registry's JSON error body instead of Hummingbird's empty 400, and the connection closes.
///
/// Only between requests: while a request is in flight (its body being read, or its answer not yet written)
/// the error goes on to Hummingbird, which fails the body stream, so a body cut short or garbled is never
/// taken for a complete one, and no answer is written out of order.
final class ParseErrorResponder: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// Requests begun and answers finished on this connection.
    private var requests = 0
    private var answers = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) { requests += 1 }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { answers += 1 }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError, requests == answers else {
            context.fireErrorCaught(error)
            return
        }
        let body = ByteBuffer(string: #"{"errors":[{"code":"UNSUPPORTED","message":"malformed HTTP request"}]}"#)
        let head = HTTPResponse(status: .badRequest, headerFields: [
            .contentType: "application/json", .contentLength: String(body.readableBytes), .connection: "close",
        ])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }
}
