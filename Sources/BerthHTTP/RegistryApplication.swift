import BerthCore
import Hummingbird
import Logging

/// Answers every request: `/v2` goes to the registry API, `/healthz` to the health check; each is logged.
struct RegistryResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let api: RegistryAPI<BasicRequestContext>
    let accessLog: AccessLog

    func respond(to request: Request, context: Context) async throws -> Response {
        let start = ContinuousClock.now
        let response: Response
        if request.uri.path.hasPrefix("/v2") {
            response = await api.respond(to: request, context: context)
        } else if request.uri.path == "/healthz", request.method == .get || request.method == .head {
            response = Response(status: .ok, headers: [.contentType: "text/plain", .contentLength: "3"],
                                body: request.method == .head ? ResponseBody() : ResponseBody(byteBuffer: ByteBuffer(string: "ok\n")))
        } else {
            response = Response(status: .notFound, headers: [.contentLength: "0"])
        }
        accessLog.record(request, response, since: start)
        return response
    }
}

/// Builds the HTTP application serving a registry service.
public enum RegistryApplication {
    public static func make(
        service: RegistryService,
        host: String,
        port: Int,
        logger: Logger,
        accessLogger: Logger? = nil,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let responder = RegistryResponder(api: RegistryAPI(service: service),
                                          accessLog: AccessLog(logger: accessLogger ?? logger))
        return Application(
            responder: responder,
            configuration: .init(address: .hostname(host, port: port), serverName: "berth"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
            logger: logger
        )
    }
}
