import Foundation

/// Which blobs exist and which repository may serve them.
public protocol BlobIndex: Sendable {
    /// The blob's size when it is visible in `repository`.
    func blobSize(_ digest: Digest, in repository: RepositoryName) async throws -> Int64?
    /// Records a stored blob and makes it visible in `repository`, linked by `caller`.
    /// With `upload`, that session ends in the same transaction (one durable commit, not two); with `claim`,
    /// the writer's claim on the digest (`GarbageIndex.claimBlob`) is dropped in it too. Linking a blob
    /// already linked renews the link's time.
    /// Throws `WriteConflict.claimLost` (recording nothing) when `claim` is no longer held or the blob is
    /// condemned: a collector may have deleted the bytes the writer relied on, so the writer stores them again.
    func addBlob(_ digest: Digest, size: Int64, to repository: RepositoryName, completing upload: UploadID?,
                 claim: String?, by caller: String) async throws
    /// Makes a blob visible in `repository` when `source` can see it. Returns false when it cannot (also
    /// while a collector is deleting the blob: the client then uploads it).
    func mountBlob(_ digest: Digest, from source: RepositoryName, to repository: RepositoryName, by caller: String) async throws -> Bool
    /// Some repositories in which the blob is visible, at most `limit`, in name order.
    func repositories(holding digest: Digest, limit: Int) async throws -> [RepositoryName]
    /// Hides a blob from `repository`. Returns false when it was not visible there.
    func removeBlob(_ digest: Digest, from repository: RepositoryName) async throws -> Bool
}

/// Manifests, tags and the referrers index.
public protocol ManifestIndex: Sendable {
    /// Stores a manifest, its references and tags in one durable transaction, after checking in that same
    /// transaction that its `blobs` are visible in its repository and its `children` are manifests of it;
    /// throws `StorageError.missingReferences` (storing nothing) when some are not. A tag `protected` accepts
    /// that already points at another manifest is left alone: `StorageError.protectedTag` (storing nothing).
    func putManifest(_ manifest: ManifestRecord, tags: [String], protected: @escaping @Sendable (String) -> Bool) async throws
    func manifest(_ reference: ManifestReference, in repository: RepositoryName) async throws -> ManifestRecord?
    /// Deletes manifests of `repository` with the tags pointing at them, all or nothing, in one transaction
    /// that reads each manifest's tags only once no tag can be written to it any more (on PostgreSQL, with
    /// its row locked as a tag push locks it): a tag pushed concurrently is either seen here or written after
    /// the delete, onto the manifest pushed again. Throws, deleting nothing, `StorageError.protectedTag` when
    /// `protected` accepts one of those tags, and `WriteConflict.tagsChanged` when a manifest's tags are not
    /// the ones its deletion expects. Manifests already gone are skipped; returns those deleted.
    func deleteManifests(_ deletions: [ManifestDeletion], in repository: RepositoryName,
                         protected: @escaping @Sendable (String) -> Bool) async throws -> [Digest]
    /// Deletes a tag only. Returns false when it did not exist.
    func deleteTag(_ tag: String, in repository: RepositoryName) async throws -> Bool
    /// Tags in lexical order after `last`; nil when the repository is unknown.
    func tags(in repository: RepositoryName, after last: String?, limit: Int) async throws -> [String]?
    /// Repository names in lexical order after `last`.
    func repositories(after last: String?, limit: Int) async throws -> [String]
    /// Every manifest of `repository` with its tags, whether another manifest of it lists it (an index's
    /// child) and its subject (a referrer): what lifecycle rules evaluate.
    func manifestEntries(in repository: RepositoryName) async throws -> [ManifestEntry]
    /// Records when manifests were last pulled (a later time replaces an earlier one; unknown manifests are
    /// skipped). Batched by the caller: not a synced write per pull.
    func recordPulls(_ pulls: [ManifestPull]) async throws
    /// Manifests of `repository` whose subject is `subject`, optionally of one artifact type.
    func referrers(of subject: Digest, in repository: RepositoryName, artifactType: String?) async throws -> [Descriptor]
}

/// Upload sessions, which must survive restarts and are shared by every instance over one database.
public protocol UploadSessions: Sendable {
    func createUpload(_ id: UploadID, in repository: RepositoryName, by caller: String) async throws
    /// The session's repository, size and staged segments; nil when it does not exist.
    func uploadSession(_ id: UploadID) async throws -> UploadSession?
    /// Records `segment` as the session's next bytes when the session still holds `size` bytes (a
    /// compare-and-set: of two requests that staged bytes at the same offset, one wins). False when the
    /// session is gone or has moved on. A segment starting before `size` absorbed the session's last one and
    /// takes its place.
    func advanceUpload(_ id: UploadID, from size: Int64, adding segment: UploadSegment) async throws -> Bool
    func deleteUpload(_ id: UploadID) async throws
    func uploadIDs() async throws -> [UploadID]
    /// Sessions that received nothing since `cutoff`.
    func uploadIDs(idleSince cutoff: Date) async throws -> [UploadID]
}

/// A manifest as a repository listing sees it.
public struct ManifestEntry: Sendable, Hashable {
    public var digest: Digest
    public var tags: [String]
    public var pushedAt: Date
    public var subject: Digest?
    /// True when another manifest of the repository lists it (an index's child).
    public var listed: Bool
    public var lastPulledAt: Date?

