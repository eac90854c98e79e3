import BerthCore
import BerthFilesystem
import BerthSQLite
import Foundation
import Testing

/// Garbage collection walks blobs a page at a time (issue 22, item 13): the pages together are every candidate,
/// once, across page boundaries, on both metadata drivers and on the filesystem store.
extension MetadataStoreBehaviourTests {
    @Test(arguments: Driver.available) func unlinkedBlobsComeInPagesThatCoverEveryOne(driver: Driver) async throws {
        try await Self.withStore(driver) { store in
            let repo = Self.repo("team/app")
            let loose = (0..<25).map { Self.digest("loose-\($0)") }, kept = Self.digest("kept")
            for digest in loose + [kept] { try await store.addBlob(digest, size: 3, to: repo, completing: nil, by: "ann") }
            for digest in loose { #expect(try await store.removeBlob(digest, from: repo)) }
            var seen: [Digest] = [], after: Digest?, pages = 0
            while pages < 10 {
                let page = try await store.unlinkedBlobs(after: after, limit: 10)
                pages += 1
                seen += page.map(\.digest)
                guard page.count == 10, let last = page.last else { break }
                after = last.digest
            }
            #expect(pages == 3)
            #expect(seen == loose.sorted { $0.description < $1.description }, "every unlinked blob once, in digest order")
        }
    }
}

@Suite struct CollectionPagingTests {
    /// More unlinked rows and row-less bytes than one page holds: a collection removes every one, and the
    /// next finds nothing.
    @Test func aCollectionRemovesMoreThanAPageOfBlobs() async throws {
        try await withEmbeddedStores { folder, store, blobs in
            let service = RegistryService(blobs: blobs, metadata: store)
            let repo = try RepositoryName(validating: "team/app")
            let page = RegistryService.collectionPage
            // Unlinked rows (their bytes present), then bytes no row accounts for (a writer that died).
            for n in 0..<(page + 150) {
                let data = Data("row-\(n)".utf8), digest = Digest.of(data)
                try write(data, as: digest, under: folder)
                try await store.addBlob(digest, size: Int64(data.count), to: repo, completing: nil, by: "t")
                _ = try await store.removeBlob(digest, from: repo)
            }
            for n in 0..<(page + 300) {
                let data = Data("stray-\(n)".utf8)
                try write(data, as: Digest.of(data), under: folder)
            }
            let total = 2 * page + 450
            var options = CollectionOptions(dryRun: true, grace: .zero)
            let preview = try #require(try await service.collectGarbage(options, by: Caller(user: "t")))
            #expect(preview.blobs == total)
            options.dryRun = false
            let report = try #require(try await service.collectGarbage(options, by: Caller(user: "t")))
            #expect(report.blobs == total)
            var left = 0
            try await blobs.blobDigests { left += $0.count }
            #expect(left == 0)
            #expect(try await store.unlinkedBlobs(after: nil, limit: 10).isEmpty)
            #expect(try #require(try await service.collectGarbage(options, by: Caller(user: "t"))).blobs == 0)
        }
    }

    private func write(_ data: Data, as digest: Digest, under root: URL) throws {
        let folder = root.appendingPathComponent("blobs/\(digest.algorithm.rawValue)/\(digest.encoded.prefix(2))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try data.write(to: folder.appendingPathComponent(digest.encoded))
    }
}
