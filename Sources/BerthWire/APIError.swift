import BerthCore

/// The error codes of the OCI Distribution specification (plus `PAGINATION_NUMBER_INVALID`, which clients know
/// from CNCF Distribution, and the admin API's own), each listed once.
public enum SpecCode: String, Sendable {
    case blobUnknown = "BLOB_UNKNOWN"
    case blobUploadInvalid = "BLOB_UPLOAD_INVALID"
    case blobUploadUnknown = "BLOB_UPLOAD_UNKNOWN"
    case digestInvalid = "DIGEST_INVALID"
    case manifestBlobUnknown = "MANIFEST_BLOB_UNKNOWN"
    case manifestInvalid = "MANIFEST_INVALID"
    case manifestUnknown = "MANIFEST_UNKNOWN"
    case nameInvalid = "NAME_INVALID"
    case nameUnknown = "NAME_UNKNOWN"
    case sizeInvalid = "SIZE_INVALID"
    case unauthorized = "UNAUTHORIZED"
    case denied = "DENIED"
    case unsupported = "UNSUPPORTED"
    case tooManyRequests = "TOOMANYREQUESTS"
    case paginationNumberInvalid = "PAGINATION_NUMBER_INVALID"
    // Codes of the admin API (`/api/v1/`) and the token service.
    case invalid = "INVALID"
    case notFound = "NOT_FOUND"
    case conflict = "CONFLICT"
    case unknown = "UNKNOWN"
}

/// An error as the API answers it: a spec code, an HTTP status code, a message and optional detail.
public struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
    public let code: SpecCode
    public let status: Int
    public let message: String
    public var detail: [String: String]

    public init(_ code: SpecCode, status: Int, _ message: String, detail: [String: String] = [:]) {
        self.code = code
        self.status = status
        self.message = message
        self.detail = detail
    }

    public var description: String { "\(status) \(code.rawValue): \(message)" }

    /// The one mapping from the domain's errors to spec codes and statuses.
    public init(_ error: RegistryError) {
        let (code, status): (SpecCode, Int) = switch error.kind {
        case .blobUnknown: (.blobUnknown, 404)
        case .blobUploadUnknown: (.blobUploadUnknown, 404)
        case .manifestUnknown: (.manifestUnknown, 404)
        case .nameUnknown: (.nameUnknown, 404)
        case .blobUploadInvalid: (.blobUploadInvalid, 400)
        case .digestInvalid: (.digestInvalid, 400)
        case .manifestBlobUnknown: (.manifestBlobUnknown, 400)
        case .manifestInvalid: (.manifestInvalid, 400)
        case .nameInvalid: (.nameInvalid, 400)
        case .sizeInvalid: (.sizeInvalid, 400)
        case .denied: (.denied, 403)
        case .unsupported: (.unsupported, 405)
        case .uploadOffsetMismatch: (.blobUploadInvalid, 416)
        case .manifestTooLarge: (.sizeInvalid, 413)
        case .unavailable: (.unknown, 503)
        }
        self.init(code, status: status, error.message, detail: error.detail)
    }

    // The API's own errors, about requests rather than registry content.
    public static let routeUnknown = APIError(.nameUnknown, status: 404, "no such route")
    public static let methodNotAllowed = APIError(.unsupported, status: 405, "method not allowed on this route")
    public static let bodyTooLarge = APIError(.sizeInvalid, status: 413, "request body too large")
    /// The client closed or garbled a request body: its fault, and the upload stays at its last durable offset.
    public static let bodyIncomplete = APIError(.blobUploadInvalid, status: 400, "request body incomplete")
    public static let internalError = APIError(.unknown, status: 500, "internal error")

    public static func rangeInvalid(_ message: String) -> APIError {
        APIError(.blobUploadInvalid, status: 416, message)
    }

    public static func badRequest(_ code: SpecCode, _ message: String) -> APIError {
        APIError(code, status: 400, message)
    }
}
