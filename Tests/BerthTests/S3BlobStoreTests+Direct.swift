import BerthCore
import BerthSQLite
@testable import BerthS3
import Foundation
import NIOCore
import Testing

/// Blobs written once, straight to their key, visible only when published; and garbage collection's calls.
extension S3BlobStoreTests {
    @Test func writtenBlobsAreInvisibleUntilPublished() async throws {
        try await Self.withStore { store in
            for (size, seed) in [(11 * Self.mib, UInt64(60)), (100_000, 61), (0, 62)] {
                let data = Self.bytes(size, seed: seed), digest = Digest.of(Data(data))
                let pending = try #require(try await store.writeBlob(digest, Self.body(data)))
                #expect(!(try await store.contains(digest)), "\(size) bytes visible before publish")
                try await pending.publish()
                #expect(try await store.contains(digest))
                if size > 0 { #expect(try await Self.readAll(store, digest, 0...Int64(size - 1)) == data) }
                var listed: [Digest] = []
                try await store.blobDigests { listed += $0 }
                #expect(listed.contains(digest))
                // Discarding after publishing (a failure further on) must not remove the published blob.
                await pending.discard()
                #expect(try await store.contains(digest))
                try await store.deleteBlob(digest)
                #expect(!(try await store.contains(digest)))
            }
            #expect(try await store.client.listMultipartUploads(prefix: store.configuration.prefix).uploads.isEmpty)
        }
    }

    @Test func discardedAndFailedWritesLeaveNothing() async throws {
        try await Self.withStore { store in
            let data = Self.bytes(11 * Self.mib, seed: 63), digest = Digest.of(Data(data))
            let pending = try #require(try await store.writeBlob(digest, Self.body(data)))
            await pending.discard()
            await #expect(throws: CancellationError.self) {
                _ = try await store.writeBlob(digest, Self.body(data, failAfter: 11 * Self.mib - 1000))
            }
            #expect(!(try await store.contains(digest)))
            #expect(try await store.client.listMultipartUploads(prefix: store.configuration.prefix).uploads.isEmpty)
            // A write its instance never finished is aborted by the clean-up, when old enough.
            let stale = try #require(try await store.writeBlob(digest, Self.body(data)))
            try await store.cleanUpWrites(before: Date().addingTimeInterval(-3600))
            #expect(try await store.client.listMultipartUploads(prefix: store.configuration.prefix).uploads.count == 1)
            try await store.cleanUpWrites(before: Date().addingTimeInterval(3600))
            #expect(try await store.client.listMultipartUploads(prefix: store.configuration.prefix).uploads.isEmpty)
            await #expect(throws: (any Error).self) { try await stale.publish() }
            #expect(!(try await store.contains(digest)))
        }
    }

    /// Garbage collection lists the bucket a page at a time: more keys than one ListObjectsV2 page come in
    /// several pages that together name every blob once (and nothing that is not a blob's key).
    @Test func blobListingComesInPages() async throws {
        try await Self.withStore { store in
            let digests = (0..<1050).map { Digest.of(Data("page-\($0)".utf8)) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for slice in stride(from: 0, to: digests.count, by: 150) {
                    let part = digests[slice..<min(slice + 150, digests.count)]
                    group.addTask { for d in part { try await store.client.putObject(store.blobKey(d), body: ByteBuffer(string: "x")) } }
                }
                try await group.waitForAll()
            }
            try await store.client.putObject(store.key("blobs/sha256/zz/not-a-digest"), body: ByteBuffer(string: "x"))
            var pages: [Int] = [], seen: [Digest] = []
            try await store.blobDigests { pages.append($0.count); seen += $0 }
            #expect(pages.count >= 2 && pages.allSatisfy { $0 <= 1000 }, "\(pages)")
            #expect(Set(seen) == Set(digests) && seen.count == digests.count)
        }
    }

    /// Tiny PATCHes through the registry: a short last segment is staged again with the next chunk, so six
    /// hundred 1,000-byte chunks make three segments of up to 256 KiB (and as many objects), not six hundred;
    /// clients are told the 5 MiB the store can copy at commit.
    @Test func tinyChunksMakeFewSegments() async throws {
        try await Self.withStore { store in
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("berth-s3chunks-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            let metadata = try SQLiteMetadataStore(path: folder.path + "/metadata.db", synchronous: false)
            let service = RegistryService(blobs: store, metadata: metadata)
            #expect(service.minimumChunkLength == 5 << 20)
            try await SmallChunkTests.tinyChunks(service, metadata, store, count: 600, chunk: 1000) { id, segments in
                #expect(segments == 3, "\(segments) segments")
                let objects = try await store.client.list(prefix: store.uploadPrefix(id)).objects.count
                #expect(objects == segments, "\(objects) staged objects")
            }
        }
    }
}
