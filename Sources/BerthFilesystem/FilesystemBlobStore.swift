import BerthCore
import NIOCore
import NIOPosix
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Blobs on the local filesystem, content-addressed: `blobs/<algorithm>/<first two hex>/<hex>`.
/// Uploads stage in `uploads/<id>` on the same filesystem, so completing one is an atomic rename.
public final class FilesystemBlobStore: BlobStore {
    let root: String
    /// fsync files and folders before a write is acknowledged.
    let synchronous: Bool
    let pool: NIOThreadPool
    /// Blob folders known to be durable in this process: created (or found) and their parent synced.
    let durableFolders = Mutex<Set<String>>([])
    /// Bytes gathered from the network before one write, and read per chunk when serving.
    static let ioChunk = 1 << 20

    public init(root: String, synchronous: Bool = true, pool: NIOThreadPool = .singleton) throws {
        self.root = root
        self.synchronous = synchronous
        self.pool = pool
        try POSIXFile.makeDirectories(uploadsPath, durable: synchronous)
        for algorithm in Digest.Algorithm.allCases {
            try POSIXFile.makeDirectories("\(root)/blobs/\(algorithm.rawValue)", durable: synchronous)
        }
    }

    var uploadsPath: String { "\(root)/uploads" }

    func uploadPath(_ id: UploadID) -> String { "\(uploadsPath)/\(id.value)" }

    func blobFolder(_ digest: Digest) -> String {
        "\(root)/blobs/\(digest.algorithm.rawValue)/\(digest.encoded.prefix(2))"
    }

    func blobPath(_ digest: Digest) -> String { "\(blobFolder(digest))/\(digest.encoded)" }

    private func run<T: Sendable>(_ work: @Sendable @escaping () throws -> T) async throws -> T {
        try await pool.runIfActive(work)
    }

    // MARK: Reading

    public func contains(_ digest: Digest) async throws -> Bool {
        let path = blobPath(digest)
        return try await run { try POSIXFile.size(path) != nil }
    }

    public func read(_ digest: Digest, range: ClosedRange<Int64>,
                     into sink: (ByteBuffer) async throws -> Void) async throws {
        try await readFile(blobPath(digest), range: range, into: sink)
    }

    /// Streams a file range, reading the next chunk from disk while the current one goes to `sink`.
    private func readFile(_ path: String, range: ClosedRange<Int64>,
                          into sink: (ByteBuffer) async throws -> Void) async throws {
        guard let fd = try await run({ try POSIXFile.openIfExists(path, O_RDONLY) }) else {
            throw POSIXFile.Failure(operation: "open", path: path, errno: ENOENT)
        }
        defer { POSIXFile.close(fd) }
        var offset = range.lowerBound
        var current = try await readChunk(fd, path: path, at: offset, upTo: range.upperBound)
        while current.readableBytes > 0 {
            offset += Int64(current.readableBytes)
            let next = offset, last = range.upperBound
            async let following = readChunk(fd, path: path, at: next, upTo: last)
            try await sink(current)
            current = try await following
        }
    }

    /// Up to `ioChunk` bytes at `offset`, not past `last`; empty at the end.
    private func readChunk(_ fd: Int32, path: String, at offset: Int64, upTo last: Int64) async throws -> ByteBuffer {
        guard offset <= last else { return ByteBuffer() }
        let want = Int(min(Int64(Self.ioChunk), last - offset + 1))
        return try await run {
            var buffer = ByteBufferAllocator().buffer(capacity: want)
            _ = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { raw in
                try POSIXFile.read(fd, into: UnsafeMutableRawBufferPointer(rebasing: raw[..<want]), at: offset, path: path)
            }
            return buffer
        }
    }

    // MARK: Uploads

    public func createUpload(_ id: UploadID, durable: Bool) async throws {
        let path = uploadPath(id), folder = uploadsPath, sync = synchronous && durable
        try await run {
            let fd = try POSIXFile.open(path, O_WRONLY | O_CREAT | O_EXCL)
            POSIXFile.close(fd)
            if sync { try POSIXFile.syncDirectory(folder) }
        }
    }

    public func appendUpload(_ id: UploadID, at offset: Int64, after last: UploadSegment?,
                             _ data: some AsyncSequence<ByteBuffer, any Error>) async throws -> UploadSegment {
        let path = uploadPath(id), sync = synchronous
        guard let fd = try await run({ try POSIXFile.openIfExists(path, O_WRONLY) }) else {
            throw StorageError.uploadNotFound
        }
        defer { POSIXFile.close(fd) }
        // Bytes staged past `offset` were never recorded (a crash before the metadata commit): drop them.
        if try await run({ try POSIXFile.size(path) ?? 0 }) > offset { POSIXFile.truncate(fd, to: offset) }
        var end = offset
        var pending = ByteBufferAllocator().buffer(capacity: Self.ioChunk)
        do {
            for try await chunk in data {
                pending.writeImmutableBuffer(chunk)
                if pending.readableBytes >= Self.ioChunk {
                    end = try await write(pending, to: fd, at: end, path: path, writeback: sync)
                    pending.clear()
                }
            }
            if pending.readableBytes > 0 {
                end = try await write(pending, to: fd, at: end, path: path, writeback: false)
            }
            if sync && end != offset { try await run { try POSIXFile.sync(fd, path: path) } }
        } catch {
            // Nothing of a failed request stays staged: the client will resume from `offset`.
            POSIXFile.truncate(fd, to: offset)
            throw error
        }
        // One staging file: every chunk extends the last segment in place, so a session is one segment.
        return UploadSegment(start: last?.start ?? offset, end: end, name: "")
    }

