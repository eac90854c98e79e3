import BerthCore
import BerthWire
import Hummingbird

extension RegistryAPI {
    /// `POST /v2/<name>/blobs/uploads/`: a monolithic upload (`?digest=`), a cross-repository mount
    /// (`?mount=&from=`), or a new upload session.
    func startUpload(_ name: RepositoryName, _ request: Request, _ identity: Identity) async throws -> Response {
        let query = request.uri.queryParameters
        if let mount = query["mount"] {
            let digest = try Self.digest(mount)
            let from = query["from"]
            let source = from.flatMap { try? RepositoryName(validating: $0) }
            let gate = self.gate
            if from == nil || source != nil,
               try await service.mountBlob(digest, from: source, into: name, by: identity.caller,
                                           readable: { gate.permits(identity, $0, [.pull]) }) {
                return blobCreated(name, digest)
            }
            // Not mountable: fall back to an ordinary upload session, as the spec allows.
        } else if let digestString = query["digest"] {
            let digest = try Self.digest(digestString)
            try await service.uploadMonolithic(digest, in: name, declaredLength: Self.declaredLength(request),
                                               ClientBody(base: request.body), by: identity.caller)
            return blobCreated(name, digest)
        }
        let id = try await service.startUpload(in: name, by: identity.caller)
        var response = uploadResponse(.accepted, name, id.value, size: 0)
        // distribution-spec: chunks but the last SHOULD be at least this long (smaller ones still work).
        if let minimum = service.minimumChunkLength { response.headers[.ociChunkMinLength] = String(minimum) }
        return response
    }

    func uploadStatus(_ name: RepositoryName, _ idString: String) async throws -> Response {
        let id = try UploadID(validating: idString)
        let size = try await service.uploadOffset(id, in: name)
        return uploadResponse(.noContent, name, id.value, size: size)
    }

    func patchUpload(_ name: RepositoryName, _ idString: String, _ request: Request) async throws -> Response {
        let id = try UploadID(validating: idString)
        let start = try Self.chunkStart(request)
        let size = try await service.appendUpload(id, in: name, start: start, declaredLength: Self.declaredLength(request),
                                                  ClientBody(base: request.body))
        return uploadResponse(.accepted, name, id.value, size: size)
    }

    func finishUpload(_ name: RepositoryName, _ idString: String, _ request: Request, _ identity: Identity) async throws -> Response {
        let id = try UploadID(validating: idString)
        guard let digestString = request.uri.queryParameters["digest"] else {
            throw RegistryError(.digestInvalid, "the digest query parameter is required")
        }
        let digest = try Self.digest(digestString)
        let start = try Self.chunkStart(request)
        try await service.completeUpload(id, in: name, digest: digest, start: start,
                                         declaredLength: Self.declaredLength(request), ClientBody(base: request.body),
                                         by: identity.caller)
        return blobCreated(name, digest)
    }

    func cancelUpload(_ name: RepositoryName, _ idString: String) async throws -> Response {
        let id = try UploadID(validating: idString)
        try await service.cancelUpload(id, in: name)
        return Self.empty(.noContent, [:])
    }

    // MARK: Helpers

    func blobCreated(_ name: RepositoryName, _ digest: Digest) -> Response {
        Self.empty(.created, [.location: "/v2/\(name)/blobs/\(digest)", .dockerContentDigest: digest.description])
    }

    /// Upload progress as the spec reports it: `Range: 0-<last byte>` (`0-0` before the first byte).
    func uploadResponse(_ status: HTTPResponse.Status, _ name: RepositoryName, _ id: String, size: Int64) -> Response {
        Self.empty(status, [
            .location: "/v2/\(name)/blobs/uploads/\(id)",
            .range: "0-\(max(size - 1, 0))",
            .dockerUploadUUID: id,
        ])
    }

    /// The body's length as Content-Length declares it (quotas refuse a push by it before reading the body);
    /// nil for a streamed body. The server holds the body to it.
    static func declaredLength(_ request: Request) -> Int64? {
        request.headers[.contentLength].flatMap(Decimal64.parse)
    }

    /// The first byte offset of a chunk from `Content-Range`, checked against Content-Length.
    static func chunkStart(_ request: Request) throws(APIError) -> Int64? {
        try ContentRange.chunkStart(request.headers[.contentRange], contentLength: request.headers[.contentLength])
    }
}
