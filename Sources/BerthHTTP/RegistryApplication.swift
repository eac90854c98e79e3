import BerthCore
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// Answers every request: `/v2` goes to the registry API, `/healthz` to the health check; each is logged.
struct RegistryResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let api: RegistryAPI<BasicRequestContext>
    let accessLog: AccessLog

    func respond(to request: Request, context: Context) async throws -> Response {
        let start = ContinuousClock.now
        var response = await route(request, context)
        // Nothing Berth serves is meant to be sniffed into HTML or script by a browser.
        response.headers[.xContentTypeOptions] = "nosniff"
        accessLog.record(request, response, since: start)
        return response
    }

    private func route(_ request: Request, _ context: Context) async -> Response {
        if request.uri.path.hasPrefix("/v2") {
            return await api.respond(to: request, context: context)
        }
        if request.uri.path == "/healthz", request.method == .get || request.method == .head {
            return Response(status: .ok, headers: [.contentType: "text/plain", .contentLength: "3"],
                            body: request.method == .head ? ResponseBody() : ResponseBody(byteBuffer: ByteBuffer(string: "ok\n")))
        }
        return Response(status: .notFound, headers: [.contentLength: "0"])
    }
}

/// How the HTTP server listens and bounds its connections.
public struct HTTPOptions: Sendable {
    public var host: String
    public var port: Int
    /// Closes a connection on which nothing moved for this long, mid-request (a stalled body) or between requests.
    public var idleTimeout: Duration
    /// Connections accepted at once; more wait in the listen backlog.
    public var maxConnections: Int

    public init(host: String, port: Int, idleTimeout: Duration = .seconds(60), maxConnections: Int = 2048) {
        self.host = host
        self.port = port
        self.idleTimeout = idleTimeout
        self.maxConnections = maxConnections
    }
}

/// Builds the HTTP application serving a registry service.
public enum RegistryApplication {
    public static func make(
        service: RegistryService,
        http: HTTPOptions,
        logger: Logger,
        accessLogger: Logger? = nil,
        services: [any Service] = [],
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let responder = RegistryResponder(api: RegistryAPI(service: service),
                                          accessLog: AccessLog(logger: accessLogger ?? logger))
        return Application(
            responder: responder,
            server: .http1(configuration: .init(idleTimeout: TimeAmount(http.idleTimeout))),
            configuration: .init(address: .hostname(http.host, port: http.port), serverName: "berth",
                                 availableConnectionsDelegate: .maximum(http.maxConnections, logger: logger)),
            services: services,
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? http.port) },
            logger: logger
        )
    }
}
