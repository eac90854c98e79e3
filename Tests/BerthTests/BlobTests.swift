import Foundation
import NIOHTTP1
import Testing

@Suite struct BlobTests {
    @Test func baseEndpointAnswersWithAPIVersion() async throws {
        try await withRegistry { registry in
            for method in [HTTPMethodName.GET, .HEAD] {
                let reply = try await registry.request(method.method, "/v2/")
                #expect(reply.status == 200)
                #expect(reply.header("Docker-Distribution-API-Version") == "registry/2.0")
            }
            #expect(try await registry.request(.GET, "/healthz").status == 200)
        }
    }

    @Test func monolithicPushThenGetAndHead() async throws {
        try await withRegistry { registry in
            let data = Fixtures.random(300_000)
            let digest = try await registry.pushBlob("team/app/api", data)
            let get = try await registry.request(.GET, "/v2/team/app/api/blobs/\(digest)")
            #expect(get.status == 200)
            #expect(get.body == data)
            #expect(get.header("Docker-Content-Digest") == digest)
            let head = try await registry.request(.HEAD, "/v2/team/app/api/blobs/\(digest)")
            #expect(head.status == 200)
            #expect(head.header("Content-Length") == String(data.count))
            #expect(head.body.isEmpty)
        }
    }

    @Test func sha512BlobsAreStoredAndServed() async throws {
        try await withRegistry { registry in
            let data = Fixtures.random(5000)
            let digest = try await registry.pushBlob("sha/five", data, digest: Fixtures.sha512(data))
            let get = try await registry.request(.GET, "/v2/sha/five/blobs/\(digest)")
            #expect(get.status == 200 && get.body == data)
        }
    }

    @Test func wrongDigestIsRejectedAndNothingIsStored() async throws {
        try await withRegistry { registry in
            let data = Fixtures.random(1000)
            let claimed = Fixtures.sha256(Fixtures.random(10))
            let reply = try await registry.request(.POST, "/v2/a/blobs/uploads/?digest=\(claimed)", body: data)
            #expect(reply.status == 400)
            #expect(reply.errorCode == "DIGEST_INVALID")
            #expect(try await registry.request(.HEAD, "/v2/a/blobs/\(claimed)").status == 404)
            let staged = try FileManager.default.contentsOfDirectory(atPath: registry.root + "/uploads")
            #expect(staged.isEmpty)
        }
    }

    @Test func rangeRequests() async throws {
        try await withRegistry { registry in
            let data = Fixtures.random(1000)
            let digest = try await registry.pushBlob("r", data)
            let path = "/v2/r/blobs/\(digest)"
            let middle = try await registry.request(.GET, path, headers: [("Range", "bytes=10-19")])
            #expect(middle.status == 206)
            #expect(middle.body == data[10...19])
            #expect(middle.header("Content-Range") == "bytes 10-19/1000")
            let suffix = try await registry.request(.GET, path, headers: [("Range", "bytes=-5")])
            #expect(suffix.status == 206 && suffix.body == data.suffix(5))
            let open = try await registry.request(.GET, path, headers: [("Range", "bytes=990-")])
            #expect(open.status == 206 && open.body == data.suffix(10))
            let beyond = try await registry.request(.GET, path, headers: [("Range", "bytes=5000-6000")])
            #expect(beyond.status == 416)
            #expect(beyond.header("Content-Range") == "bytes */1000")
        }
    }

    @Test func blobsAreVisibleOnlyWhereTheyAreLinkedAndDeleteUnlinks() async throws {
        try await withRegistry { registry in
            let digest = try await registry.pushBlob("one", Fixtures.random(100))
            let other = try await registry.request(.GET, "/v2/two/blobs/\(digest)")
            #expect(other.status == 404 && other.errorCode == "BLOB_UNKNOWN")
            #expect(try await registry.request(.DELETE, "/v2/one/blobs/\(digest)").status == 202)
            #expect(try await registry.request(.HEAD, "/v2/one/blobs/\(digest)").status == 404)
            let again = try await registry.request(.DELETE, "/v2/one/blobs/\(digest)")
            #expect(again.status == 404 && again.errorCode == "BLOB_UNKNOWN")
        }
    }

    @Test func crossRepositoryMount() async throws {
        try await withRegistry { registry in
            let data = Fixtures.random(2000)
            let digest = try await registry.pushBlob("source/repo", data)
            let mounted = try await registry.request(.POST, "/v2/target/blobs/uploads/?mount=\(digest)&from=source/repo")
            #expect(mounted.status == 201)
            #expect(mounted.header("Location") == "/v2/target/blobs/\(digest)")
            #expect(try await registry.request(.GET, "/v2/target/blobs/\(digest)").body == data)
            // A source that cannot serve the blob falls back to an upload session.
            let fallback = try await registry.request(.POST, "/v2/third/blobs/uploads/?mount=\(digest)&from=nowhere")
            #expect(fallback.status == 202)
            #expect(fallback.header("Location")?.contains("/v2/third/blobs/uploads/") == true)
        }
    }

    @Test func concurrentIdenticalPushesAllSucceed() async throws {
        try await withRegistry { registry in
            let data = Fixtures.random(2 << 20)
            let digest = Fixtures.sha256(data)
            try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 0..<12 {
                    group.addTask {
                        try await registry.request(.POST, "/v2/same/r\(i % 3)/blobs/uploads/?digest=\(digest)", body: data).status
                    }
                }
                for try await status in group { #expect(status == 201) }
            }
            for i in 0..<3 {
                #expect(try await registry.request(.GET, "/v2/same/r\(i)/blobs/\(digest)").body == data)
            }
        }
    }
}

/// Methods by name, so tests can loop over them.
enum HTTPMethodName {
    case GET, HEAD
    var method: NIOHTTP1.HTTPMethod { self == .GET ? .GET : .HEAD }
}
