import BerthCore
import BerthWire
import Foundation
import Hummingbird
import Logging

/// The OCI Distribution API: recognizes `/v2` routes, lets the gate identify and authorize the caller, calls
/// the registry service, and turns its results and errors into spec responses.
struct RegistryAPI: Sendable {
    typealias Context = BerthRequestContext
    let service: RegistryService
    let gate: Gate

    func respond(to request: Request, context: Context) async -> Response {
        var response: Response
        do {
            guard let route = try RegistryRoute.parse(request.uri.path) else { throw APIError.routeUnknown }
            let need = route.need(method: request.method.rawValue)
            let identity = try await gate.identify(request, address: context.remoteAddress, need: need)
            try await gate.authorize(identity, need, request)
            response = try await dispatch(route, request, identity)
        } catch let refusal as Refusal {
            response = ErrorResponse.response(refusal.error, headers: refusal.headers, includeBody: request.method != .head)
        } catch {
            let apiError = Self.apiError(error)
            if apiError.status >= 500 { context.logger.error("request failed: \(String(reflecting: error))") }
            response = ErrorResponse.response(apiError, includeBody: request.method != .head)
        }
        response.headers[.dockerDistributionAPIVersion] = "registry/2.0"
        return response
    }

    /// Every error a request can end with, as the API answers it.
    static func apiError(_ error: any Error) -> APIError {
        switch error {
        case let error as APIError: error
        case let error as RegistryError: APIError(error)
        case let error as HTTPError where error.status == .contentTooLarge: .bodyTooLarge
        default: .internalError
        }
    }

    private func dispatch(_ route: RegistryRoute, _ request: Request, _ identity: Identity) async throws -> Response {
        let method = request.method
        switch (route, method) {
        case (.base, .get), (.base, .head):
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: method == .head ? ResponseBody() : ResponseBody(byteBuffer: ByteBuffer(string: "{}")))
        case (.catalog, .get):
            return try await catalog(request, identity)
        case (.tags(let name), .get):
            return try await tags(name, request)
        case (.manifest(let name, let reference), .get), (.manifest(let name, let reference), .head):
            return try await getManifest(name, reference, head: method == .head)
        case (.manifest(let name, let reference), .put):
            return try await putManifest(name, reference, request, identity)
        case (.manifest(let name, let reference), .delete):
            return try await deleteManifest(name, reference, identity)
        case (.blob(let name, let digest), .get), (.blob(let name, let digest), .head):
            return try await getBlob(name, digest, request, head: method == .head)
        case (.blob(let name, let digest), .delete):
            return try await deleteBlob(name, digest, identity)
        case (.uploads(let name), .post):
            return try await startUpload(name, request, identity)
        case (.upload(let name, let id), .get):
            return try await uploadStatus(name, id)
        case (.upload(let name, let id), .patch):
            return try await patchUpload(name, id, request)
        case (.upload(let name, let id), .put):
            return try await finishUpload(name, id, request, identity)
        case (.upload(let name, let id), .delete):
            return try await cancelUpload(name, id)
        case (.referrers(let name, let digest), .get):
            return try await referrers(name, digest, request)
        default:
            throw APIError.methodNotAllowed
        }
    }
}

extension RegistryAPI {
    static func digest(_ string: some StringProtocol) throws(RegistryError) -> Digest {
        try Digest(parsing: string)
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok, contentType: String = "application/json",
                     headers: HTTPFields = [:]) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        let bytes = try encoder.encode(value)
        var headers = headers
        headers[.contentType] = contentType
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func empty(_ status: HTTPResponse.Status, _ headers: HTTPFields) -> Response {
        var headers = headers
        headers[.contentLength] = "0"
        return Response(status: status, headers: headers, body: ResponseBody())
    }
}