    public init(digest: Digest, tags: [String], pushedAt: Date, subject: Digest?, listed: Bool, lastPulledAt: Date? = nil) {
        self.digest = digest
        self.tags = tags
        self.pushedAt = pushedAt
        self.subject = subject
        self.listed = listed
        self.lastPulledAt = lastPulledAt
    }
}

/// A manifest pull, as `recordPulls` takes it.
public struct ManifestPull: Sendable, Hashable {
    public var repository: RepositoryName
    public var digest: Digest
    public var at: Date

    public init(repository: RepositoryName, digest: Digest, at: Date) {
        self.repository = repository
        self.digest = digest
        self.at = at
    }
}

/// An upload session as the metadata store keeps it.
public struct UploadSession: Sendable {
    public var repository: RepositoryName
    /// Bytes received so far: the end of the last segment.
    public var size: Int64
    public var segments: [UploadSegment]

    public init(repository: RepositoryName, size: Int64, segments: [UploadSegment]) {
        self.repository = repository
        self.size = size
        self.segments = segments
    }
}

/// Health and one-at-a-time background jobs.
public protocol StoreOperations: Sendable {
    /// Throws when the database cannot serve (for health checks).
    func checkHealth() async throws
    /// Runs `job` unless another process (another instance over the same database) is running the job of
    /// that name; returns nil without running it then.
    func exclusively<T: Sendable>(_ job: String, _ body: @Sendable () async throws -> T) async throws -> T?
}

extension BlobIndex {
    public func addBlob(_ digest: Digest, size: Int64, to repository: RepositoryName, completing upload: UploadID?,
                        by caller: String) async throws {
        try await addBlob(digest, size: size, to: repository, completing: upload, claim: nil, by: caller)
    }
}

extension ManifestIndex {
    public func putManifest(_ manifest: ManifestRecord, tags: [String]) async throws {
        try await putManifest(manifest, tags: tags, protected: { _ in false })
    }

    /// Deletes a manifest and whatever tags point at it. Returns false when it did not exist; throws
    /// `StorageError.protectedTag` (deleting nothing) when `protected` accepts one of those tags.
    public func deleteManifest(_ digest: Digest, in repository: RepositoryName,
                               protected: @escaping @Sendable (String) -> Bool) async throws -> Bool {
        try await !deleteManifests([ManifestDeletion(digest)], in: repository, protected: protected).isEmpty
    }

    public func deleteManifest(_ digest: Digest, in repository: RepositoryName) async throws -> Bool {
        try await deleteManifest(digest, in: repository, protected: { _ in false })
    }
}

/// What a metadata write found changed under it, checked in its transaction (it wrote nothing). Drivers throw
/// these as they throw `StorageError`s; the registry service decides what the writer does next.
public enum WriteConflict: Error, Sendable, Equatable {
    /// A manifest's tags are no longer those its deleter decided on.
    case tagsChanged(Digest)
    /// A writer's claim on this digest was dropped (garbage collection drops claims an hour old as dead
    /// writers'), or the blob is condemned: the bytes the writer relied on may be gone, so nothing was linked.
    case claimLost(Digest)
}

/// A manifest to delete, and the tags its deleter decided on (a lifecycle plan: an image planned as untagged
/// must not go with a tag pushed since).
public struct ManifestDeletion: Sendable, Hashable {
    public var digest: Digest
    /// The tags the manifest must still have, exactly; nil: whatever it has.
    public var expectedTags: Set<String>?

    public init(_ digest: Digest, expectedTags: Set<String>? = nil) {
        self.digest = digest
        self.expectedTags = expectedTags
    }

    /// Whether the tags found under the delete's lock are what this deletion expects.
    public func expects(_ tags: Set<String>) -> Bool { expectedTags.map { $0 == tags } ?? true }
}

/// Repository policies (tag immutability, and later lifecycle rules and quotas): one JSON document per kind
/// and scope (a namespace or a repository), which the registry service interprets.
public protocol PolicyStore: Sendable {
    /// The documents of `kind` set on any of `scopes`, by scope.
    func policies(_ kind: String, scopes: [String]) async throws -> [String: Data]
    /// Every document of `kind`, by scope.
    func policies(_ kind: String) async throws -> [String: Data]
    /// Sets (or with nil, removes) a scope's document of `kind`.
    func setPolicy(_ kind: String, scope: String, document: Data?, by caller: String) async throws
}

public typealias MetadataStore = BlobIndex & ManifestIndex & UploadSessions & StoreOperations & PolicyStore & GarbageIndex
    & UsageIndex

/// A stored manifest.
public struct ManifestRecord: Sendable {
    public var repository: RepositoryName
    public var digest: Digest
    public var mediaType: String
    public var content: Data
    public var artifactType: String?
    public var subject: Digest?
    public var annotations: [String: String]?
    /// Blobs (config and distributable layers) this manifest refers to; they must be visible in its repository.
    public var blobs: [Digest]
    /// Manifests an index refers to; they must be manifests of its repository.
    public var children: [Digest]
    public var pushedAt: Date
    /// Who pushed it (a user name, or `anonymous`).
    public var pushedBy: String

    public init(repository: RepositoryName, digest: Digest, mediaType: String, content: Data,
                artifactType: String?, subject: Digest?, annotations: [String: String]?,
                blobs: [Digest], children: [Digest], pushedAt: Date, pushedBy: String) {
        self.repository = repository
        self.digest = digest
        self.mediaType = mediaType
        self.content = content
        self.artifactType = artifactType
        self.subject = subject
        self.annotations = annotations
        self.blobs = blobs
        self.children = children
        self.pushedAt = pushedAt
        self.pushedBy = pushedBy
    }
}
