import AsyncHTTPClient
import BerthCore
import Foundation
import Logging
import NIOCore

/// Blobs in an S3-compatible bucket, content-addressed: `<prefix>blobs/<algorithm>/<first two hex>/<hex>`.
/// Uploads stage as segment objects `<prefix>uploads/<id>/<start, 20 digits>-<8 random hex>`: each request
/// writes a new object, so racing requests never overwrite each other; the metadata store decides which
/// segments make the upload. Committing copies them server-side into the blob key.
public final class S3BlobStore: BlobStore {
    public let configuration: S3Configuration
    let client: S3Client
    /// Whether `shutdown()` must stop the HTTP client (it was created here).
    let ownsClient: Bool
    let logger: Logger
    /// Bounds the memory of all upload part buffers together (`configuration.uploadBufferBytes`).
    let buffers: UploadBufferBudget
    /// The most bytes handed to a sink at once.
    static let ioChunk = 1 << 20

    public init(configuration: S3Configuration, httpClient: HTTPClient? = nil,
                logger: Logger = Logger(label: "berth.s3")) throws {
        var configuration = configuration
        if !configuration.prefix.isEmpty && !configuration.prefix.hasSuffix("/") { configuration.prefix += "/" }
        self.configuration = configuration
        let http = httpClient ?? HTTPClient(
            eventLoopGroup: HTTPClient.defaultEventLoopGroup,
            configuration: HTTPClient.Configuration(
                // Redirects would be re-sent unsigned for another host: S3 redirects are errors here.
                redirectConfiguration: .disallow,
                // `read` bounds a stalled connection, not a long transfer.
                timeout: .init(connect: .seconds(10), read: .seconds(120))))
        self.ownsClient = httpClient == nil
        self.logger = logger
        // Shares are what ByteBuffer allocates: a part's size rounded up to a power of two; a buffer starts
        // with 1 MiB, which doubling never passes before the buffer grows.
        self.buffers = UploadBufferBudget(limit: configuration.uploadBufferBytes,
                                          part: Self.allocation(configuration.partSize), first: 1 << 20)
        do {
            self.client = try S3Client(configuration: configuration, http: http, logger: logger)
        } catch {
            if httpClient == nil { try? http.syncShutdown() }
            throw error
        }
    }

    /// Stops the HTTP client this store created (a client passed in is the caller's to stop).
    public func shutdown() async throws {
        if ownsClient { try await client.http.shutdown() }
    }

    /// The capacity ByteBuffer allocates to hold `bytes`: the next power of two.
    static func allocation(_ bytes: Int) -> Int {
        // Bounded before the shift (a part is at most 5 GiB).
        let bytes = min(max(bytes, 1), 1 << 40)
        return 1 << (Int.bitWidth - (bytes - 1).leadingZeroBitCount)
    }

    // MARK: Keys

    func key(_ relative: String) -> String { configuration.prefix + relative }

    func blobKey(_ digest: Digest) -> String {
        key("blobs/\(digest.algorithm.rawValue)/\(digest.encoded.prefix(2))/\(digest.encoded)")
    }

    var uploadsRoot: String { key("uploads/") }

    /// The upload's folder, ending in '/'.
    func uploadPrefix(_ id: UploadID) -> String { uploadsRoot + id.value + "/" }

