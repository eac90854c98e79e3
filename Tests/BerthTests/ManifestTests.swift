import Foundation
import Testing

@Suite struct ManifestTests {
    @Test func pushAndPullByTagAndDigest() async throws {
        try await withRegistry { registry in
            let (manifest, digest) = try await registry.pushImage("apps/web", tag: "v1")
            for reference in ["v1", digest] {
                let get = try await registry.request(.GET, "/v2/apps/web/manifests/\(reference)")
                #expect(get.status == 200)
                #expect(get.body == manifest)
                #expect(get.header("Content-Type") == Fixtures.ociManifest)
                #expect(get.header("Docker-Content-Digest") == digest)
                let head = try await registry.request(.HEAD, "/v2/apps/web/manifests/\(reference)")
                #expect(head.status == 200 && head.header("Content-Length") == String(manifest.count))
            }
            let missing = try await registry.request(.GET, "/v2/apps/web/manifests/nope")
            #expect(missing.status == 404 && missing.errorCode == "MANIFEST_UNKNOWN")
        }
    }

    @Test func missingBlobsAreRejected() async throws {
        try await withRegistry { registry in
            let config = Fixtures.random(10)
            let manifest = Fixtures.imageManifest(config: config, layers: [Fixtures.random(10)])
            let reply = try await registry.request(.PUT, "/v2/m/manifests/v1",
                                                   headers: [("Content-Type", Fixtures.ociManifest)], body: manifest)
            #expect(reply.status == 400 && reply.errorCode == "MANIFEST_BLOB_UNKNOWN")
        }
    }

    @Test func nonDistributableLayersNeedNotBePresent() async throws {
        try await withRegistry { registry in
            let config = Fixtures.random(10)
            try await registry.pushBlob("nd", config)
            let foreign = Fixtures.random(50)
            let manifest = Fixtures.json([
                "schemaVersion": 2, "mediaType": Fixtures.dockerManifest,
                "config": Fixtures.descriptor("application/vnd.docker.container.image.v1+json", config),
                "layers": [Fixtures.descriptor("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", foreign)],
            ])
            let reply = try await registry.request(.PUT, "/v2/nd/manifests/win",
                                                   headers: [("Content-Type", Fixtures.dockerManifest)], body: manifest)
            #expect(reply.status == 201)
        }
    }

    @Test func invalidManifestsAreRejected() async throws {
        try await withRegistry { registry in
            let config = Fixtures.random(10)
            try await registry.pushBlob("inv", config)
            let good = Fixtures.imageManifest(config: config, layers: [])
            let cases: [(String, Data, String)] = [
                ("not json", Data("{nope".utf8), Fixtures.ociManifest),
                ("content type mismatch", good, Fixtures.ociIndex),
                ("array", Data("[]".utf8), Fixtures.ociManifest),
                ("bad descriptor digest", Data(String(decoding: good, as: UTF8.self)
                    .replacingOccurrences(of: "sha256:", with: "sha256:zz").utf8), Fixtures.ociManifest),
            ]
            for (name, body, contentType) in cases {
                let reply = try await registry.request(.PUT, "/v2/inv/manifests/t",
                                                       headers: [("Content-Type", contentType)], body: body)
                #expect(reply.status == 400, "\(name)")
                #expect(reply.errorCode == "MANIFEST_INVALID", "\(name)")
            }
            let wrongDigest = try await registry.request(.PUT, "/v2/inv/manifests/\(Fixtures.sha256(Data([9])))",
                                                         headers: [("Content-Type", Fixtures.ociManifest)], body: good)
            #expect(wrongDigest.status == 400 && wrongDigest.errorCode == "DIGEST_INVALID")
            let badReference = try await registry.request(.PUT, "/v2/inv/manifests/sha256:baddigeststring",
                                                          headers: [("Content-Type", Fixtures.ociManifest)], body: good)
            #expect(badReference.status == 400)
        }
    }

    @Test func oversizedManifestIs413() async throws {
        try await withRegistry { registry in
            let huge = Data(repeating: 0x20, count: 4 * 1024 * 1024 + 1)
            let reply = try await registry.request(.PUT, "/v2/big/manifests/v1",
                                                   headers: [("Content-Type", Fixtures.ociManifest)], body: huge)
            #expect(reply.status == 413 && reply.errorCode == "SIZE_INVALID")
        }
    }

