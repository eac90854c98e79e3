import Foundation
import Logging
import NIOCore
import Synchronization

/// Limits and switches of the registry domain.
public struct RegistryOptions: Sendable {
    /// The largest manifest accepted, in bytes.
    public var manifestMaxBytes: Int = 4 * 1024 * 1024
    /// The largest page of tags or repositories returned at once.
    public var maxPageSize: Int = 10_000
    /// Upload sessions whose running hash is kept in memory at most (a few hundred bytes each).
    public var maxRunningHashes: Int = 10_000
    /// Repository names one catalog request reads at most while skipping those the caller may not see: a
    /// caller who may see little gets a short (even empty) page and a `Link` to go on, not a walk of the table.
    public var catalogScanLimit: Int = 10_000
    /// What a garbage collection removes unless told otherwise (scheduled runs, the admin API).
    public var collection = CollectionOptions()

    public init(manifestMaxBytes: Int = 4 * 1024 * 1024, maxPageSize: Int = 10_000, maxRunningHashes: Int = 10_000,
                collection: CollectionOptions = CollectionOptions()) {
        self.manifestMaxBytes = manifestMaxBytes
        self.maxPageSize = maxPageSize
        self.maxRunningHashes = maxRunningHashes
        self.collection = collection
    }
}

/// The registry domain: blobs, uploads, manifests, tags, referrers and listings, over a blob store and a
/// metadata store. It knows nothing of HTTP; errors are `RegistryError`s with spec codes.
public final class RegistryService: Sendable {
    let blobs: any BlobStore
    let metadata: any MetadataStore
    public let options: RegistryOptions
    let logger: Logger
    /// Pushes and deletes, as audit records.
    let audit: any AuditRecorder

    /// Serializes requests on one upload session.
    let uploadLocks = KeyedLock<UploadID>()
    /// Running hashes of upload sessions, so that completing an upload need not read it back.
    /// Lost on restart; an upload without one is hashed from its staged bytes.
    let runningHashes = Mutex<[UploadID: RunningHash]>([:])
    /// Pulls noted since the last flush to the metadata store.
    let pulls = PullLog()

    public init(blobs: any BlobStore, metadata: any MetadataStore, options: RegistryOptions = .init(),
                audit: any AuditRecorder = NoAudit(), logger: Logger = Logger(label: "berth.registry")) {
        self.blobs = blobs
        self.metadata = metadata
        self.options = options
        self.audit = audit
        self.logger = logger
    }
}

struct RunningHash: Sendable {
    var offset: Int64
    var hasher: DigestHasher
}
