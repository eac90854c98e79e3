/// The error codes of the OCI Distribution specification, plus the few extensions clients know from
/// CNCF Distribution. Each code is listed once here; the HTTP layer maps codes to status codes.
public enum ErrorCode: Sendable, Equatable {
    case blobUnknown, blobUploadInvalid, blobUploadUnknown, digestInvalid, manifestBlobUnknown, manifestInvalid
    case manifestUnknown, nameInvalid, nameUnknown, sizeInvalid, unauthorized, denied, unsupported, tooManyRequests
    /// Distribution's code for a bad `n` in paginated listings.
    case paginationNumberInvalid
    /// A chunk that does not continue the upload where it stands (HTTP 416).
    case rangeInvalid
    /// A request body larger than the configured limit (HTTP 413).
    case tooLarge
    /// A route that does not exist, or not for this method.
    case notFound, methodNotAllowed
    /// Anything unexpected: storage failures and bugs. Never caused by client input.
    case internalError

    /// The code string sent in the error body.
    public var code: String {
        switch self {
        case .blobUnknown: "BLOB_UNKNOWN"
        case .blobUploadInvalid, .rangeInvalid: "BLOB_UPLOAD_INVALID"
        case .blobUploadUnknown: "BLOB_UPLOAD_UNKNOWN"
        case .digestInvalid: "DIGEST_INVALID"
        case .manifestBlobUnknown: "MANIFEST_BLOB_UNKNOWN"
        case .manifestInvalid: "MANIFEST_INVALID"
        case .manifestUnknown: "MANIFEST_UNKNOWN"
        case .nameInvalid: "NAME_INVALID"
        case .nameUnknown, .notFound: "NAME_UNKNOWN"
        case .sizeInvalid, .tooLarge: "SIZE_INVALID"
        case .unauthorized: "UNAUTHORIZED"
        case .denied: "DENIED"
        case .unsupported, .methodNotAllowed: "UNSUPPORTED"
        case .tooManyRequests: "TOOMANYREQUESTS"
        case .paginationNumberInvalid: "PAGINATION_NUMBER_INVALID"
        case .internalError: "UNKNOWN"
        }
    }
}

/// An error the registry reports to its client with a spec error code.
public struct RegistryError: Error, Sendable, CustomStringConvertible {
    public let code: ErrorCode
    public let message: String
    /// Extra facts to report alongside the code (for a range error, the current size).
    public var detail: [String: String]

    public init(_ code: ErrorCode, _ message: String, detail: [String: String] = [:]) {
        self.code = code
        self.message = message
        self.detail = detail
    }

    public var description: String { "\(code.code): \(message)" }
}
