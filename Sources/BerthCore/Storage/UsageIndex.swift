import Foundation

/// What usage reports and quota checks read. A namespace's repositories are the one named as the namespace
/// and those named `namespace/…` (`RepositoryName.namespace`); drivers select them by a range on the name
/// (`RepositoryName.range(under:)`), so each query walks only that namespace's rows of the primary-key indexes.
public protocol UsageIndex: Sendable {
    /// The bytes a namespace holds: each distinct blob linked in any of its repositories once, plus the size of
    /// every manifest of its repositories (each repository stores its own copy of a manifest).
    func storedBytes(inNamespace namespace: String) async throws -> StoredBytes
    /// Whether a repository of the namespace has the blob linked (linking it into another costs nothing).
    func namespace(_ namespace: String, holds digest: Digest) async throws -> Bool
    /// How many repositories the namespace has (as the catalog lists them).
    func repositoryCount(inNamespace namespace: String) async throws -> Int
    func repositoryExists(_ repository: RepositoryName) async throws -> Bool
    /// The usage of each repository of the namespace, in name order; only `repository`'s when given.
    func repositoryUsage(inNamespace namespace: String, only repository: RepositoryName?) async throws -> [RepositoryUsage]
    /// Every namespace with at least one repository, in name order.
    func namespacesInUse() async throws -> [String]
}

extension RepositoryName {
    /// The bounds of a namespace's sub-repositories: names `>= lower` and `< upper` (in byte order) are exactly
    /// those starting with `namespace/` (`0` is the byte after `/`). The namespace's own repository, named as
    /// the namespace, is matched by equality: a range from the bare name would take in `team-x` too.
    public static func range(under namespace: String) -> (lower: String, upper: String) {
        (namespace + "/", namespace + "0")
    }
}

/// A namespace's stored bytes, in two parts.
public struct StoredBytes: Sendable, Hashable {
    /// Distinct blobs linked in its repositories, each counted once.
    public var blobs: Int64
    public var manifests: Int64
    public var total: Int64 { blobs + manifests }

    public init(blobs: Int64, manifests: Int64) {
        self.blobs = blobs
        self.manifests = manifests
    }
}

/// One repository's usage.
public struct RepositoryUsage: Sendable, Hashable {
    public var repository: String
    /// Distinct blobs linked in the repository.
    public var blobBytes: Int64
    public var manifestBytes: Int64
    public var manifests: Int
    public var tags: Int
    /// The latest manifest push and pull (pulls are written in batches, so up to seconds late).
    public var lastPush: Date?
    public var lastPull: Date?

    public init(repository: String, blobBytes: Int64, manifestBytes: Int64, manifests: Int, tags: Int,
                lastPush: Date?, lastPull: Date?) {
        self.repository = repository
        self.blobBytes = blobBytes
        self.manifestBytes = manifestBytes
        self.manifests = manifests
        self.tags = tags
        self.lastPush = lastPush
        self.lastPull = lastPull
    }
}
