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
    /// resume), rather than live only for one request (a monolithic upload).
    func createUpload(_ id: UploadID, durable: Bool) async throws

    /// The number of bytes received so far, or nil when the upload does not exist.
    func uploadSize(_ id: UploadID) async throws -> Int64?

    /// Appends `data` to the upload, which holds `offset` bytes, and returns the new size. When `data` fails,
    /// nothing of it stays staged. Throws `StorageError.uploadNotFound` for a missing upload.
    func appendUpload(_ id: UploadID, at offset: Int64,
                      _ data: some AsyncSequence<ByteBuffer, any Error>) async throws -> Int64

    /// Streams the bytes received so far to `sink` (used to hash an upload whose running hash was lost).
    /// Throws `StorageError.uploadNotFound` for a missing upload.
    func readUpload(_ id: UploadID, into sink: (ByteBuffer) async throws -> Void) async throws

    /// Moves a verified upload into the content store under `digest`, atomically and durably.
    func commitUpload(_ id: UploadID, as digest: Digest) async throws

    /// Removes an upload's staging area, if any.
    func deleteUpload(_ id: UploadID) async throws

    /// Every upload staging area present, for cleaning up after a crash.
    func uploadIDs() async throws -> [UploadID]

    /// When the upload last received bytes (or was created); nil when it does not exist.
    func uploadModified(_ id: UploadID) async throws -> Date?
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