    @Test func tagDeletionKeepsManifestAndDigestDeletionRemovesTags() async throws {
        try await withRegistry { registry in
            let (manifest, digest) = try await registry.pushImage("del", tag: "a")
            let put = try await registry.request(.PUT, "/v2/del/manifests/\(digest)?tag=b&tag=c",
                                                 headers: [("Content-Type", Fixtures.ociManifest)], body: manifest)
            #expect(put.status == 201)
            #expect(put.headers["OCI-Tag"].sorted() == ["b", "c"])
            #expect(try await registry.request(.DELETE, "/v2/del/manifests/a").status == 202)
            #expect(try await registry.request(.GET, "/v2/del/manifests/a").status == 404)
            #expect(try await registry.request(.GET, "/v2/del/manifests/\(digest)").status == 200)
            #expect(try await registry.request(.GET, "/v2/del/manifests/b").status == 200)
            #expect(try await registry.request(.DELETE, "/v2/del/manifests/\(digest)").status == 202)
            #expect(try await registry.request(.GET, "/v2/del/manifests/c").status == 404)
            let tags = try await registry.request(.GET, "/v2/del/tags/list")
            #expect(tags.json?["tags"] as? [String] == [])
        }
    }

    @Test func indexRequiresItsChildren() async throws {
        try await withRegistry { registry in
            let (child, childDigest) = try await registry.pushImage("multi", tag: "amd64")
            func index(_ digest: String) -> Data {
                Fixtures.json(["schemaVersion": 2, "mediaType": Fixtures.ociIndex, "manifests": [
                    ["mediaType": Fixtures.ociManifest, "digest": digest, "size": child.count,
                     "platform": ["os": "linux", "architecture": "amd64"]],
                ]])
            }
            let missing = try await registry.request(.PUT, "/v2/multi/manifests/all",
                                                     headers: [("Content-Type", Fixtures.ociIndex)],
                                                     body: index(Fixtures.sha256(Data([7]))))
            #expect(missing.status == 400 && missing.errorCode == "MANIFEST_BLOB_UNKNOWN")
            let ok = try await registry.request(.PUT, "/v2/multi/manifests/all",
                                                headers: [("Content-Type", Fixtures.ociIndex)], body: index(childDigest))
            #expect(ok.status == 201)
            #expect(try await registry.request(.GET, "/v2/multi/manifests/all").header("Content-Type") == Fixtures.ociIndex)
        }
    }

    @Test func manifestWithoutMediaTypeUsesContentType() async throws {
        try await withRegistry { registry in
            let config = Fixtures.random(10)
            try await registry.pushBlob("nomt", config)
            let manifest = Fixtures.json(["schemaVersion": 2,
                                          "config": Fixtures.descriptor("application/vnd.oci.image.config.v1+json", config),
                                          "layers": []])
            #expect(try await registry.request(.PUT, "/v2/nomt/manifests/v1", headers: [("Content-Type", Fixtures.ociManifest)],
                                               body: manifest).status == 201)
            #expect(try await registry.request(.GET, "/v2/nomt/manifests/v1").header("Content-Type") == Fixtures.ociManifest)
        }
    }

    @Test func concurrentIdenticalManifestPushes() async throws {
        try await withRegistry { registry in
            let (manifest, digest) = try await registry.pushImage("race", tag: "seed")
            try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 0..<16 {
                    group.addTask {
                        try await registry.request(.PUT, "/v2/race/manifests/t\(i % 4)",
                                                   headers: [("Content-Type", Fixtures.ociManifest)], body: manifest).status
                    }
                }
                for try await status in group { #expect(status == 201) }
            }
            let tags = try await registry.request(.GET, "/v2/race/tags/list")
            #expect(tags.json?["tags"] as? [String] == ["seed", "t0", "t1", "t2", "t3"])
            #expect(try await registry.request(.GET, "/v2/race/manifests/t3").header("Docker-Content-Digest") == digest)
        }
    }
}
