import BerthCore
import BerthFilesystem
@testable import BerthPostgres
import Foundation
import NIOCore
import PostgresNIO
import Synchronization
import Testing

/// Writes that race a concurrent write or a collection, in the metadata drivers (the shared suite's drivers):
/// what a client was told is kept.
extension MetadataStoreBehaviourTests {
    static let immutable: @Sendable (String) -> Bool = { $0.hasPrefix("v") }

    /// A delete of a manifest racing a push of an immutable tag onto it: once the push is acknowledged, the
    /// tag stays (the delete either went first, and the push stored the manifest again, or it sees the tag
    /// and is refused). Bounded rounds; on PostgreSQL the two run on separate pooled connections.
    @Test(arguments: Driver.available) func deletesNeverTakeAnImmutableTagPushedMeanwhile(driver: Driver) async throws {
        try await Self.withStore(driver) { store in
            let repo = Self.repo("team/app")
            for round in 0..<60 {
                let image = Self.manifest(repo, "round \(round)"), tag = "v\(round)"
                try await store.putManifest(image, tags: [])
                let deleting = Task { _ = try? await store.deleteManifest(image.digest, in: repo, protected: Self.immutable) }
                let pushing = Task { (try? await store.putManifest(image, tags: [tag], protected: Self.immutable)) != nil }
                await deleting.value
                if await pushing.value {
                    #expect(try await store.manifest(.tag(tag), in: repo)?.digest == image.digest, "round \(round)")
                }
            }
        }
    }

    /// The same race made certain on PostgreSQL: the delete is held (by a share lock on the manifest's row,
    /// which a tag push's own share lock does not wait for) until the push has committed.
    @Test(.enabled(if: postgresURL != nil)) func aDeleteHeldUntilATagPushCommittedSeesTheTag() async throws {
        try await Self.withPostgres(count: 1) { stores in
            let store = stores[0], repo = Self.repo("team/app"), image = Self.manifest(repo, "image")
            try await store.putManifest(image, tags: [])
            try await store.client.withConnection { holder in
                try await holder.query("BEGIN", logger: store.logger)
                try await holder.query("""
                    SELECT 1 FROM manifests WHERE repository = \(repo.value) AND digest = \(image.digest.description) FOR SHARE
                    """, logger: store.logger)
                let pid = try await holder.rows("SELECT pg_backend_pid()", store.logger)[0].decode(Int32.self)
                let deletion = Task { try await store.deleteManifest(image.digest, in: repo, protected: Self.immutable) }
                var waiting = false
                for _ in 0..<400 where !waiting {
                    try await Task.sleep(for: .milliseconds(25))
                    waiting = try await store.query("""
                        SELECT count(*) FROM pg_stat_activity WHERE \(pid) = ANY(pg_blocking_pids(pid))
                        """)[0].decode(Int.self) > 0
                }
                #expect(waiting)
                try await store.putManifest(image, tags: ["v1"], protected: Self.immutable)  // acknowledged
                try await holder.query("COMMIT", logger: store.logger)
                await #expect(throws: StorageError.protectedTag("v1")) { _ = try await deletion.value }
            }
            #expect(try await store.manifest(.tag("v1"), in: repo)?.digest == image.digest)
        }
    }

    /// Lifecycle rules apply what their plan saw: an image planned as untagged and tagged before the plan is
    /// applied stays, with its referrer; one unchanged since goes.
    @Test(arguments: Driver.available) func lifecycleKeepsAnImageTaggedAfterItsPlan(driver: Driver) async throws {
        try await Self.withStore(driver) { store in
            let repo = Self.repo("team/app"), caller = Caller(user: "ann")
            let image = Self.manifest(repo, "image"), signature = Self.manifest(repo, "signature", subject: image.digest)
            let other = Self.manifest(repo, "other")
            for m in [image, signature, other] { try await store.putManifest(m, tags: []) }
            let lifecycle = Lifecycle(store: store, audit: NoAudit())
            try await lifecycle.setPolicy(Data("""
                {"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed",
                 "countUnit":"days","countNumber":1},"action":{"type":"expire"}}]}
                """.utf8), on: "team", by: caller)
            let plan = try #require(try await lifecycle.preview(repo))
            #expect(Set(plan.expiries.map(\.image.digest)) == [image.digest, other.digest])
            try await store.putManifest(image, tags: ["release"])  // pushed between plan and apply
            #expect(try await lifecycle.apply(plan, by: caller) == [other.digest])
            #expect(try await store.manifest(.tag("release"), in: repo)?.digest == image.digest)
            #expect(try await store.manifest(.digest(signature.digest), in: repo) != nil)
            #expect(try await store.manifest(.digest(other.digest), in: repo) == nil)
        }
    }

