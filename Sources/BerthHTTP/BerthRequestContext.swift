import Hummingbird
import NIOCore

/// The request context of every route: Hummingbird's core context and the client's address (for throttling
/// and the audit log).
public struct BerthRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    let peer: SocketAddress?
    /// The client's address as a trusted proxy reported it (`X-Forwarded-For`), set by `ClientAddressMiddleware`.
    var forwardedAddress: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        peer = source.channel.remoteAddress
    }

    /// Formatted only when asked (logins, audit records): most requests never need it.
    public var remoteAddress: String? { forwardedAddress ?? peer?.ipAddress }
}
