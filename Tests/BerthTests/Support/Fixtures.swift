import BerthServer
import Crypto
import Foundation

/// Test content and the client-side steps of pushing it.
enum Fixtures {
    static func random(_ count: Int) -> Data {
        var generator = SystemRandomNumberGenerator()
        return Data((0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    static func sha256(_ data: Data) -> String {
        "sha256:" + SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    static func sha512(_ data: Data) -> String {
        "sha512:" + SHA512.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    static func descriptor(_ mediaType: String, _ data: Data, digest: String? = nil) -> [String: Any] {
        ["mediaType": mediaType, "digest": digest ?? sha256(data), "size": data.count]
    }

    /// Test objects are plain JSON values; an unencodable one yields an empty body the server will reject.
    static func json(_ object: [String: Any]) -> Data {
        (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
    }

    static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    static let ociIndex = "application/vnd.oci.image.index.v1+json"
    static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"

    static func imageManifest(config: Data, layers: [Data], subject: (String, Int)? = nil,
                              artifactType: String? = nil, annotations: [String: String]? = nil) -> Data {
        var object: [String: Any] = [
            "schemaVersion": 2,
            "mediaType": ociManifest,
            "config": descriptor("application/vnd.oci.image.config.v1+json", config),
            "layers": layers.map { descriptor("application/vnd.oci.image.layer.v1.tar+gzip", $0) },
        ]
        if let subject {
            object["subject"] = ["mediaType": ociManifest, "digest": subject.0, "size": subject.1]
        }
        if let artifactType { object["artifactType"] = artifactType }
        if let annotations { object["annotations"] = annotations }
        return json(object)
    }
}

extension TestRegistry {
    /// Pushes a blob with a monolithic `POST ?digest=`.
    @discardableResult
    func pushBlob(_ repository: String, _ data: Data, digest: String? = nil) async throws -> String {
        let digest = digest ?? Fixtures.sha256(data)
        let reply = try await request(.POST, "/v2/\(repository)/blobs/uploads/?digest=\(digest)",
                                      headers: [("Content-Type", "application/octet-stream")], body: data)
        guard reply.status == 201 else { throw FixtureError("blob push failed with \(reply.status)") }
        return digest
    }

    /// Pushes a config, layers and a manifest referring to them; returns the manifest and its digest.
    func pushImage(_ repository: String, tag: String, layers: [Data] = [Fixtures.random(1000)],
                   subject: (String, Int)? = nil, artifactType: String? = nil,
                   annotations: [String: String]? = nil) async throws -> (manifest: Data, digest: String) {
        let config = Fixtures.json(["architecture": "amd64", "os": "linux", "rootfs": ["type": "layers", "diff_ids": []]])
        try await pushBlob(repository, config)
        for layer in layers { try await pushBlob(repository, layer) }
        let manifest = Fixtures.imageManifest(config: config, layers: layers, subject: subject,
                                              artifactType: artifactType, annotations: annotations)
        let reply = try await request(.PUT, "/v2/\(repository)/manifests/\(tag)",
                                      headers: [("Content-Type", Fixtures.ociManifest)], body: manifest)
        guard reply.status == 201 else {
            throw FixtureError("manifest push failed with \(reply.status): \(String(decoding: reply.body, as: UTF8.self))")
        }
        return (manifest, Fixtures.sha256(manifest))
    }
}

/// A test step that did not go as the test needs: fails the test, not the runner.
struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs `body` against a fresh registry and removes it afterwards.
func withRegistry(configure: (inout Configuration) -> Void = { _ in },
                  _ body: (TestRegistry) async throws -> Void) async throws {
    let registry = try await TestRegistry.start(configure: configure)
    do {
        try await body(registry)
    } catch {
        await registry.destroy()
        throw error
    }
    await registry.destroy()
}