    private func write(_ buffer: ByteBuffer, to fd: Int32, at offset: Int64, path: String,
                       writeback: Bool) async throws -> Int64 {
        try await run {
            try buffer.withUnsafeReadableBytes { try POSIXFile.write(fd, $0, at: offset, path: path) }
            if writeback { POSIXFile.startWriteback(fd, offset: offset, length: buffer.readableBytes) }
            return offset + Int64(buffer.readableBytes)
        }
    }

    public func readUpload(_ id: UploadID, segments: [UploadSegment],
                           into sink: (ByteBuffer) async throws -> Void) async throws {
        let path = uploadPath(id), end = segments.last?.end ?? 0
        guard let size = try await run({ try POSIXFile.size(path) }), size >= end else {
            throw StorageError.uploadNotFound
        }
        if end > 0 { try await readFile(path, range: 0...(end - 1), into: sink) }
    }

    public func commitUpload(_ id: UploadID, segments: [UploadSegment], as digest: Digest) async throws {
        let source = uploadPath(id), folder = blobFolder(digest), target = blobPath(digest), sync = synchronous
        let end = segments.last?.end ?? 0
        try await run { [self] in
            // The staged bytes were synced when each append was acknowledged. Bytes past the last recorded
            // segment (a crash between staging and recording them) are not part of the upload.
            guard let size = try POSIXFile.size(source), size >= end else { throw StorageError.uploadNotFound }
            if size > end { try POSIXFile.truncate(source, to: end, durable: sync) }
            if sync && !self.durableFolders.withLock({ $0.contains(folder) }) {
                // Once per folder and process: its parent is synced even when the folder was already there.
                try POSIXFile.makeDirectories(folder, durable: true)
                self.durableFolders.withLock { _ = $0.insert(folder) }
            } else if !sync {
                try POSIXFile.makeDirectories(folder, durable: false)
            }
            try POSIXFile.rename(source, target)
            if sync { try POSIXFile.syncDirectory(folder) }
        }
    }

    public func deleteUpload(_ id: UploadID) async throws {
        let path = uploadPath(id)
        try await run { try POSIXFile.remove(path) }
    }

    public func uploadModified(_ id: UploadID) async throws -> Date? {
        let path = uploadPath(id)
        return try await run { try POSIXFile.modified(path) }
    }

    public func discardSegment(_ id: UploadID, _ segment: UploadSegment) async throws {
        // Appends happen in place, and one process owns this store: the segment is the file's tail.
        let path = uploadPath(id), sync = synchronous
        try await run { if try POSIXFile.size(path) != nil { try POSIXFile.truncate(path, to: segment.start, durable: sync) } }
    }

    public func deleteBlob(_ digest: Digest) async throws {
        let path = blobPath(digest), folder = blobFolder(digest), sync = synchronous
        try await run {
            try POSIXFile.remove(path)
            if sync { try POSIXFile.syncDirectory(folder) }
        }
    }

    public func blobDigests(pages page: ([Digest]) async throws -> Void) async throws {
        for algorithm in Digest.Algorithm.allCases {
            let top = "\(root)/blobs/\(algorithm.rawValue)"
            // One two-hex folder at a time: 1/256th of the store.
            for folder in try await run({ try POSIXFile.listDirectory(top) }) where folder.utf8.count == 2 {
                let digests = try await run {
                    try POSIXFile.listDirectory("\(top)/\(folder)").compactMap { name in
                        name.hasPrefix(folder) ? try? Digest(parsing: "\(algorithm.rawValue):\(name)") : nil
                    }
                }
                if !digests.isEmpty { try await page(digests) }
            }
        }
    }

    public func checkHealth() async throws {
        let folders = [uploadsPath, "\(root)/blobs"]
        try await run {
            for folder in folders where access(folder, R_OK | W_OK | X_OK) != 0 {
                throw POSIXFile.Failure(operation: "access", path: folder, errno: errno)
            }
        }
    }

    public func uploadIDs() async throws -> [UploadID] {
        let folder = uploadsPath
        return try await run { try POSIXFile.listDirectory(folder) }.compactMap { try? UploadID(validating: $0) }
    }
}
