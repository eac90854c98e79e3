/// What went wrong, in the registry's own terms. The domain knows no HTTP: the API layer maps each kind to a
/// spec error code and status, in one table (`BerthWire.APIError`).
public enum ErrorKind: Sendable, Equatable {
    case blobUnknown, blobUploadInvalid, blobUploadUnknown, digestInvalid, manifestBlobUnknown, manifestInvalid
    case manifestUnknown, nameInvalid, nameUnknown, sizeInvalid, denied, unsupported
    /// A chunk that does not continue the upload where it stands.
    case uploadOffsetMismatch
    /// A manifest larger than the configured limit.
    case manifestTooLarge
    /// The registry cannot finish the request now (a blob's bytes are being collected); retry shortly.
    case unavailable
}

/// An error the registry domain reports to its caller.
public struct RegistryError: Error, Sendable, CustomStringConvertible {
    public let kind: ErrorKind
    public let message: String
    /// Extra facts to report alongside the error (for an offset mismatch, the current size).
    public var detail: [String: String]

    public init(_ kind: ErrorKind, _ message: String, detail: [String: String] = [:]) {
        self.kind = kind
        self.message = message
        self.detail = detail
    }

    public var description: String { "\(kind): \(message)" }
}
