import BerthWire
import Foundation
import Hummingbird

/// Renders API errors as the spec's JSON error body.
enum ErrorResponse {
    private struct Body: Encodable {
        struct Item: Encodable {
            var code: String
            var message: String
            var detail: [String: String]?
        }
        var errors: [Item]
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func response(_ error: APIError, headers: HTTPFields = [:], includeBody: Bool = true) -> Response {
        let body = Body(errors: [.init(code: error.code.rawValue, message: error.message,
                                       detail: error.detail.isEmpty ? nil : error.detail)])
        let bytes = (try? encoder.encode(body)) ?? Data()
        var headers = headers
        headers[.contentType] = "application/json"
        let status = HTTPResponse.Status(code: error.status)
        if !includeBody {
            headers[.contentLength] = String(bytes.count)
            return Response(status: status, headers: headers, body: ResponseBody())
        }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
