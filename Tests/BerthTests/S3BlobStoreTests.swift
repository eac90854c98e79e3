import AsyncHTTPClient
import BerthCore
@testable import BerthS3
import Foundation
import NIOCore
import Testing

/// The live S3 the tests may use, from the environment (nil: the suite is skipped).
enum S3TestEnvironment {
    static let value: (endpoint: String, bucket: String)? = {
        let env = ProcessInfo.processInfo.environment
        guard let endpoint = env["BERTH_TEST_S3_ENDPOINT"], !endpoint.isEmpty,
              let bucket = env["BERTH_TEST_S3_BUCKET"], !bucket.isEmpty,
              env["AWS_ACCESS_KEY_ID"] != nil, env["AWS_SECRET_ACCESS_KEY"] != nil
        else { return nil }
        return (endpoint, bucket)
    }()
}

/// The S3 driver against a real S3-compatible service. Runs only when BERTH_TEST_S3_ENDPOINT,
/// BERTH_TEST_S3_BUCKET, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are set (e.g. a local SeaweedFS);
/// each test works under its own random prefix and removes it after.
@Suite(.enabled(if: S3TestEnvironment.value != nil, "set BERTH_TEST_S3_ENDPOINT, BERTH_TEST_S3_BUCKET and AWS credentials"))
struct S3BlobStoreTests {
    static var environment: (endpoint: String, bucket: String)? { S3TestEnvironment.value }

    static let mib = 1 << 20

    static func configuration(partSize: Int = S3Configuration.minimumPartSize, prefix: String = "berth-test-\(UUID().uuidString.lowercased())",
                              secretKey: String? = nil, endpoint: String? = nil) throws -> S3Configuration {
        let env = environment!
        return try S3Configuration.fromEnvironment(endpoint: endpoint ?? env.endpoint, bucket: env.bucket,
                                                   prefix: prefix, secretKey: secretKey, partSize: partSize)
    }

    /// A store under a fresh prefix (the bucket created if missing), removed with everything under it after.
    static func withStore(partSize: Int = S3Configuration.minimumPartSize,
                          _ body: (S3BlobStore) async throws -> Void) async throws {
        let store = try S3BlobStore(configuration: configuration(partSize: partSize))
        do {
            do { try await store.client.headBucket() } catch { try await store.client.createBucket() }
            try await body(store)
        } catch {
            await cleanUp(store)
            try await store.shutdown()
            throw error
        }
        await cleanUp(store)
        try await store.shutdown()
    }

    static func cleanUp(_ store: S3BlobStore) async {
        let prefix = store.configuration.prefix
        if let uploads = try? await store.client.listMultipartUploads(prefix: prefix).uploads {
            for u in uploads { try? await store.client.abortMultipartUpload(u.key, uploadID: u.uploadID) }
        }
        if let objects = try? await store.client.list(prefix: prefix).objects {
            for o in objects { try? await store.client.deleteObject(o.key) }
        }
    }

    /// Deterministic bytes (a seeded LCG), so runs are reproducible.
    static func bytes(_ count: Int, seed: UInt64 = 1) -> [UInt8] {
        var state = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
    }

    /// `data` as a request body arriving in chunks of `chunk` bytes, optionally failing after `failAfter` bytes.
    static func body(_ data: [UInt8], chunk: Int = 64 << 10, failAfter: Int? = nil) -> AsyncThrowingStream<ByteBuffer, any Error> {
        AsyncThrowingStream { continuation in
            var offset = 0
            while offset < data.count {
                if let failAfter, offset >= failAfter { break }
                let end = min(offset + chunk, data.count)
                continuation.yield(ByteBuffer(bytes: data[offset..<end]))
                offset = end
            }
            continuation.finish(throwing: failAfter == nil ? nil : CancellationError())
        }
    }

    static func readAll(_ store: S3BlobStore, _ digest: Digest, _ range: ClosedRange<Int64>) async throws -> [UInt8] {
        var out: [UInt8] = []
        try await store.read(digest, range: range) { buffer in
            #expect(buffer.readableBytes <= S3BlobStore.ioChunk)
            out += buffer.readableBytesView
        }
        return out
    }

    static func readUpload(_ store: S3BlobStore, _ id: UploadID, _ segments: [UploadSegment]) async throws -> [UInt8] {
        var out: [UInt8] = []
        try await store.readUpload(id, segments: segments) { out += $0.readableBytesView }
        return out
    }

