import BerthCore
import BerthWire
import Hummingbird

extension RegistryAPI {
    func getBlob(_ name: RepositoryName, _ digestString: String, _ request: Request, head: Bool) async throws -> Response {
        let digest = try Self.digest(digestString)
        let blob = try await service.blob(digest, in: name)
        let size = blob.size
        var headers: HTTPFields = [
            .contentType: "application/octet-stream",
            .dockerContentDigest: digest.description,
            .acceptRanges: "bytes",
            .eTag: "\"\(digest)\"",
        ]
        let status: HTTPResponse.Status
        let range: ClosedRange<Int64>?
        switch ByteRange.resolve(request.headers[.range], size: size) {
        case .whole:
            status = .ok
            range = size > 0 ? 0...(size - 1) : nil
        case .partial(let r):
            status = .partialContent
            range = r
            headers[.contentRange] = "bytes \(r.lowerBound)-\(r.upperBound)/\(size)"
        case .unsatisfiable:
            headers[.contentRange] = "bytes */\(size)"
            return ErrorResponse.response(.rangeInvalid("requested range not satisfiable"),
                                          headers: headers, includeBody: !head)
        }
        // As Distribution's `redirect`: the client fetches the bytes (and its range) from the storage itself.
        if !head, let location = try await blob.directURL() {
            return Response(status: .temporaryRedirect, headers: [
                .location: location, .dockerContentDigest: digest.description, .contentLength: "0",
            ], body: ResponseBody())
        }
        let length = range.map { $0.upperBound - $0.lowerBound + 1 } ?? 0
        headers[.contentLength] = String(length)
        guard !head, let range else { return Response(status: status, headers: headers, body: ResponseBody()) }
        return Response(status: status, headers: headers, body: ResponseBody(contentLength: Int(length)) { writer in
            try await blob.read(range) { try await writer.write($0) }
            try await writer.finish(nil)
        })
    }

    func deleteBlob(_ name: RepositoryName, _ digestString: String, _ identity: Identity) async throws -> Response {
        let digest = try Self.digest(digestString)
        try await service.deleteBlob(digest, in: name, by: identity.caller)
        return Self.empty(.accepted, [:])
    }
}
