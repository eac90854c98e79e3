import Foundation
import Testing

@Suite struct UploadTests {
    /// Opens a session and returns its Location.
    static func open(_ registry: TestRegistry, _ repository: String) async throws -> String {
        let reply = try await registry.request(.POST, "/v2/\(repository)/blobs/uploads/")
        #expect(reply.status == 202)
        #expect(reply.header("Range") == "0-0")
        return try #require(reply.header("Location"))
    }

    @Test func chunkedUploadWithStatusAndFinalChunk() async throws {
        try await withRegistry { registry in
            let data = Fixtures.random(3 * 1024 * 1024 + 17)
            let digest = Fixtures.sha256(data)
            let location = try await Self.open(registry, "chunks/app")
            let first = data.prefix(2 * 1024 * 1024), rest = data.dropFirst(2 * 1024 * 1024)
            let patch = try await registry.request(.PATCH, location, headers: [
                ("Content-Range", "0-\(first.count - 1)"), ("Content-Type", "application/octet-stream"),
            ], body: first)
            #expect(patch.status == 202)
            #expect(patch.header("Range") == "0-\(first.count - 1)")
            let status = try await registry.request(.GET, location)
            #expect(status.status == 204)
            #expect(status.header("Range") == "0-\(first.count - 1)")
            let put = try await registry.request(.PUT, "\(location)?digest=\(digest)", headers: [
                ("Content-Range", "\(first.count)-\(data.count - 1)"),
            ], body: Data(rest))
            #expect(put.status == 201)
            #expect(put.header("Docker-Content-Digest") == digest)
            #expect(try await registry.request(.GET, "/v2/chunks/app/blobs/\(digest)").body == data)
            // The session is gone once completed.
            #expect(try await registry.request(.GET, location).status == 404)
        }
    }

    @Test func outOfOrderChunkIs416AndSessionSurvives() async throws {
        try await withRegistry { registry in
            let data = Fixtures.random(4096)
            let location = try await Self.open(registry, "order")
            _ = try await registry.request(.PATCH, location, headers: [("Content-Range", "0-2047")], body: data.prefix(2048))
            let replay = try await registry.request(.PATCH, location, headers: [("Content-Range", "0-1023")],
                                                    body: data.prefix(1024))
            #expect(replay.status == 416)
            #expect(replay.errorCode == "BLOB_UPLOAD_INVALID")
            let gap = try await registry.request(.PATCH, location, headers: [("Content-Range", "3000-4095")],
                                                 body: data.suffix(1096))
            #expect(gap.status == 416)
            #expect(try await registry.request(.GET, location).header("Range") == "0-2047")
            let finish = try await registry.request(.PUT, "\(location)?digest=\(Fixtures.sha256(data))",
                                                    headers: [("Content-Range", "2048-4095")], body: data.suffix(2048))
            #expect(finish.status == 201)
        }
    }

    @Test func streamedPatchWithoutContentRangeAndSha512() async throws {
        try await withRegistry { registry in
            let data = Fixtures.random(100_000)
            let location = try await Self.open(registry, "stream")
            #expect(try await registry.request(.PATCH, location, body: data.prefix(60_000)).status == 202)
            #expect(try await registry.request(.PATCH, location, body: data.dropFirst(60_000)).status == 202)
            let digest = Fixtures.sha512(data)
            #expect(try await registry.request(.PUT, "\(location)?digest=\(digest)").status == 201)
            #expect(try await registry.request(.GET, "/v2/stream/blobs/\(digest)").body == data)
        }
    }

    @Test func badFinalDigestAndMissingDigest() async throws {
        try await withRegistry { registry in
            let data = Fixtures.random(500)
            let location = try await Self.open(registry, "bad")
            _ = try await registry.request(.PATCH, location, body: data)
            let missing = try await registry.request(.PUT, location)
            #expect(missing.status == 400 && missing.errorCode == "DIGEST_INVALID")
            let wrong = try await registry.request(.PUT, "\(location)?digest=\(Fixtures.sha256(Data([1])))")
            #expect(wrong.status == 400 && wrong.errorCode == "DIGEST_INVALID")
            let unsupported = try await registry.request(.PUT, "\(location)?digest=sha384:\(String(repeating: "a", count: 96))")
            #expect(unsupported.status == 400 && unsupported.errorCode == "DIGEST_INVALID")
            let right = try await registry.request(.PUT, "\(location)?digest=\(Fixtures.sha256(data))")
            #expect(right.status == 201)
        }
    }

    @Test func cancelAndUnknownSessions() async throws {
        try await withRegistry { registry in
            let location = try await Self.open(registry, "cancel")
            #expect(try await registry.request(.DELETE, location).status == 204)
            let gone = try await registry.request(.GET, location)
            #expect(gone.status == 404 && gone.errorCode == "BLOB_UPLOAD_UNKNOWN")
            let bogus = try await registry.request(.PATCH, "/v2/cancel/blobs/uploads/../../etc", body: Data([1]))
            #expect(bogus.status == 404 || bogus.status == 400)
            let notUUID = try await registry.request(.GET, "/v2/cancel/blobs/uploads/not-a-session")
            #expect(notUUID.status == 404 && notUUID.errorCode == "BLOB_UPLOAD_UNKNOWN")
            // A session belongs to the repository it was opened in.
            let other = try await Self.open(registry, "owner")
            let id = other.split(separator: "/").last!
            #expect(try await registry.request(.GET, "/v2/intruder/blobs/uploads/\(id)").status == 404)
        }
    }

    @Test func pendingUploadSurvivesRestart() async throws {
        let data = Fixtures.random(1_500_000)
        let first = try await TestRegistry.start()
        let location = try await Self.open(first, "restart/me")
        #expect(try await first.request(.PATCH, location, headers: [("Content-Range", "0-999999")],
                                          body: data.prefix(1_000_000)).status == 202)
        await first.stop()

        let second = try await TestRegistry.start(root: first.root)
        let status = try await second.request(.GET, location)
        #expect(status.status == 204)
        #expect(status.header("Range") == "0-999999")
        let put = try await second.request(.PUT, "\(location)?digest=\(Fixtures.sha256(data))",
                                           headers: [("Content-Range", "1000000-1499999")], body: data.suffix(500_000))
        #expect(put.status == 201)
        #expect(try await second.request(.GET, "/v2/restart/me/blobs/\(Fixtures.sha256(data))").body == data)
        await second.destroy()
    }
}
