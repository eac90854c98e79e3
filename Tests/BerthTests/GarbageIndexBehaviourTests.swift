import BerthCore
import Foundation
import Testing

/// Garbage collection's decisions in the metadata drivers (the shared suite's drivers): each check-and-delete
/// refuses what a writer relies on, and what it removed cannot be relied on afterwards.
extension MetadataStoreBehaviourTests {
    @Test(arguments: Driver.available) func linksAndManifestsGoOnlyWhenUnreferenced(driver: Driver) async throws {
        try await Self.withStore(driver) { store in
            let repo = Self.repo("team/app")
            let layer = Self.digest("layer"), loose = Self.digest("loose")
            try await store.addBlob(layer, size: 5, to: repo, completing: nil, by: "ann")
            try await store.addBlob(loose, size: 5, to: repo, completing: nil, by: "ann")
            let tagged = Self.manifest(repo, "tagged", blobs: [layer]), child = Self.manifest(repo, "child")
            let index = Self.manifest(repo, "index", children: [child.digest])
            let signature = Self.manifest(repo, "signature", subject: tagged.digest)
            let orphan = Self.manifest(repo, "orphan", blobs: [layer])
            for m in [tagged, child, index, signature, orphan] { try await store.putManifest(m, tags: m.digest == tagged.digest ? ["v1"] : []) }
            let future = try await store.clock() + 60_000, past: Int64 = 0
            // Older than the cutoff only: nothing goes with a cutoff before every push and link.
            #expect(try await store.unreferencedManifests(in: repo, before: past).isEmpty)
            #expect(try await !store.collectLink(loose, in: repo, before: past))
            // Unreferenced: the untagged index and the orphan; not the tagged one, the index's child or the signature.
            #expect(Set(try await store.unreferencedManifests(in: repo, before: future)) == [index.digest, orphan.digest])
            #expect(try await !store.collectManifest(tagged.digest, in: repo, before: future))
            #expect(try await !store.collectManifest(child.digest, in: repo, before: future))
            #expect(try await !store.collectManifest(signature.digest, in: repo, before: future))
            #expect(try await store.collectManifest(index.digest, in: repo, before: future))
            #expect(try await store.unreferencedManifests(in: repo, before: future).contains(child.digest))
            // The tagged manifest references the layer: its link stays; the loose one goes.
            #expect(try await store.unreferencedLinks(in: repo, before: future) == [loose])
            #expect(try await !store.collectLink(layer, in: repo, before: future))
            #expect(try await store.collectLink(loose, in: repo, before: future))
            // A manifest pushed after its blob's link went is refused, in the transaction that would store it.
            let late = Self.manifest(repo, "late", blobs: [loose])
            await #expect(throws: StorageError.missingReferences(blobs: [loose], manifests: [])) {
                try await store.putManifest(late, tags: ["late"])
            }
            // Linking again renews the link's time: a cutoff before the renewal leaves it.
            let before = try await store.clock()
            try await Task.sleep(for: .milliseconds(5))
            try await store.addBlob(layer, size: 5, to: Self.repo("team/other"), completing: nil, by: "ann")
            #expect(try await !store.collectLink(layer, in: Self.repo("team/other"), before: before))
        }
    }

    @Test(arguments: Driver.available) func claimsAndCondemnationsExcludeEachOther(driver: Driver) async throws {
        try await Self.withStore(driver) { store in
            let repo = Self.repo("team/app"), other = Self.repo("team/other")
            let blob = Self.digest("blob"), orphan = Self.digest("orphan")
            try await store.addBlob(blob, size: 4, to: repo, completing: nil, by: "ann")
            // Linked: not a candidate, and not condemned.
            #expect(try await store.condemnBlob(blob) == nil)
            #expect(try await store.collectLink(blob, in: repo, before: store.clock() + 60_000))
            #expect(try await store.unlinkedBlobs(after: nil, limit: 1000).map(\.digest) == [blob])
            // A writer's claim (about to reuse the bytes) keeps it.
            #expect(try await store.claimBlob(blob, claim: "upload-1"))
            #expect(try await store.condemnBlob(blob) == nil)
            try await store.addBlob(blob, size: 4, to: other, completing: nil, claim: "upload-1", by: "ann")
            #expect(try await store.blobSize(blob, in: other) == 4)
            #expect(try await store.condemnBlob(blob) == nil)
            #expect(try await store.collectLink(blob, in: other, before: store.clock() + 60_000))
            // Condemned: no claim, no mount, not visible; a second collector finds it condemned.
            #expect(try await store.condemnBlob(blob) == 4)
            #expect(try await store.condemnBlob(blob) == 4)
            #expect(try await !store.claimBlob(blob, claim: "upload-2"))
            #expect(try await !store.mountBlob(blob, from: repo, to: other, by: "ann"))
            #expect(try await store.blobSize(blob, in: repo) == nil)
            try await store.forgetBlob(blob)
            #expect(try await store.claimBlob(blob, claim: "upload-2"))
            try await store.releaseClaim(blob, claim: "upload-2")
            // Bytes without a row: condemned through a new row, unless a writer claimed them.
            #expect(try await store.claimBlob(orphan, claim: "upload-3"))
            #expect(try await store.accountedBlobs([orphan, blob]) == [orphan])
            #expect(try await store.condemnBlob(orphan) == nil)
            #expect(try await store.dropClaims(before: store.clock() + 60_000) == 1)
            #expect(try await store.condemnBlob(orphan) == 0)
            #expect(try await !store.claimBlob(orphan, claim: "upload-4"))
            try await store.forgetBlob(orphan)
            #expect(try await store.accountedBlobs([orphan]).isEmpty)
        }
    }

    @Test(arguments: Driver.available) func referencedBlobsStayWithoutLinks(driver: Driver) async throws {
        try await Self.withStore(driver) { store in
            let repo = Self.repo("team/app"), layer = Self.digest("layer")
            try await store.addBlob(layer, size: 5, to: repo, completing: nil, by: "ann")
            try await store.putManifest(Self.manifest(repo, "image", blobs: [layer]), tags: ["v1"])
            // A client deleting a layer's link (DELETE /v2/.../blobs/...) does not free bytes a manifest uses.
            #expect(try await store.removeBlob(layer, from: repo))
            #expect(try await store.unlinkedBlobs(after: nil, limit: 1000).isEmpty)
            #expect(try await store.condemnBlob(layer) == nil)
        }
    }
}
