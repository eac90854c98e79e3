import Hummingbird
import NIOCore

/// The request context of every route: Hummingbird's core context and the client's address (for throttling
/// and the audit log).
public struct BerthRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress
    }
}
