import BerthAuth
import BerthCore
import BerthWire
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import ServiceLifecycle

/// How the HTTP server listens and bounds its connections.
public struct HTTPOptions: Sendable {
    public var host: String
    public var port: Int
    /// Closes a connection on which nothing moved for this long, mid-request (a stalled body) or between requests.
    public var idleTimeout: Duration
    /// Connections accepted at once; more wait in the listen backlog.
    public var maxConnections: Int
    /// Serve HTTPS only, with this configuration.
    public var tls: TLSConfiguration?
    /// `/healthz` reports a store that has not answered within this as failed.
    public var healthTimeout: Duration
    /// `/healthz` reuses a result this long, so frequent probes do not each reach the stores.
    public var healthCacheFor: Duration
    /// Proxies whose `X-Forwarded-For` names the client (for throttling and the audit log).
    public var trustedProxies: [IPNetwork] = []

    public init(host: String, port: Int, idleTimeout: Duration = .seconds(60), maxConnections: Int = 2048,
                tls: TLSConfiguration? = nil, healthTimeout: Duration = .seconds(2), healthCacheFor: Duration = .seconds(1)) {
        self.host = host
        self.port = port
        self.idleTimeout = idleTimeout
        self.maxConnections = maxConnections
        self.tls = tls
        self.healthTimeout = healthTimeout
        self.healthCacheFor = healthCacheFor
    }
}

/// Who may do what, for the HTTP layer.
public struct AuthOptions: Sendable {
    public var mode: AuthMode
    /// Users, namespaces and roles; nil only with mode `none` and no admin API.
    public var access: AccessControl?
    /// Lifetime of the token service's refresh tokens.
    public var refreshExpiresIn: Duration

    public init(mode: AuthMode = .none, access: AccessControl? = nil, refreshExpiresIn: Duration = .seconds(30 * 86400)) {
        self.mode = mode
        self.access = access
        self.refreshExpiresIn = refreshExpiresIn
    }
}

/// Builds the HTTP application: the registry API under `/v2` (a middleware), the token service under
/// `/auth/token`, the admin API under `/api/v1`, `/healthz` and `/metrics` (routes); metrics, common headers
/// and the access log are middlewares.
///
/// `/metrics` is unauthenticated, like `/healthz`: it shows counts by route kind, never names, digests or
/// callers. (To be made configurable for deployments that expose the port beyond their scraper.)
public enum RegistryApplication {
    public static func make(
        service: RegistryService,
        http: HTTPOptions,
        auth: AuthOptions = .init(),
        logger: Logger,
        accessLogger: Logger? = nil,
        services: [any Service] = [],
        metrics: BerthMetrics = BerthMetrics(),
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        let router = Router(context: BerthRequestContext.self)
        if !http.trustedProxies.isEmpty {
            router.add(middleware: ClientAddressMiddleware(forwarded: ForwardedFor(trusted: http.trustedProxies)))
        }
        router.add(middleware: FramingMiddleware())
        router.add(middleware: MetricsMiddleware(metrics: metrics))
        router.add(middleware: CommonHeadersMiddleware(accessLog: AccessLog(logger: accessLogger ?? logger)))
        let gate = Gate(mode: auth.mode, access: auth.access, tls: http.tls != nil)
        router.add(middleware: RegistryAPIMiddleware(api: RegistryAPI(service: service, gate: gate)))
        HealthEndpoint(service: service, timeout: http.healthTimeout, cacheFor: http.healthCacheFor,
                       metrics: metrics, logger: logger).register(on: router)
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
        }
        if let access = auth.access {
            var authority: TokenAuthority?
            if case .token(_, let issuing) = auth.mode {
                authority = issuing
                TokenEndpoint(access: access, authority: issuing, refreshExpiresIn: auth.refreshExpiresIn).register(on: router)
            }
            AdminAPI(access: access, authority: authority, realm: "Berth", rules: service.tagRules,
                     lifecycle: service.lifecycle, quotas: service.quotas, usage: service.usage,
                     registry: service).register(on: router)
        }
        let http1 = HTTPServerBuilder.http1(configuration: .init(additionalChannelHandlers: [ParseErrorResponder()],
                                                                 idleTimeout: TimeAmount(http.idleTimeout)))
        let server = try http.tls.map { try HTTPServerBuilder.tls(http1, tlsConfiguration: $0) } ?? http1
        return Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(http.host, port: http.port), serverName: "berth",
                                 availableConnectionsDelegate: .maximum(http.maxConnections, logger: logger)),
            services: services,
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? http.port) },
            logger: logger
        )
    }
}

/// `/v2` and everything under it, answered by the registry API. A middleware rather than routes: the API
/// recognizes its routes from the path's end (names have any number of components), so a trie walk over
/// every component would only add work on the hottest paths.
struct RegistryAPIMiddleware: RouterMiddleware {
    typealias Context = BerthRequestContext
    let api: RegistryAPI

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        guard path.hasPrefix("/v2"), path.utf8.count == 3 || path.utf8.dropFirst(3).first == UInt8(ascii: "/") else {
            return try await next(request, context)
        }
        return await api.respond(to: request, context: context)
    }
}

/// Behind trusted proxies, the client is the right-most `X-Forwarded-For` address that is not one of them;
/// from anywhere else the header is ignored. Only installed when `http.trusted_proxies` names any.
struct ClientAddressMiddleware: RouterMiddleware {
    typealias Context = BerthRequestContext
    let forwarded: ForwardedFor

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let values = request.headers[values: .xForwardedFor]
        if !values.isEmpty, let peer = context.peer?.ipAddress {
            context.forwardedAddress = forwarded.client(peer: peer, headers: values.map { Substring($0) })
        }
        return try await next(request, context)
    }
}

/// On every response: `X-Content-Type-Options: nosniff` (nothing Berth serves is meant to be sniffed into HTML
/// or script) and one access-log line.
struct CommonHeadersMiddleware: RouterMiddleware {
    typealias Context = BerthRequestContext
    let accessLog: AccessLog

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as HTTPError {
            response = Response(status: error.status, headers: [.contentLength: "0"])
        }
        response.headers[.xContentTypeOptions] = "nosniff"
        accessLog.record(request, response, since: start)
        return response
    }
}