    /// Stages `parts` as consecutive segments, commits them under their digest, checks the blob's bytes.
    static func stageAndCommit(_ store: S3BlobStore, _ parts: [[UInt8]], chunk: Int = 64 << 10) async throws -> (UploadID, Digest, [UploadSegment]) {
        let id = UploadID()
        try await store.createUpload(id, durable: true)
        var segments: [UploadSegment] = []
        var offset: Int64 = 0
        for part in parts {
            let segment = try await store.appendUpload(id, at: offset, body(part, chunk: chunk))
            #expect(segment.start == offset && segment.end == offset + Int64(part.count))
            segments.append(segment)
            offset = segment.end
        }
        let all = parts.flatMap { $0 }
        #expect(try await readUpload(store, id, segments) == all)
        let digest = Digest.of(all)
        try await store.commitUpload(id, segments: segments, as: digest)
        #expect(try await store.contains(digest))
        if !all.isEmpty { #expect(try await readAll(store, digest, 0...Int64(all.count - 1)) == all) }
        return (id, digest, segments)
    }

    @Test func smallUploadRangesAndContains() async throws {
        try await Self.withStore { store in
            let data = Self.bytes(100_000)
            let (id, digest, _) = try await Self.stageAndCommit(store, [data])
            #expect(try await Self.readAll(store, digest, 10...19) == Array(data[10...19]))
            #expect(try await Self.readAll(store, digest, 99_999...99_999) == [data[99_999]])
            // Commit leaves the staged bytes: the caller deletes the upload once the blob is recorded.
            #expect(try await store.uploadIDs().contains(id))
            try await store.deleteUpload(id)
            #expect(!(try await store.uploadIDs().contains(id)))
            let absent = Digest.of(Self.bytes(10, seed: 99))
            #expect(!(try await store.contains(absent)))
            await #expect(throws: S3Error.self) { _ = try await Self.readAll(store, absent, 0...9) }
        }
    }

    @Test func multipartSegmentAndLargeCopy() async throws {
        try await Self.withStore { store in
            // 12 MiB + 123 bytes with 5 MiB parts: one segment made by a three-part multipart upload.
            let data = Self.bytes(12 * Self.mib + 123, seed: 2)
            let (_, digest, segments) = try await Self.stageAndCommit(store, [data])
            #expect(segments.count == 1)
            let edge = Int64(5 * Self.mib)
            #expect(try await Self.readAll(store, digest, (edge - 5)...(edge + 5)) == Array(data[Int(edge - 5)...Int(edge + 5)]))
            // Exactly one part's worth stays a single PUT (no multipart upload left behind either way).
            _ = try await Self.stageAndCommit(store, [Self.bytes(5 * Self.mib, seed: 3)])
            #expect(try await store.client.listMultipartUploads(prefix: store.configuration.prefix).uploads.isEmpty)
        }
    }

    @Test func bodyInManyTinyChunks() async throws {
        try await Self.withStore { store in
            _ = try await Self.stageAndCommit(store, [Self.bytes(30_001, seed: 4)], chunk: 3)
        }
    }

    @Test func severalSegmentsSmallAndLarge() async throws {
        try await Self.withStore { store in
            // Copied parts (>= 5 MiB) between runs of small segments gathered into 5 MiB parts.
            let sizes = [1 * Self.mib, 3 * Self.mib, 6 * Self.mib, 100_000, 5 * Self.mib, 2 * Self.mib + 7, 11]
            let parts = sizes.enumerated().map { Self.bytes($0.element, seed: UInt64(10 + $0.offset)) }
            _ = try await Self.stageAndCommit(store, parts)
            // All small: gathered into one PUT.
            _ = try await Self.stageAndCommit(store, [Self.bytes(1000, seed: 20), Self.bytes(1, seed: 21), Self.bytes(70_000, seed: 22)])
            #expect(try await store.client.listMultipartUploads(prefix: store.configuration.prefix).uploads.isEmpty)
        }
    }

    @Test func emptyUpload() async throws {
        try await Self.withStore { store in
            let (id, digest, segments) = try await Self.stageAndCommit(store, [[]])
            #expect(segments[0].start == 0 && segments[0].end == 0)
            #expect(try await Self.readUpload(store, id, segments).isEmpty)
            #expect(digest == Digest.of([UInt8]()))
            let other = UploadID()
            try await store.commitUpload(other, segments: [], as: digest)
            #expect(try await store.contains(digest))
        }
    }

    @Test func losingSegmentIsDiscarded() async throws {
        try await Self.withStore { store in
            let id = UploadID()
            let first = try await store.appendUpload(id, at: 0, Self.body(Self.bytes(1000, seed: 30)))
            // Two requests raced at offset 1000: each staged its own object; the loser is handed back.
            let winner = try await store.appendUpload(id, at: 1000, Self.body(Self.bytes(500, seed: 31)))
            let loser = try await store.appendUpload(id, at: 1000, Self.body(Self.bytes(700, seed: 32)))
            #expect(winner.name != loser.name)
            #expect(try await store.client.list(prefix: store.uploadPrefix(id)).objects.count == 3)
            try await store.discardSegment(id, loser)
            let keys = try await store.client.list(prefix: store.uploadPrefix(id)).objects.map(\.key)
            let kept = [try store.segmentKey(id, first), try store.segmentKey(id, winner)]
            #expect(Set(keys) == Set(kept))
            #expect(try await Self.readUpload(store, id, [first, winner]) == Self.bytes(1000, seed: 30) + Self.bytes(500, seed: 31))
            await #expect(throws: StorageError.uploadNotFound) { _ = try await Self.readUpload(store, id, [first, loser]) }
            let digest = Digest.of(Self.bytes(1000, seed: 30) + Self.bytes(700, seed: 32))
            await #expect(throws: StorageError.uploadNotFound) { try await store.commitUpload(id, segments: [loser], as: digest) }
        }
    }

    @Test func failedBodyLeavesNothing() async throws {
        try await Self.withStore { store in
            let id = UploadID()
            // Fails after two full parts were sent: the multipart upload must be aborted.
            await #expect(throws: CancellationError.self) {
                _ = try await store.appendUpload(id, at: 0, Self.body(Self.bytes(11 * Self.mib, seed: 40), failAfter: 11 * Self.mib - 1000))
            }
            await #expect(throws: CancellationError.self) {
                _ = try await store.appendUpload(id, at: 0, Self.body(Self.bytes(1000, seed: 41), failAfter: 500))
            }
            let objects = try await store.client.list(prefix: store.uploadPrefix(id)).objects
            let multiparts = try await store.client.listMultipartUploads(prefix: store.uploadPrefix(id)).uploads
            let modified = try await store.uploadModified(id)
            #expect(objects.isEmpty)
            #expect(multiparts.isEmpty)
            #expect(modified == nil)
        }
    }

    @Test func deleteUploadRemovesSegmentsAndPartialMultiparts() async throws {
        try await Self.withStore { store in
            let id = UploadID(), other = UploadID()
            #expect(try await store.uploadModified(id) == nil)
            let before = Date().addingTimeInterval(-60)
            _ = try await store.appendUpload(id, at: 0, Self.body(Self.bytes(2000, seed: 50)))
            _ = try await store.appendUpload(other, at: 0, Self.body(Self.bytes(10, seed: 51)))
            // What an append that died mid-way leaves: a multipart upload in progress with a part.
            let key = store.uploadPrefix(id) + S3BlobStore.segmentName(start: 2000)
            let multipart = try await store.client.createMultipartUpload(key)
            _ = try await store.client.uploadPart(key, uploadID: multipart, number: 1, body: ByteBuffer(bytes: Self.bytes(100)))
            #expect(Set(try await store.uploadIDs()) == [id, other])
            let modified = try #require(try await store.uploadModified(id))
            #expect(modified > before && modified < Date().addingTimeInterval(60))
            try await store.deleteUpload(id)
            #expect(try await store.client.list(prefix: store.uploadPrefix(id)).objects.isEmpty)
            #expect(try await store.client.listMultipartUploads(prefix: store.uploadPrefix(id)).uploads.isEmpty)
            #expect(try await store.uploadIDs() == [other])
            #expect(try await store.uploadModified(id) == nil)
            try await store.deleteUpload(id)  // again: nothing there is fine
        }
    }

    @Test func healthChecks() async throws {
        try await Self.withStore { store in try await store.checkHealth() }
        let wrongSecret = try S3BlobStore(configuration: Self.configuration(secretKey: "not-the-secret"))
        let refused = await #expect(throws: S3Error.self) { try await wrongSecret.checkHealth() }
        #expect(refused?.status == 403)
        try await wrongSecret.shutdown()
        let wrongEndpoint = try S3BlobStore(configuration: Self.configuration(endpoint: "http://127.0.0.1:1"))
        await #expect(throws: (any Error).self) { try await wrongEndpoint.checkHealth() }
        try await wrongEndpoint.shutdown()
    }

    @Test func presignedURLServesTheBlob() async throws {
        try await Self.withStore { store in
            let data = Self.bytes(4321, seed: 60)
            let (_, digest, _) = try await Self.stageAndCommit(store, [data])
            let response = try await store.client.http.execute(
                HTTPClientRequest(url: store.presignedURL(for: digest, expires: .seconds(300))), timeout: .seconds(30))
            #expect(response.status.code == 200)
            #expect(Array(try await response.body.collect(upTo: 1 << 20).readableBytesView) == data)
            // Signed for that key only.
            let tampered = store.presignedURL(for: digest, expires: .seconds(300)).replacingOccurrences(of: "X-Amz-Expires=300", with: "X-Amz-Expires=301")
            let refused = try await store.client.http.execute(HTTPClientRequest(url: tampered), timeout: .seconds(30))
            #expect(refused.status.code == 403)
        }
    }
}
