import BerthCore
import Foundation
import Hummingbird

/// Renders registry errors as the spec's JSON error body with the matching HTTP status.
enum ErrorResponse {
    static func status(for code: ErrorCode) -> HTTPResponse.Status {
        switch code {
        case .blobUnknown, .blobUploadUnknown, .manifestUnknown, .nameUnknown, .notFound: .notFound
        case .blobUploadInvalid, .digestInvalid, .manifestBlobUnknown, .manifestInvalid, .nameInvalid,
             .sizeInvalid, .paginationNumberInvalid: .badRequest
        case .unauthorized: .unauthorized
        case .denied: .forbidden
        case .unsupported, .methodNotAllowed: .methodNotAllowed
        case .tooManyRequests: .tooManyRequests
        case .rangeInvalid: .rangeNotSatisfiable
        case .tooLarge: .contentTooLarge
        case .internalError: .internalServerError
        }
    }

    private struct Body: Encodable {
        struct Item: Encodable {
            var code: String
            var message: String
            var detail: [String: String]?
        }
        var errors: [Item]
    }

    static func response(_ error: RegistryError, headers: HTTPFields = [:], includeBody: Bool = true) -> Response {
        let body = Body(errors: [.init(code: error.code.code, message: error.message,
                                       detail: error.detail.isEmpty ? nil : error.detail)])
        let bytes = (try? JSONEncoder().encode(body)) ?? Data()
        var headers = headers
        headers[.contentType] = "application/json"
        if !includeBody {
            headers[.contentLength] = String(bytes.count)
            return Response(status: status(for: error.code), headers: headers, body: ResponseBody())
        }
        return Response(status: status(for: error.code), headers: headers,
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
