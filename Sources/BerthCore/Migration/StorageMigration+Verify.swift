import Foundation

extension StorageMigration {
    /// What a check of the target against the source found.
    public struct Verification: Sendable {
        public var blobs = 0
        public var links = 0
        public var manifests = 0
        public var tags = 0
        public var policies = 0
        /// What the target lacks or holds differently; the target matches the source when empty.
        public var mismatches: [String] = []

        public init() {}
    }

    /// Checks through the target's own read paths that it holds everything the source holds: every blob's
    /// bytes, every blob visible in its repositories with its size, every manifest with identical content,
    /// every tag pointing at the same manifest. Reads the source page by page, like the copy.
    public func verify() async throws -> Verification {
        var result = Verification()
        var lastBlob: Digest?
        while true {
            let page = try await source.metadata.exportBlobs(after: lastBlob, limit: Self.page)
            guard let end = page.last else { break }
            for (blob, present) in zip(page, try await forEach(page, { try await target.blobs.contains($0.digest) })) {
                if present { result.blobs += 1 } else { result.mismatches.append("blob \(blob.digest): missing") }
            }
            lastBlob = end.digest
        }
        var lastLink: ExportKey?
        while true {
            let page = try await source.metadata.exportBlobLinks(after: lastLink, limit: Self.page)
            guard let end = page.last else { break }
            let sizes = try await forEach(page) { try await target.metadata.blobSize($0.digest, in: $0.repository) }
            for (link, size) in zip(page, sizes) {
                if size == link.size { result.links += 1 } else {
                    result.mismatches.append("blob \(link.digest) in \(link.repository): \(size.map { "\($0) bytes" } ?? "not visible"), not \(link.size) bytes")
                }
            }
            lastLink = end.key
        }
        var lastManifest: ExportKey?
        while true {
            let page = try await source.metadata.exportManifests(after: lastManifest, limit: Self.page)
            guard let end = page.last else { break }
            for check in try await forEach(page, verifyManifest) {
                if check.content { result.manifests += 1 }
                result.tags += check.tags
                result.mismatches.append(contentsOf: check.problems)
            }
            lastManifest = end.key
        }
        for policy in try await source.metadata.exportPolicies() {
            let stored = try await target.metadata.policies(policy.kind, scopes: [policy.scope])[policy.scope]
            if stored == policy.document { result.policies += 1 } else {
                result.mismatches.append("\(policy.kind) policy of \(policy.scope): \(stored == nil ? "missing" : "different")")
            }
        }
        return result
    }

    /// Whether the target holds one manifest as the source does, how many of its tags it holds, and what differs.
    func verifyManifest(_ exported: ExportedManifest) async throws -> (content: Bool, tags: Int, problems: [String]) {
        let record = exported.record
        let name = "manifest \(record.repository)@\(record.digest)"
        var problems: [String] = []
        let stored = try await target.metadata.manifest(.digest(record.digest), in: record.repository)
        let same = stored?.content == record.content
        if !same { problems.append("\(name): \(stored == nil ? "missing" : "different content")") }
        var tags = 0
        for tag in exported.tags {
            let tagged = try await target.metadata.manifest(.tag(tag), in: record.repository)
            if tagged?.digest == record.digest { tags += 1 } else {
                problems.append("\(name): tag \(tag) \(tagged.map { "points at \($0.digest)" } ?? "missing")")
            }
        }
        return (same, tags, problems)
    }
}
