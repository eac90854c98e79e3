import Foundation

/// Usage by namespace and repository, deduplicated as quotas count it (`UsageIndex`), with each namespace's
/// quota beside it: what the admin API and `berth usage` report.
public struct UsageReports: Sendable {
    let metadata: any MetadataStore

    public init(store: any MetadataStore) {
        self.metadata = store
    }

    /// One namespace's or repository's usage.
    public struct Report: Sendable, Hashable, Encodable {
        /// The namespace or repository.
        public var name: String
        public var bytes: Int64
        public var blobBytes: Int64
        public var manifestBytes: Int64
        /// Repositories (1 for a repository), images (manifests) and tags.
        public var repositories: Int
        public var manifests: Int
        public var tags: Int
        public var lastPush: Date?
        public var lastPull: Date?
        /// A namespace's quota, if set.
        public var quota: NamespaceQuota?
        /// A namespace's repositories, when asked for.
        public var repositoryUsage: [Report]?
    }

    /// Every namespace holding a repository or having a quota, without the per-repository lines.
    public func namespaces() async throws -> [Report] {
        let quotas = try await Quotas(store: metadata, audit: NoAudit()).quotas()
        var reports: [Report] = []
        for namespace in Set(try await metadata.namespacesInUse() + quotas.map(\.namespace)).sorted() {
            reports.append(try await self.namespace(namespace, withRepositories: false))
        }
        return reports
    }

    /// A namespace (with its repositories) or, for a name with a slash, one repository; nil when unknown.
    public func report(_ name: RepositoryName) async throws -> Report? {
        if name.namespace == name.value {
            let report = try await namespace(name.value, withRepositories: true)
            return report.repositories == 0 && report.quota == nil ? nil : report
        }
        return try await metadata.repositoryUsage(inNamespace: name.namespace, only: name).first.map(Self.report)
    }

    func namespace(_ namespace: String, withRepositories: Bool) async throws -> Report {
        let repositories = try await metadata.repositoryUsage(inNamespace: namespace, only: nil)
        // Blobs shared by repositories count once: the namespace's bytes are not the sum of its repositories'.
        let stored = try await metadata.storedBytes(inNamespace: namespace)
        return Report(
            name: namespace, bytes: stored.total, blobBytes: stored.blobs, manifestBytes: stored.manifests,
            repositories: repositories.count, manifests: repositories.reduce(0) { $0 + $1.manifests },
            tags: repositories.reduce(0) { $0 + $1.tags }, lastPush: repositories.compactMap(\.lastPush).max(),
            lastPull: repositories.compactMap(\.lastPull).max(), quota: try await Quotas(store: metadata, audit: NoAudit()).quota(of: namespace),
            repositoryUsage: withRepositories ? repositories.map(Self.report) : nil)
    }

    static func report(_ usage: RepositoryUsage) -> Report {
        Report(name: usage.repository, bytes: usage.blobBytes + usage.manifestBytes, blobBytes: usage.blobBytes,
               manifestBytes: usage.manifestBytes, repositories: 1, manifests: usage.manifests, tags: usage.tags,
               lastPush: usage.lastPush, lastPull: usage.lastPull)
    }
}
