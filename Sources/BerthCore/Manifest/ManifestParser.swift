import Foundation

/// What the registry needs to know about a manifest body to store it, validate it and index it.
public struct ParsedManifest: Sendable {
    public var mediaType: String
    /// The artifact type reported by the referrers API: `artifactType`, else the config media type.
    public var artifactType: String?
    public var subject: Digest?
    /// Blobs that must be present in the repository (config and distributable layers).
    public var blobs: [Digest]
    /// Manifests an index refers to; they must be present in the repository.
    public var children: [Digest]
    public var annotations: [String: String]?
}

/// Parses and validates manifest bodies: OCI image manifests and indexes, Docker schema 2 manifests and
/// manifest lists, and artifacts built on them.
public enum ManifestParser {
    private struct Document: Decodable {
        var schemaVersion: Int?
        var mediaType: String?
        var artifactType: String?
        var config: Descriptor?
        var layers: [Descriptor]?
        var manifests: [Descriptor]?
        var subject: Descriptor?
        var annotations: [String: String]?
    }

    /// - Parameters:
    ///   - body: the exact bytes pushed.
    ///   - contentType: the request's Content-Type, if any.
    public static func parse(_ body: Data, contentType: String?) throws(RegistryError) -> ParsedManifest {
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: body)
        } catch {
            throw RegistryError(.manifestInvalid, "manifest is not valid JSON of the expected shape")
        }
        // Only manifest types are stored and served back: a reflected type such as text/html would be stored
        // script on the registry's origin. A generic JSON type says nothing, like no Content-Type at all.
        let declared = contentType.map(MediaType.essence).flatMap { MediaType.isGenericJSON($0) ? nil : $0 }
        for type in [declared, document.mediaType].compactMap({ $0 }) where !MediaType.isManifest(type) {
            throw RegistryError(.manifestInvalid, "unsupported manifest media type \(type.prefix(100))")
        }
        if let inBody = document.mediaType, let declared, inBody != declared {
            throw RegistryError(.manifestInvalid, "Content-Type \(declared) does not match the manifest mediaType \(inBody)")
        }
        guard document.schemaVersion == 2 else {
            throw RegistryError(.manifestInvalid, "unsupported manifest schemaVersion")
        }
        let mediaType = document.mediaType ?? declared ?? inferredType(document)
        let isIndex = MediaType.isIndex(mediaType) || (!MediaType.isImageManifest(mediaType) && document.manifests != nil)

        var parsed = ParsedManifest(mediaType: mediaType, artifactType: document.artifactType, subject: nil,
                                    blobs: [], children: [], annotations: document.annotations)
        if let subject = document.subject {
            parsed.subject = try validDigest(of: subject)
        }
        if isIndex {
            guard let manifests = document.manifests, document.config == nil else {
                throw RegistryError(.manifestInvalid, "an index needs a manifests array and no config")
            }
            parsed.children = try manifests.map { d throws(RegistryError) in try validDigest(of: d) }
        } else {
            guard let config = document.config, document.manifests == nil else {
                throw RegistryError(.manifestInvalid, "an image manifest needs a config descriptor")
            }
            parsed.blobs.append(try validDigest(of: config))
            for layer in document.layers ?? [] {
                let digest = try validDigest(of: layer)
                if !MediaType.isNonDistributable(layer.mediaType ?? "") {
                    parsed.blobs.append(digest)
                }
            }
            if parsed.artifactType == nil {
                parsed.artifactType = config.mediaType
            }
        }
        return parsed
    }

    private static func inferredType(_ document: Document) -> String {
        document.manifests != nil ? MediaType.ociIndex : MediaType.ociManifest
    }

    private static func validDigest(of descriptor: Descriptor) throws(RegistryError) -> Digest {
        guard descriptor.size >= 0 else {
            throw RegistryError(.manifestInvalid, "descriptor size must not be negative")
        }
        do {
            return try Digest(parsing: descriptor.digest)
        } catch {
            throw RegistryError(.manifestInvalid, "descriptor has an invalid digest")
        }
    }
}
