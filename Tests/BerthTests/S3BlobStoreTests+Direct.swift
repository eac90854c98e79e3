import BerthCore
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
                #expect(try await store.blobDigests().contains(digest))
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
}
