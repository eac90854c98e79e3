import BerthCore
import BerthWire
import Foundation
import HTTPTypes
import Hummingbird

extension RegistryAPI {
    func getManifest(_ name: RepositoryName, _ referenceString: String, head: Bool) async throws -> Response {
        let reference = try ManifestReference(parsing: referenceString)
        let manifest = try await service.manifest(reference, in: name, pulling: !head)
        let headers: HTTPFields = [
            .contentType: manifest.mediaType,
            .dockerContentDigest: manifest.digest.description,
            .eTag: "\"\(manifest.digest)\"",
            .contentLength: String(manifest.content.count),
        ]
        let body = head ? ResponseBody() : ResponseBody(byteBuffer: ByteBuffer(bytes: manifest.content))
        return Response(status: .ok, headers: headers, body: body)
    }

    func putManifest(_ name: RepositoryName, _ referenceString: String, _ request: Request,
                     _ identity: Identity) async throws -> Response {
        let reference = try ManifestReference(parsing: referenceString)
        let limit = service.options.manifestMaxBytes
        if let length = request.headers[.contentLength].flatMap(Decimal64.parse), length > limit {
            throw RegistryError(.manifestTooLarge, "manifest exceeds \(limit) bytes")
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw RegistryError(.manifestTooLarge, "manifest exceeds \(limit) bytes")
        } catch {
            throw APIError.bodyIncomplete
        }
        let tags = request.uri.queryParameters[values: "tag"].map(String.init)
        let pushed = try await service.putManifest(
            Data(buffer: buffer), contentType: request.headers[.contentType], reference: reference,
            extraTags: tags, in: name, by: identity.caller)
        var headers: HTTPFields = [
            .location: "/v2/\(name)/manifests/\(pushed.digest)",
            .dockerContentDigest: pushed.digest.description,
        ]
        if let subject = pushed.subject { headers[.ociSubject] = subject.description }
        for tag in pushed.tags { headers.append(HTTPField(name: .ociTag, value: tag)) }
        return Self.empty(.created, headers)
    }

    func deleteManifest(_ name: RepositoryName, _ referenceString: String, _ identity: Identity) async throws -> Response {
        let reference = try ManifestReference(parsing: referenceString)
        try await service.deleteManifest(reference, in: name, by: identity.caller)
        return Self.empty(.accepted, [:])
    }
}
