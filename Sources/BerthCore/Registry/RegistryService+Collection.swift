import Foundation

/// What one garbage collection may remove.
public struct CollectionOptions: Sendable, Equatable {
    /// Only report what would go.
    public var dryRun: Bool
    /// Blob links and untagged manifests younger than this (at the collection's start) are kept, so a
    /// client between uploading its layers and pushing their manifest is not cut off.
    public var grace: Duration
    /// Also delete manifests that no tag and no index references (referrers of a present subject stay).
    public var untagged: Bool
    /// Upload sessions idle for longer than this go.
    public var uploadExpiry: Duration

    public init(dryRun: Bool = false, grace: Duration = .seconds(3600), untagged: Bool = false,
                uploadExpiry: Duration = .seconds(86_400)) {
        self.dryRun = dryRun
        self.grace = grace
        self.untagged = untagged
        self.uploadExpiry = uploadExpiry
    }
}

/// What a collection removed (or, in a dry run, would remove).
public struct CollectionReport: Sendable, Codable, Equatable {
    public var dryRun = false
    public var manifests = 0
    public var links = 0
    public var blobs = 0
    public var bytesFreed: Int64 = 0
    public var uploads = 0

    public init(dryRun: Bool = false) { self.dryRun = dryRun }

    public var summary: String {
        let verb = dryRun ? "would remove" : "removed"
        return "\(verb) \(manifests) manifests, \(links) blob links, \(blobs) blobs (\(bytesFreed) bytes), \(uploads) upload sessions"
    }
}

extension RegistryService {
    /// Runs one garbage collection while the registry serves, unless another process is running one (nil).
    /// Each removal is decided by the metadata store in its own transaction, re-checking under the locks
    /// writers take, before any bytes go; see docs/GARBAGE-COLLECTION.md.
    public func collectGarbage(_ options: CollectionOptions, by caller: Caller) async throws -> CollectionReport? {
        try await metadata.exclusively("gc") { try await self.collect(options, by: caller) }
    }

    private func collect(_ options: CollectionOptions, by caller: Caller) async throws -> CollectionReport {
        var report = CollectionReport(dryRun: options.dryRun)
        // Everything linked or pushed after this instant is out of reach, whatever the grace.
        let fence = try await metadata.clock()
        let cutoff = fence - Self.millis(options.grace)
        let repositories = try await metadata.collectableRepositories()
        if options.untagged {
            for repository in repositories {
                report.manifests += try await collectManifests(in: repository, before: cutoff, options.dryRun, by: caller)
            }
        }
        for repository in repositories {
            for digest in try await metadata.unreferencedLinks(in: repository, before: cutoff) {
                if options.dryRun {
                    report.links += 1
                } else if try await metadata.collectLink(digest, in: repository, before: cutoff) {
                    report.links += 1
                }
            }
        }
        try await collectBlobs(&report, fence: fence)
        if !options.dryRun {
            report.uploads = try await expireUploads(idleFor: options.uploadExpiry)
            // A writer's claim lives for the seconds of one commit; one an hour old belongs to a dead writer.
            _ = try await metadata.dropClaims(before: fence - 3_600_000)
            try await blobs.cleanUpWrites(before: Date().addingTimeInterval(-86_400))
        }
        if report != CollectionReport(dryRun: options.dryRun) {
            audit.record(AuditEvent(caller, options.dryRun ? "gc.preview" : "gc.run", "registry", detail: report.summary))
        }
        logger.info("garbage collection \(report.summary)")
        return report
    }

    /// Untagged, unlisted manifests, in passes: deleting an index frees its children, a subject its referrers.
    private func collectManifests(in repository: RepositoryName, before cutoff: Int64, _ dryRun: Bool,
                                  by caller: Caller) async throws -> Int {
        var removed = 0
        for _ in 0..<16 {
            let candidates = try await metadata.unreferencedManifests(in: repository, before: cutoff)
            if dryRun { return candidates.count }
            var pass = 0
            for digest in candidates where try await metadata.collectManifest(digest, in: repository, before: cutoff) {
                audit.record(AuditEvent(caller, "manifest.collect", "\(repository)@\(digest)"))
                pass += 1
            }
            removed += pass
            if pass == 0 { break }
        }
        return removed
    }

    /// Blobs nothing links, and bytes no row accounts for (a writer that died between storing and recording
    /// them): each is condemned in a transaction first, so no writer can link or reuse it meanwhile. Both walks
    /// go a page at a time, so memory stays flat however many blobs there are (berth-bench's `gc` figure).
    private func collectBlobs(_ report: inout CollectionReport, fence: Int64) async throws {
        var after: Digest?
        while true {
            let page = try await metadata.unlinkedBlobs(after: after, limit: Self.collectionPage)
            for (digest, size) in page { try await collectBlob(digest, listedSize: size, &report) }
            guard page.count == Self.collectionPage, let last = page.last else { break }
            after = last.digest
        }
        // Bytes with a row were judged above (their rows are the truth); these have none, or a claim.
        try await blobs.blobDigests { stored in
            for start in stride(from: 0, to: stored.count, by: Self.collectionPage) {
                let batch = Array(stored[start..<min(start + Self.collectionPage, stored.count)])
                let accounted = try await metadata.accountedBlobs(batch)
                for digest in batch where !accounted.contains(digest) {
                    try await collectBlob(digest, listedSize: 0, &report)
                }
            }
        }
    }

    /// Rows or digests one query of a collection handles.
    public static let collectionPage = 1000

    private func collectBlob(_ digest: Digest, listedSize: Int64, _ report: inout CollectionReport) async throws {
        if report.dryRun {
            report.blobs += 1
            report.bytesFreed += listedSize
            return
        }
        guard let size = try await metadata.condemnBlob(digest) else { return }
        try await blobs.deleteBlob(digest)
        try await metadata.forgetBlob(digest)
        report.blobs += 1
        report.bytesFreed += size
    }

    static func millis(_ duration: Duration) -> Int64 {
        let (seconds, atto) = duration.components
        return seconds.multipliedReportingOverflow(by: 1000).overflow ? Int64.max / 2 : seconds * 1000 + atto / 1_000_000_000_000_000
    }

    /// Claims a digest for a writer, waiting while a collector deletes that blob's bytes (milliseconds). A
    /// blob left condemned by a collector that died is finished here, once no collector runs: condemned, it
    /// is nobody's, so its bytes and row may go.
    func claim(_ digest: Digest, for claim: String) async throws {
        for _ in 0..<120 {
            if try await metadata.claimBlob(digest, claim: claim) { return }
            let finished = try await metadata.exclusively("gc") { () async throws -> Bool in
                if try await self.metadata.claimBlob(digest, claim: claim) { return true }
                try await self.blobs.deleteBlob(digest)
                try await self.metadata.forgetBlob(digest)
                self.logger.info("finished removing \(digest), left condemned by an interrupted garbage collection")
                return false
            }
            if finished == true { return }
            if finished == nil { try await Task.sleep(for: .milliseconds(250)) }
        }
        throw RegistryError(.unavailable, "blob \(digest) is being removed; retry")
    }
}