    /// A blob upload that finds the bytes present, loses its claim to a collection (claims an hour old are a
    /// dead writer's) which condemns the blob and deletes the bytes, then links: the link is refused in its
    /// transaction and the upload stores the bytes again, so the acknowledged blob can be read.
    @Test(arguments: Driver.available) func aWriterWhoseClaimWasDroppedStoresItsBlobAgain(driver: Driver) async throws {
        try await Self.withStore(driver) { store in
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("berth-blobs-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: folder) }
            let files = try FilesystemBlobStore(root: folder.path, synchronous: false)
            let blobs = InterposingBlobStore(files)
            let service = RegistryService(blobs: blobs, metadata: store)
            let repo = Self.repo("team/app"), other = Self.repo("team/other"), caller = Caller(user: "ann")
            let content = Data("the layer's bytes".utf8), digest = Digest.of(content)
            try await service.uploadMonolithic(digest, in: other, Self.body(content), by: caller)
            #expect(try await store.removeBlob(digest, from: other))  // unlinked: the collector's candidate
            blobs.interpose {
                // What a collection does meanwhile: drop the claim as stale, condemn, delete the bytes, forget.
                #expect(try await store.dropClaims(before: try await store.clock() + 3_600_000) == 1)
                #expect(try await store.condemnBlob(digest) != nil)
                try await files.deleteBlob(digest)
                try await store.forgetBlob(digest)
            }
            try await service.uploadMonolithic(digest, in: repo, Self.body(content), by: caller)
            #expect(blobs.interposed)
            var read = Data()
            try await service.blob(digest, in: repo).read(0...Int64(content.count - 1)) { read.append(contentsOf: $0.readableBytesView) }
            #expect(read == content)
        }
    }

    static func body(_ data: Data) -> AsyncThrowingStream<ByteBuffer, any Error> {
        AsyncThrowingStream { continuation in
            continuation.yield(ByteBuffer(bytes: data))
            continuation.finish()
        }
    }
}

/// A blob store that runs an action once, right after the first `contains` that finds bytes present: the
/// moment between a writer's presence check and its link.
final class InterposingBlobStore: BlobStore {
    let base: FilesystemBlobStore
    private let action = Mutex<(@Sendable () async throws -> Void)?>(nil)
    private let ran = Mutex(false)

    init(_ base: FilesystemBlobStore) { self.base = base }

    func interpose(_ body: @escaping @Sendable () async throws -> Void) { action.withLock { $0 = body } }
    var interposed: Bool { ran.withLock { $0 } }

    func contains(_ digest: Digest) async throws -> Bool {
        let present = try await base.contains(digest)
        if present, let body = action.withLock({ value in defer { value = nil }; return value }) {
            try await body()
            ran.withLock { $0 = true }
        }
        return present
    }

    func read(_ digest: Digest, range: ClosedRange<Int64>, into sink: (ByteBuffer) async throws -> Void) async throws {
        try await base.read(digest, range: range, into: sink)
    }
    func createUpload(_ id: UploadID, durable: Bool) async throws { try await base.createUpload(id, durable: durable) }
    func appendUpload(_ id: UploadID, at offset: Int64, after last: UploadSegment?,
                      _ data: some AsyncSequence<ByteBuffer, any Error>) async throws -> UploadSegment {
        try await base.appendUpload(id, at: offset, after: last, data)
    }
    func discardSegment(_ id: UploadID, _ segment: UploadSegment) async throws { try await base.discardSegment(id, segment) }
    func readUpload(_ id: UploadID, segments: [UploadSegment], into sink: (ByteBuffer) async throws -> Void) async throws {
        try await base.readUpload(id, segments: segments, into: sink)
    }
    func commitUpload(_ id: UploadID, segments: [UploadSegment], as digest: Digest) async throws {
        try await base.commitUpload(id, segments: segments, as: digest)
    }
    func deleteUpload(_ id: UploadID) async throws { try await base.deleteUpload(id) }
    func uploadIDs() async throws -> [UploadID] { try await base.uploadIDs() }
    func uploadModified(_ id: UploadID) async throws -> Date? { try await base.uploadModified(id) }
    func deleteBlob(_ digest: Digest) async throws { try await base.deleteBlob(digest) }
    func blobDigests(pages page: ([Digest]) async throws -> Void) async throws { try await base.blobDigests(pages: page) }
    func checkHealth() async throws { try await base.checkHealth() }
}
