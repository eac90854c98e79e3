import Foundation
import NIOCore

/// Copies a registry's blobs and metadata into other stores (`berth migrate-storage`, e.g. from the
/// filesystem and SQLite to S3 and PostgreSQL). Each blob is hashed on its way and written only when its
/// digest matches; each manifest is re-hashed and re-parsed, then stored with its tags, push time and pusher.
/// Every step is idempotent (blobs already in the target are skipped, links and manifests are upserts), so an
/// interrupted migration resumes by running it again, and a second run after a last burst of pushes copies
/// only what is new.
public struct StorageMigration: Sendable {
    let source: (blobs: any BlobStore, metadata: any MetadataExport)
    let target: (blobs: any BlobStore, metadata: any MetadataStore)
    /// Blobs copied at once.
    let jobs: Int
    /// Bytes read from the source before each write to the target (each becomes one staged segment).
    let window: Int64
    let progress: @Sendable (String) -> Void
    static let page = 500

    public init(from source: (blobs: any BlobStore, metadata: any MetadataExport),
                to target: (blobs: any BlobStore, metadata: any MetadataStore),
                jobs: Int = 4, window: Int64 = 32 << 20, progress: @escaping @Sendable (String) -> Void = { _ in }) {
        self.source = source
        self.target = target
        self.jobs = max(1, jobs)
        self.window = max(1, window)
        self.progress = progress
    }

    /// What a migration did. `problems` name what could not be copied; the migration is complete when empty.
    public struct Summary: Sendable {
        public var blobsCopied = 0
        public var blobsPresent = 0
        public var bytesCopied: Int64 = 0
        public var links = 0
        public var manifests = 0
        public var tags = 0
        public var policies = 0
        public var problems: [String] = []
    }

    public func run() async throws -> Summary {
        var summary = Summary()
        try await copyBlobs(&summary)
        try await copyLinks(&summary)
        try await copyManifests(&summary)
        for policy in try await source.metadata.exportPolicies() {
            try await target.metadata.setPolicy(policy.kind, scope: policy.scope, document: policy.document, by: policy.updatedBy)
            summary.policies += 1
        }
        return summary
    }

    // MARK: - Blobs

    enum BlobOutcome: Sendable {
        case present
        case copied(Int64)
        case problem(String)
    }

    func copyBlobs(_ summary: inout Summary) async throws {
        var last: Digest?
        while true {
            let page = try await source.metadata.exportBlobs(after: last, limit: Self.page)
            guard let end = page.last else { break }
            for outcome in try await forEach(page, copyBlob) {
                switch outcome {
                case .present: summary.blobsPresent += 1
                case .copied(let bytes):
                    summary.blobsCopied += 1
                    summary.bytesCopied += bytes
                case .problem(let problem): summary.problems.append(problem)
                }
            }
            progress("blobs: \(summary.blobsCopied) copied (\(summary.bytesCopied) bytes), \(summary.blobsPresent) already present")
            last = end.digest
        }
    }

    func copyBlob(_ blob: StoredBlob) async throws -> BlobOutcome {
        if try await target.blobs.contains(blob.digest) { return .present }
        guard try await source.blobs.contains(blob.digest) else {
            return .problem("blob \(blob.digest): recorded in the source's database, but its bytes are missing")
        }
        let id = UploadID()
        try await target.blobs.createUpload(id, durable: false)
        do {
            var hasher = DigestHasher(blob.digest.algorithm)
            var segments: [UploadSegment] = []
            var offset: Int64 = 0
            // At least one segment, so that an empty blob is stored too.
            repeat {
                let count = min(window, blob.size - offset)
                var buffers: [ByteBuffer] = []
                if count > 0 {
                    try await source.blobs.read(blob.digest, range: offset...(offset + count - 1)) { buffer in
                        buffer.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
                        buffers.append(buffer)
                    }
                }
                let segment = try await target.blobs.appendUpload(id, at: offset, BufferSequence(buffers: buffers))
                guard segment.end == offset + count else {
                    try? await target.blobs.deleteUpload(id)
                    return .problem("blob \(blob.digest): the source holds \(segment.end) bytes, not \(blob.size)")
                }
                segments.append(segment)
                offset = segment.end
            } while offset < blob.size
            let digest = hasher.finalize()
            guard digest == blob.digest else {
                try? await target.blobs.deleteUpload(id)
                return .problem("blob \(blob.digest): the source's bytes hash to \(digest); not copied")
            }
            try await target.blobs.commitUpload(id, segments: segments, as: blob.digest)
            try? await target.blobs.deleteUpload(id)
            return .copied(blob.size)
        } catch {
            try? await target.blobs.deleteUpload(id)
            throw error
        }
    }

