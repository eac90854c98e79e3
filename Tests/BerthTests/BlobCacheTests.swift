import BerthCore
@testable import BerthPostgres
import Foundation
import Testing

/// The PostgreSQL driver's blob cache across instances: once a removal returns, no instance answers from a
/// cached entry for it, however warm its cache was (PostgresMetadataStore+Invalidation).
extension MetadataStoreBehaviourTests {
    @Test(.enabled(if: postgresURL != nil)) func blobCacheForgetsRemovalsOnEveryInstance() async throws {
        try await Self.withPostgres(count: 3, blobCache: true) { stores in
            let (a, b, c) = (stores[0], stores[1], stores[2])
            try await Self.waitForCaches([a, b, c])
            let repo = Self.repo("team/app")
            for round in 0..<25 {
                let blob = Self.digest("blob \(round)")
                try await a.addBlob(blob, size: Int64(round + 1), to: repo, completing: nil, by: "ann")
                // Visible at once elsewhere (misses are never cached), then cached on b and c.
                for store in [b, c] { #expect(try await store.blobSize(blob, in: repo) == Int64(round + 1)) }
                #expect(try await Self.cached(blob, in: repo, by: b) == Int64(round + 1))
                // Removed through a: by the API on odd rounds (settled before it returns), by garbage
                // collection on even ones (settled once its blob phase starts, before any blob is condemned).
                if round % 2 == 1 {
                    #expect(try await a.removeBlob(blob, from: repo))
                } else {
                    #expect(try await a.collectLink(blob, in: repo, before: a.clock() + 60_000))
                    #expect(try await a.unlinkedBlobs(after: nil, limit: 1000).contains { $0.digest == blob })
                }
                for store in [b, c, a] { #expect(try await store.blobSize(blob, in: repo) == nil, "round \(round)") }
            }
        }
    }

    @Test(.enabled(if: postgresURL != nil)) func blobCacheEmptiesWhenItsLeaseLapsed() async throws {
        try await Self.withPostgres(count: 2, blobCache: true) { stores in
            let (a, b) = (stores[0], stores[1])
            try await Self.waitForCaches([a, b])
            let repo = Self.repo("team/app"), blob = Self.digest("leased")
            try await a.addBlob(blob, size: 7, to: repo, completing: nil, by: "ann")
            #expect(try await Self.cached(blob, in: repo, by: b) == 7)
            let key = BlobSizeCache.key(repo.value, blob.description)
            // Leases lapse (as when an instance stalls for over 3 s, and removers stop waiting for it), and a
            // removal happens behind the protocol's back: b must not renew its lapsed lease as if nothing
            // happened, but register anew with an emptied cache.
            try await a.query("UPDATE cache_members SET lease_until = clock_timestamp() - interval '1 second'")
            try await a.query("DELETE FROM repository_blobs WHERE digest = \(blob.description)")
            // b's next renewal (every second) finds the lapse.
            let deadline = ContinuousClock.now + .seconds(10)
            while b.blobCache?.size(key) != nil, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(b.blobCache?.size(key) == nil)
            #expect(try await b.blobSize(blob, in: repo) == nil)
        }
    }

    @Test func blobCacheDropsReadsOverlappingAnEviction() {
        let cache = BlobSizeCache()
        cache.extend(until: .now + .seconds(60))
        // A read began, an eviction of its key arrived meanwhile: what it read may be stale, so it is not kept.
        let early = cache.ticket()!
        cache.evict("r d")
        cache.store("r d", 5, early)
        #expect(cache.size("r d") == nil)
        let late = cache.ticket()!
        cache.store("r d", 5, late)
        #expect(cache.size("r d") == 5)
    }

    @Test func blobCacheAnswersOnlyWithinItsLease() async throws {
        let cache = BlobSizeCache()
        #expect(cache.ticket() == nil)
        cache.extend(until: .now + .milliseconds(100))
        cache.store("r d", 5, cache.ticket()!)
        #expect(cache.size("r d") == 5)
        try await Task.sleep(for: .milliseconds(150))
        #expect(cache.size("r d") == nil && cache.ticket() == nil)
    }

    @Test func blobCacheChannelFitsAnIdentifier() throws {
        for schema in [nil, "berth", String(repeating: "s", count: 51), String(repeating: "s", count: 63)] {
            var configuration = try PostgresMetadataStore.Configuration(url: "postgres://berth@127.0.0.1:1/berth")
            try configuration.setSchema(schema)
            let channel = PostgresMetadataStore(configuration: configuration).cacheChannel
            #expect(channel.utf8.count <= 63 && channel.hasPrefix("berth_cache"), "\(channel)")
        }
    }

    /// Reads a blob's size through `store` until its cache holds it (a read while the cache is briefly out of
    /// force, its renewal late on a loaded machine, is not stored), and returns the cached size.
    static func cached(_ blob: Digest, in repo: RepositoryName, by store: PostgresMetadataStore) async throws -> Int64? {
        let key = BlobSizeCache.key(repo.value, blob.description)
        for _ in 0..<100 {
            _ = try await store.blobSize(blob, in: repo)
            if let size = store.blobCache?.size(key) { return size }
            try await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    /// Waits until every store's cache is in force (listening and registered).
    static func waitForCaches(_ stores: [PostgresMetadataStore]) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while stores.contains(where: { $0.blobCache?.ticket() == nil }) {
            guard ContinuousClock.now < deadline else { Issue.record("blob caches not in force after 10 s"); return }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
