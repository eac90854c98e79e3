import Foundation
import NIOCore

/// Content-addressed blob storage with upload staging. One copy of each blob serves every repository;
/// which repository may see which blob is the metadata store's business, not the blob store's.
///
/// Durability contract: when a mutating call returns, what it wrote survives a crash, and with
/// synchronous writes enabled, a power loss.
public protocol BlobStore: Sendable {
    /// Streams `range` of a stored blob to `sink`, in chunks of bounded size.
    func read(_ digest: Digest, range: ClosedRange<Int64>,
              into sink: (ByteBuffer) async throws -> Void) async throws

    /// True when the blob's bytes are present.
    func contains(_ digest: Digest) async throws -> Bool

    /// Starts an empty upload staging area. `durable`: it must survive power loss (a session a client will
    /// resume), rather than live only for one request (a monolithic upload). A driver may create nothing
    /// until the first segment arrives.
    func createUpload(_ id: UploadID, durable: Bool) async throws

    /// Stages `data` as the upload's bytes from `offset` on (the end of the segments recorded so far) and
    /// returns the new segment. Bytes a driver finds staged beyond `offset` (left by a request that failed or
    /// lost a race) are not part of the upload. When `data` fails, nothing of it counts and the call throws.
    /// The segment becomes part of the upload only once the metadata store records it; a segment it refuses
    /// is handed back to `discardSegment`.
    ///
    /// `last`, the upload's last recorded segment (ending at `offset`), lets a driver keep a client's many small
    /// chunks from becoming as many segments: it may return one segment from `last.start` holding `last`'s
    /// bytes and the new ones, which the metadata store records in `last`'s place. Under `last`'s name, the
    /// driver extended it in place (only the bytes from `offset` on are the request's to discard); under a new
    /// name, it staged a copy, and `last` is discarded once the copy is recorded.
    func appendUpload(_ id: UploadID, at offset: Int64, after last: UploadSegment?,
                      _ data: some AsyncSequence<ByteBuffer, any Error>) async throws -> UploadSegment

    /// Removes a staged segment that did not become part of its upload.
    func discardSegment(_ id: UploadID, _ segment: UploadSegment) async throws

    /// Streams the upload's bytes, made of `segments` in order, to `sink` (to hash an upload whose running
    /// hash is not at hand). Throws `StorageError.uploadNotFound` when they are gone.
    func readUpload(_ id: UploadID, segments: [UploadSegment], into sink: (ByteBuffer) async throws -> Void) async throws

    /// Moves a verified upload made of `segments` into the content store under `digest`, atomically and
    /// durably. The staged bytes may stay until `deleteUpload` (so that a retried commit still finds them).
    func commitUpload(_ id: UploadID, segments: [UploadSegment], as digest: Digest) async throws

    /// Removes an upload's staging area, if any.
    func deleteUpload(_ id: UploadID) async throws

    /// Every upload staging area present, for cleaning up after a crash.
    func uploadIDs() async throws -> [UploadID]

    /// When the upload's staging area last received bytes (or was created); nil when none is present.
    func uploadModified(_ id: UploadID) async throws -> Date?

    /// Removes a blob's bytes, durably (garbage collection, once the metadata store condemned the blob).
    /// Absent bytes are not an error.
    func deleteBlob(_ digest: Digest) async throws

    /// Every stored blob's digest, handed to `page` a bounded batch at a time (one folder, one listing page),
    /// so that garbage collection, looking for bytes no metadata row accounts for, holds one batch in memory
    /// however many blobs the store keeps.
    func blobDigests(pages page: ([Digest]) async throws -> Void) async throws

    /// Writes a whole blob whose digest the caller is still verifying straight to where the blob will live,
    /// invisible to reads and to `contains` until `publish` (S3: a multipart upload completed only then), so
    /// its bytes are written once. nil, before reading `data`, when the store has no such path (the caller
    /// stages and commits instead).
    func writeBlob(_ digest: Digest, _ data: some AsyncSequence<ByteBuffer, any Error>) async throws -> (any PendingBlob)?

    /// Removes what interrupted writes left behind (unfinished `writeBlob`s) started before `cutoff`.
    func cleanUpWrites(before cutoff: Date) async throws

    /// Throws when the store cannot serve (for health checks): a cheap read that reaches the storage.
    func checkHealth() async throws

    /// The smallest chunk, but the last, a client should send (advertised as `OCI-Chunk-Min-Length`): what the
    /// store can assemble without copying it again; nil when any size is as good.
    var minimumChunkLength: Int64? { get }

    /// A URL from which a client may fetch the blob itself (a presigned object URL), when the store is set to
    /// hand those out; nil: the registry serves the bytes.
    func directURL(for digest: Digest) async throws -> String?
}

extension BlobStore {
    public var minimumChunkLength: Int64? { nil }
    /// Stages a segment that absorbs nothing recorded before it.
    public func appendUpload(_ id: UploadID, at offset: Int64,
                             _ data: some AsyncSequence<ByteBuffer, any Error>) async throws -> UploadSegment {
        try await appendUpload(id, at: offset, after: nil, data)
    }
    public func directURL(for digest: Digest) async throws -> String? { nil }
    public func writeBlob(_ digest: Digest, _ data: some AsyncSequence<ByteBuffer, any Error>) async throws -> (any PendingBlob)? { nil }
    public func cleanUpWrites(before cutoff: Date) async throws {}
}

/// A blob written by `BlobStore.writeBlob`, not yet visible.
public protocol PendingBlob: Sendable {
    /// Makes the bytes the blob's content, atomically and durably.
    func publish() async throws
    /// Drops the bytes (a digest mismatch, or the blob was already stored).
    func discard() async
}

/// A run of an upload's bytes as one driver call staged them: `start..<end`, under a name the driver chose
/// (empty for a driver that appends in place).
public struct UploadSegment: Hashable, Sendable, Codable {
    public var start: Int64
    public var end: Int64
    public var name: String

    public init(start: Int64, end: Int64, name: String) {
        self.start = start
        self.end = end
        self.name = name
    }
}

/// The identifier of an upload session: a UUID, validated so it can name a staging area safely.
public struct UploadID: Hashable, Sendable, CustomStringConvertible {
    public let value: String
    public var description: String { value }

    public init() { value = UUIDString.random() }

    public init(validating s: some StringProtocol) throws(RegistryError) {
        guard s.utf8.count == 36,
              s.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) || $0 == UInt8(ascii: "-") })
        else { throw RegistryError(.blobUploadUnknown, "unknown upload") }
        value = String(s)
    }
}

enum UUIDString {
    static func random() -> String {
        var g = SystemRandomNumberGenerator()
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &g) }
        bytes[6] = (bytes[6] & 0x0f) | 0x40
        bytes[8] = (bytes[8] & 0x3f) | 0x80
        let hex = DigestHasher.hex(bytes)
        let h = Array(hex)
        return String(h[0..<8]) + "-" + String(h[8..<12]) + "-" + String(h[12..<16]) + "-" + String(h[16..<20]) + "-" + String(h[20..<32])
    }
}