    func segmentKey(_ id: UploadID, _ segment: UploadSegment) throws -> String {
        // Names come back from the metadata store; only names this driver makes may reach a key.
        guard segment.name.utf8.count == 29,
              segment.name.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) || $0 == 0x2d })
        else { throw S3Error(code: "InvalidSegmentName", message: "not an S3 segment name: \(segment.name.prefix(64))") }
        return uploadPrefix(id) + segment.name
    }

    /// `<start, 20 digits>-<8 random hex>`: sorts by offset; unique per request.
    static func segmentName(start: Int64) -> String {
        let digits = String(start)
        let random = String(UInt32.random(in: .min ... .max), radix: 16)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + "-"
            + String(repeating: "0", count: 8 - random.count) + random
    }

    // MARK: Reading

    public func contains(_ digest: Digest) async throws -> Bool {
        try await client.headObject(blobKey(digest))
    }

    /// A missing blob is a driver failure (`S3Error`, status 404), as the filesystem driver's is its own
    /// error: the metadata store, not the blob store, says which blobs exist.
    public func read(_ digest: Digest, range: ClosedRange<Int64>,
                     into sink: (ByteBuffer) async throws -> Void) async throws {
        let response = try await client.getObject(blobKey(digest), range: range)
        try await Self.stream(response, expected: range.upperBound - range.lowerBound + 1,
                              resource: "GET \(digest)", into: sink)
    }

    /// Streams a response body to `sink` in chunks of at most `ioChunk`, checking exactly `expected` bytes come.
    static func stream(_ response: HTTPClientResponse, expected: Int64, resource: String,
                       into sink: (ByteBuffer) async throws -> Void) async throws {
        var received: Int64 = 0
        for try await var chunk in response.body {
            received += Int64(chunk.readableBytes)
            guard received <= expected else { break }
            while chunk.readableBytes > ioChunk {
                try await sink(chunk.readSlice(length: ioChunk)!)
            }
            if chunk.readableBytes > 0 { try await sink(chunk) }
        }
        guard received == expected else {
            throw S3Error(code: "UnexpectedLength", message: "expected \(expected) bytes, got \(received)",
                          status: Int(response.status.code), resource: resource)
        }
    }

    public func deleteBlob(_ digest: Digest) async throws {
        try await client.deleteObject(blobKey(digest))
    }

    public func blobDigests(pages page: ([Digest]) async throws -> Void) async throws {
        let prefix = key("blobs/")
        try await client.list(prefix: prefix) { listing in
            let digests = listing.objects.compactMap { object -> Digest? in
                // blobs/<algorithm>/<two hex>/<hex>
                let parts = object.key.dropFirst(prefix.count).split(separator: "/")
                guard parts.count == 3, parts[2].hasPrefix(parts[1]) else { return nil }
                return try? Digest(parsing: "\(parts[0]):\(parts[2])")
            }
            if !digests.isEmpty { try await page(digests) }
        }
    }

    public func checkHealth() async throws {
        _ = try await client.list(prefix: uploadsRoot, maxKeys: 1)
    }

    public func directURL(for digest: Digest) async throws -> String? {
        configuration.redirectExpiry.map { presignedURL(for: digest, expires: $0) }
    }

    /// A presigned GET URL for the blob, valid for `expires` (at most 7 days, S3's limit), for clients to
    /// fetch bytes from the bucket directly.
    public func presignedURL(for digest: Digest, expires: Duration) -> String {
        let seconds = Int(min(max(expires.components.seconds, 1), 604_800))
        let (host, path) = client.location(blobKey(digest))
        let query = client.signer.presignedQuery(method: "GET", host: host, path: path, expires: seconds)
        return "\(client.scheme)://\(host)\(path)?\(query)"
    }

    // MARK: Upload staging areas

    /// Nothing to create: the first segment makes the upload's folder.
    public func createUpload(_ id: UploadID, durable: Bool) async throws {}

    public func discardSegment(_ id: UploadID, _ segment: UploadSegment) async throws {
        try await client.deleteObject(segmentKey(id, segment))
    }

    public func deleteUpload(_ id: UploadID) async throws {
        let prefix = uploadPrefix(id)
        // Parts of an append cut short would otherwise be kept (and billed) until a lifecycle rule ran.
        for upload in try await client.listMultipartUploads(prefix: prefix).uploads {
            try await client.abortMultipartUpload(upload.key, uploadID: upload.uploadID)
        }
        let keys = try await client.list(prefix: prefix).objects.map(\.key)
        try await withThrowingTaskGroup(of: Void.self) { group in
            // A few deletes at a time: uploads made of many small chunks have many segments.
            var next = keys.makeIterator(), running = 0
            while true {
                while running < 8, let key = next.next() {
                    group.addTask { [client] in try await client.deleteObject(key) }
                    running += 1
                }
                if running == 0 { break }
                _ = try await group.next()
                running -= 1
            }
        }
    }

    public func uploadIDs() async throws -> [UploadID] {
        let root = uploadsRoot
        func folder(_ key: String) -> Substring { key.dropFirst(root.count).prefix { $0 != "/" } }
        // From the keys, not a delimited listing: some stores (SeaweedFS) keep reporting an emptied folder
        // as a common prefix for a while after its last object is deleted.
        var names = Set(try await client.list(prefix: root).objects.map { folder($0.key) })
        // An append that died mid-multipart leaves only parts behind.
        for upload in try await client.listMultipartUploads(prefix: root).uploads {
            names.insert(folder(upload.key))
        }
        return names.compactMap { try? UploadID(validating: $0) }.sorted { $0.value < $1.value }
    }

    public func uploadModified(_ id: UploadID) async throws -> Date? {
        let prefix = uploadPrefix(id)
        let objects = try await client.list(prefix: prefix).objects.compactMap(\.modified)
        let started = try await client.listMultipartUploads(prefix: prefix).uploads.compactMap(\.initiated)
        return (objects + started).max()
    }
}
