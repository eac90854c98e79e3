import BerthCore
import Foundation
import Testing

/// The shared driver suite, continued: the usage queries quotas and usage reports read.
extension MetadataStoreBehaviourTests {
    @Test(arguments: Driver.available) func usageCountsEachBlobOncePerNamespace(driver: Driver) async throws {
        try await Self.withStore(driver) { store in
            let app = Self.repo("team/app"), web = Self.repo("team/web"), bare = Self.repo("team")
            // Names that sort right beside the namespace's range but are other namespaces.
            let neighbour = Self.repo("team-x/app"), dotted = Self.repo("team.x"), after = Self.repo("team0/app")
            let shared = Self.digest("shared layer"), own = Self.digest("own layer"), config = Self.digest("config")
            try await store.addBlob(shared, size: 1000, to: app, completing: nil, by: "ann")
            try await store.addBlob(config, size: 10, to: app, completing: nil, by: "ann")
            #expect(try await store.mountBlob(shared, from: app, to: web, by: "ann"))
            try await store.addBlob(own, size: 300, to: web, completing: nil, by: "ann")
            try await store.addBlob(own, size: 300, to: bare, completing: nil, by: "ann")
            for other in [neighbour, dotted, after] {
                try await store.addBlob(Self.digest("elsewhere \(other)"), size: 5000, to: other, completing: nil, by: "ann")
                try await store.addBlob(shared, size: 1000, to: other, completing: nil, by: "ann")
            }
            let one = Self.manifest(app, "one", blobs: [config, shared])
            let two = Self.manifest(web, "two", blobs: [shared, own])
            try await store.putManifest(one, tags: ["v1", "latest"])
            try await store.putManifest(two, tags: ["v1"])
            try await store.putManifest(Self.manifest(neighbour, "n"), tags: ["x"])
            let manifestBytes = Int64(one.content.count + two.content.count)

            let stored = try await store.storedBytes(inNamespace: "team")
            #expect(stored.blobs == 1000 + 10 + 300)
            #expect(stored.manifests == manifestBytes)
            #expect(stored.total == 1310 + manifestBytes)
            #expect(try await store.storedBytes(inNamespace: "nobody") == StoredBytes(blobs: 0, manifests: 0))
            #expect(try await store.storedBytes(inNamespace: "team-x").blobs == 6000)

            #expect(try await store.namespace("team", holds: own))
            #expect(try await store.namespace("team", holds: Self.digest("elsewhere team-x/app")) == false)
            #expect(try await store.namespace("team-x", holds: own) == false)
            #expect(try await store.repositoryCount(inNamespace: "team") == 3)
            #expect(try await store.repositoryCount(inNamespace: "team.x") == 1)
            #expect(try await store.repositoryCount(inNamespace: "void") == 0)
            #expect(try await store.repositoryExists(web))
            #expect(try await store.repositoryExists(Self.repo("team/none")) == false)

            let usage = try await store.repositoryUsage(inNamespace: "team", only: nil)
            #expect(usage.map(\.repository) == ["team", "team/app", "team/web"])
            let appUsage = try #require(usage.first { $0.repository == "team/app" })
            #expect(appUsage.blobBytes == 1010)
            #expect(appUsage.manifestBytes == Int64(one.content.count))
            #expect(appUsage.manifests == 1)
            #expect(appUsage.tags == 2)
            #expect(appUsage.lastPush == one.pushedAt)
            #expect(appUsage.lastPull == nil)
            let bareUsage = try #require(usage.first { $0.repository == "team" })
            #expect(bareUsage.blobBytes == 300 && bareUsage.manifests == 0 && bareUsage.tags == 0 && bareUsage.lastPush == nil)
            #expect(try await store.repositoryUsage(inNamespace: "team", only: web).map(\.blobBytes) == [1300])
            #expect(try await store.repositoryUsage(inNamespace: "team", only: Self.repo("team/none")).isEmpty)

            let pulled = Date(timeIntervalSince1970: 1_800_000_000)
            try await store.recordPulls([ManifestPull(repository: web, digest: two.digest, at: pulled)])
            #expect(try await store.repositoryUsage(inNamespace: "team", only: web).first?.lastPull == pulled)

            #expect(try await store.namespacesInUse() == ["team", "team-x", "team.x", "team0"])

            // Unlinking the only copy in the namespace frees its bytes; a shared one stays counted once.
            #expect(try await store.removeBlob(own, from: web))
            #expect(try await store.storedBytes(inNamespace: "team").blobs == 1310)
            #expect(try await store.removeBlob(own, from: bare))
            #expect(try await store.storedBytes(inNamespace: "team").blobs == 1010)
            #expect(try await store.deleteManifest(two.digest, in: web))
            #expect(try await store.storedBytes(inNamespace: "team").manifests == Int64(one.content.count))
        }
    }
}
