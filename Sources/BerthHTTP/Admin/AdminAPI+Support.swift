import BerthAuth
import BerthWire
import Foundation
import Hummingbird

extension AdminAPI {
    /// Wraps a handler: authenticates the caller (Basic, or a Berth registry token), then turns access errors
    /// into the API's error answers.
    func guarded(_ handler: @escaping Handler) -> @Sendable (Request, Context) async throws -> Response {
        { request, context in
            do {
                let actor = try await authenticate(request, context)
                return try await handler(request, context, actor)
            } catch let error as AccessError {
                let refusal = Refusal.from(error, challenge: "Basic realm=\"\(realm)\", charset=\"UTF-8\"")
                return ErrorResponse.response(refusal.error, headers: refusal.headers)
            } catch let error as DecodingError {
                return ErrorResponse.response(APIError(.invalid, status: 400, "invalid JSON body: \(error.summary)"))
            } catch let error as DurationError {
                return ErrorResponse.response(APIError(.invalid, status: 400, error.description))
            }
        }
    }

    /// A registry token stands for its user only within its `access` claim: a token fetched for a pull is no
    /// admin login, even an administrator's.
    private func authenticate(_ request: Request, _ context: Context) async throws -> Principal {
        if let basic = BasicCredentials.parse(request.headers[.authorization]) {
            if basic.isAnonymous { return .anonymous }
            return try await access.authenticate(username: basic.username, password: basic.password, address: context.remoteAddress)
        }
        if let authorization = request.headers[.authorization] {
            guard authorization.hasPrefix("Bearer "), let authority,
                  let token = await authority.verify(String(authorization.dropFirst(7))),
                  let principal = access.principal(subject: token.subject, tokenID: token.tokenID), !principal.isAnonymous
            else {
                access.recordRejectedToken(subject: nil, address: context.remoteAddress)
                throw AccessError.unauthenticated("invalid credentials")
            }
            return principal.presenting(registryScopes: token.scopes)
        }
        return .anonymous
    }

    static func decode<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: 64 * 1024)
        } catch {
            throw AccessError.invalid("request body missing or over 64 KiB")
        }
        return try JSONDecoder().decode(T.self, from: Data(buffer: buffer))
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        var headers: HTTPFields = [.contentType: "application/json", .cacheControl: "no-store"]
        let bytes = try encoder.encode(value)
        headers[.contentLength] = String(bytes.count)
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