    /// Which repository may serve which blob. The blobs are in the target by now, or were reported missing.
    func copyLinks(_ summary: inout Summary) async throws {
        var last: ExportKey?
        while true {
            let page = try await source.metadata.exportBlobLinks(after: last, limit: Self.page)
            guard let end = page.last else { break }
            for problem in try await forEach(page, copyLink) {
                if let problem { summary.problems.append(problem) } else { summary.links += 1 }
            }
            progress("blob links: \(summary.links)")
            last = end.key
        }
    }

    func copyLink(_ link: BlobLink) async throws -> String? {
        guard try await target.blobs.contains(link.digest) else {
            return "blob \(link.digest) in \(link.repository): not in the target; link not copied"
        }
        try await target.metadata.addBlob(link.digest, size: link.size, to: link.repository, completing: nil,
                                          by: link.linkedBy)
        return nil
    }

    // MARK: - Manifests

    /// Manifests in pages; an index met before the manifests it lists waits for a later pass.
    func copyManifests(_ summary: inout Summary) async throws {
        var last: ExportKey?
        var waiting: [ExportedManifest] = []
        while true {
            let page = try await source.metadata.exportManifests(after: last, limit: Self.page)
            guard let end = page.last else { break }
            for manifest in page {
                try await copyManifest(manifest, &summary, waiting: &waiting)
            }
            progress("manifests: \(summary.manifests), tags: \(summary.tags)")
            last = end.key
        }
        while !waiting.isEmpty {
            let pass = waiting
            waiting = []
            for manifest in pass {
                try await copyManifest(manifest, &summary, waiting: &waiting)
            }
            if waiting.count == pass.count {
                for manifest in waiting {
                    summary.problems.append("manifest \(manifest.key.repository)@\(manifest.key.digest): lists manifests missing from its repository; not copied")
                }
                break
            }
        }
    }

    func copyManifest(_ exported: ExportedManifest, _ summary: inout Summary, waiting: inout [ExportedManifest]) async throws {
        let stored = exported.record
        let name = "manifest \(stored.repository)@\(stored.digest)"
        guard Digest.of(stored.content, algorithm: stored.digest.algorithm) == stored.digest else {
            summary.problems.append("\(name): its content does not hash to its digest; not copied")
            return
        }
        let parsed: ParsedManifest
        do {
            parsed = try ManifestParser.parse(stored.content, contentType: stored.mediaType)
        } catch {
            summary.problems.append("\(name): \(error.message); not copied")
            return
        }
        let record = ManifestRecord(
            repository: stored.repository, digest: stored.digest, mediaType: stored.mediaType, content: stored.content,
            artifactType: parsed.artifactType, subject: parsed.subject, annotations: parsed.annotations,
            blobs: parsed.blobs, children: parsed.children, pushedAt: stored.pushedAt, pushedBy: stored.pushedBy)
        do {
            try await target.metadata.putManifest(record, tags: exported.tags)
            summary.manifests += 1
            summary.tags += exported.tags.count
        } catch StorageError.missingReferences(let blobs, _) where blobs.isEmpty {
            waiting.append(exported)
        } catch StorageError.missingReferences(let blobs, _) {
            // Deleting a blob from a repository does not check the manifests using it, so the source may hold
            // manifests that could no longer be pulled; the target's store refuses them.
            summary.problems.append("\(name): refers to blobs not in its repository (\(blobs.map(\.description).joined(separator: ", "))); not copied")
        }
    }

    // MARK: - Running several at once

    /// `body` over `items`, at most `jobs` at a time, results in the items' order.
    func forEach<Item: Sendable, Result: Sendable>(_ items: [Item], _ body: @escaping @Sendable (Item) async throws -> Result)
        async throws -> [Result] {
        try await withThrowingTaskGroup(of: (Int, Result).self) { group in
            var results = [Result?](repeating: nil, count: items.count)
            var next = 0
            while next < min(jobs, items.count) {
                let i = next, item = items[i]
                group.addTask { (i, try await body(item)) }
                next += 1
            }
            while let (i, result) = try await group.next() {
                results[i] = result
                if next < items.count {
                    let j = next, item = items[j]
                    group.addTask { (j, try await body(item)) }
                    next += 1
                }
            }
            return results.map { $0! }
        }
    }
}

/// Buffers already read, as the byte sequence a blob store takes.
struct BufferSequence: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let buffers: [ByteBuffer]

    struct AsyncIterator: AsyncIteratorProtocol {
        var rest: ArraySlice<ByteBuffer>
        mutating func next() async throws -> ByteBuffer? { rest.popFirst() }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(rest: buffers[...]) }
}
