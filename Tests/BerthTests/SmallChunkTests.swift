import BerthCore
import BerthFilesystem
import BerthSQLite
import Foundation
import NIOCore
import Testing

/// Tiny PATCHes (issue 22, item 17): a client sending many small chunks makes a bounded number of segments,
/// so neither the session's metadata nor the staged objects grow with its request count.
extension MetadataStoreBehaviourTests {
    @Test(arguments: Driver.available) func aSegmentThatAbsorbsTheLastTakesItsPlace(driver: Driver) async throws {
        try await Self.withStore(driver) { store in
            let id = UploadID()
            try await store.createUpload(id, in: Self.repo("team/app"), by: "ann")
            let first = UploadSegment(start: 0, end: 10, name: "a"), second = UploadSegment(start: 10, end: 12, name: "b")
            #expect(try await store.advanceUpload(id, from: 0, adding: first))
            #expect(try await store.advanceUpload(id, from: 10, adding: second))
            // Starting before the session's size: it holds the last segment's bytes too, and replaces it.
            let merged = UploadSegment(start: 10, end: 20, name: "c")
            #expect(try await store.advanceUpload(id, from: 12, adding: merged))
            let session = try #require(try await store.uploadSession(id))
            #expect(session.size == 20 && session.segments == [first, merged])
            // Still a compare-and-set on the size.
            #expect(try await !store.advanceUpload(id, from: 12, adding: UploadSegment(start: 10, end: 30, name: "d")))
        }
    }
}

@Suite struct SmallChunkTests {
    /// On the filesystem every chunk extends the one staging file: three hundred PATCHes make one segment,
    /// and the blob completes intact. A chunk that fails leaves the acknowledged bytes as they were.
    @Test func filesystemSessionsStayOneSegment() async throws {
        try await withEmbeddedStores { _, store, blobs in
            try await Self.tinyChunks(RegistryService(blobs: blobs, metadata: store), store, blobs, count: 300, chunk: 10) { _, segments in
                #expect(segments == 1)
            }
            #expect(blobs.minimumChunkLength == nil)
        }
    }

    /// Appends `count` chunks of `chunk` bytes (one of them failing half-way, then sent again), checks the
    /// session's segments with `check`, and completes the upload.
    static func tinyChunks(_ service: RegistryService, _ store: any MetadataStore, _ blobs: any BlobStore, count: Int, chunk: Int,
                           check: (UploadID, Int) async throws -> Void) async throws {
        let repo = try RepositoryName(validating: "team/chunks")
        let id = try await service.startUpload(in: repo, by: Caller(user: "t"))
        var all = Data()
        for n in 0..<count {
            let bytes = Data((0..<chunk).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ n) })
            if n == count / 2 {
                await #expect(throws: (any Error).self) {
                    _ = try await service.appendUpload(id, in: repo, start: Int64(all.count), Self.failing(bytes))
                }
            }
            let size = try await service.appendUpload(id, in: repo, start: Int64(all.count), Self.body(bytes))
            all += bytes
            #expect(size == Int64(all.count))
        }
        let session = try #require(try await store.uploadSession(id))
        #expect(session.size == Int64(all.count))
        try await check(id, session.segments.count)
        let digest = Digest.of(all)
        try await service.completeUpload(id, in: repo, digest: digest, start: nil, Self.body(Data()), by: Caller(user: "t"))
        #expect(try await blobs.contains(digest))
    }

    static func body(_ data: Data) -> AsyncThrowingStream<ByteBuffer, any Error> {
        AsyncThrowingStream { continuation in
            if !data.isEmpty { continuation.yield(ByteBuffer(bytes: data)) }
            continuation.finish()
        }
    }

    /// Half the bytes, then a failure (a client whose connection dropped).
    static func failing(_ data: Data) -> AsyncThrowingStream<ByteBuffer, any Error> {
        AsyncThrowingStream { continuation in
            continuation.yield(ByteBuffer(bytes: data.prefix(data.count / 2)))
            continuation.finish(throwing: CancellationError())
        }
    }
}
