// Fuzzes BerthCore.ManifestParser.parse. Input: a manifest body (JSON). A first byte that is a control character
// (never the start of JSON) picks a Content-Type from `contentTypes` and is not part of the body; otherwise there
// is no Content-Type.
import BerthCore
import BerthFuzzSupport
import Foundation

@main enum FuzzManifest {
    static func main() { FuzzDriver.run(harness) }

    static let contentTypes: [String?] = [
        nil, "", "application/json", MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerManifest,
        MediaType.dockerManifestList, "application/vnd.oci.image.manifest.v1+json; charset=utf-8",
        " APPLICATION/VND.OCI.IMAGE.INDEX.V1+JSON\t", "text/html", MediaType.ociEmpty,
    ]

    static func harness(_ input: UnsafeRawBufferPointer) {
        var body = Data(input), contentType: String? = nil
        if let first = input.first, first < 0x20, first != 0x09, first != 0x0a, first != 0x0d {
            contentType = contentTypes[Int(first) % contentTypes.count]
            body = Data(input.dropFirst())
        }
        let parsed: ParsedManifest
        do {
            parsed = try ManifestParser.parse(body, contentType: contentType)
        } catch {
            require(error.kind == .manifestInvalid, "parse threw \(error)")
            return
        }
        require(MediaType.isManifest(parsed.mediaType), "stored media type \(parsed.mediaType.debugDescription)")
        if let contentType, !["", "application/json"].contains(MediaType.essence(contentType)) {
            require(parsed.mediaType == MediaType.essence(contentType), "\(parsed.mediaType) for Content-Type \(contentType)")
        }
        if MediaType.isIndex(parsed.mediaType) {
            require(parsed.blobs.isEmpty, "index with blobs")
        } else {
            // An image manifest: its config first, and no children.
            require(parsed.children.isEmpty && !parsed.blobs.isEmpty, "manifest with children or without config")
        }
        for digest in parsed.blobs + parsed.children + (parsed.subject.map { [$0] } ?? []) {
            require((try? Digest(parsing: digest.description)) == digest, "digest \(digest) does not re-parse")
        }
    }
}
