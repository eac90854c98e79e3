import NIOCore

/// Streams one request body into a new object: a single PUT when it fits in one part, else a multipart upload
/// of `partSize` parts. One part buffer per request, its memory taken from the store's `UploadBufferBudget`
/// before it fills (a request that finds the budget spent waits, reading no more of its body) and given back
/// once the object is written, or abandoned.
struct SegmentWriter {
    let client: S3Client
    let key: String
    let partSize: Int
    var buffer: ByteBuffer
    /// The buffer's share of the budget; shared by the copies of this writer (a pending blob holds one).
    let reservation: BufferReservation
    var uploadID: String?
    var parts: [S3Client.CompletedPart] = []
    private(set) var written: Int64 = 0
    /// A PUT or a completion was sent: the object may exist and must go if the request fails.
    var objectMayExist = false

    init(client: S3Client, key: String, partSize: Int, budget: UploadBufferBudget) {
        self.client = client
        self.key = key
        self.partSize = partSize
        reservation = BufferReservation(budget)
        // Grows as bytes come (a small body keeps a small buffer), up to partSize. ByteBuffer allocates
        // powers of two, which the budget's shares are.
        buffer = ByteBufferAllocator().buffer(capacity: 0)
    }

    mutating func write(_ chunk: ByteBuffer) async throws {
        var chunk = chunk
        written += Int64(chunk.readableBytes)
        while chunk.readableBytes > 0 {
            // A full buffer is sent only once more bytes come: a body of exactly one part stays a single PUT.
            if buffer.readableBytes >= partSize { try await flushPart() }
            let length = min(chunk.readableBytes, partSize - buffer.readableBytes)
            // The bytes are taken before the buffer holds them.
            try await reservation.ensure(buffer.readableBytes + length)
            var slice = chunk.readSlice(length: length)!
            buffer.writeBuffer(&slice)
        }
    }

    private mutating func flushPart() async throws {
        if uploadID == nil { uploadID = try await client.createMultipartUpload(key) }
        guard parts.count < S3Client.maximumParts else {
            throw S3Error(code: "TooManyParts", message: "a request body needs more than \(S3Client.maximumParts) parts",
                          resource: "PUT \(key)")
        }
        // The buffer is sent from memory, so a failed attempt can send it again (S3Client retries).
        parts.append(try await client.uploadPart(key, uploadID: uploadID!, number: parts.count + 1, body: buffer))
        // Its capacity stays for the next part, and so does its share of the budget.
        buffer.clear()
    }

    /// Sends every part but the last, for `publish` to finish: until then nothing is visible under the key.
    mutating func flushAllButLast() async throws {
        // A multipart upload's last part may be short; a single-part body stays in the buffer for one PUT.
        if uploadID != nil, buffer.readableBytes > 0 { try await flushPart() }
    }

    mutating func finish() async throws {
        guard let uploadID else {
            // An empty body stages nothing: readers skip empty segments.
            if buffer.readableBytes > 0 {
                objectMayExist = true
                try await client.putObject(key, body: buffer)
            }
            done()
            return
        }
        if buffer.readableBytes > 0 { try await flushPart() }
        objectMayExist = true
        try await client.completeMultipartUpload(key, uploadID: uploadID, parts: parts)
        done()
    }

    /// The buffer is no longer needed: its memory and its share of the budget go.
    private mutating func done() {
        buffer = ByteBuffer()
        reservation.release()
    }

    func cleanUp() async {
        reservation.release()
        let client = client, key = key, uploadID = uploadID, objectMayExist = objectMayExist
        await S3BlobStore.detached {
            if let uploadID { try? await client.abortMultipartUpload(key, uploadID: uploadID) }
            if objectMayExist { try await client.deleteObject(key) }
        }
    }

    /// Aborts an unfinished multipart upload; never deletes the key, which may hold the published blob.
    func abort() async {
        reservation.release()
        guard let uploadID else { return }
        let client = client, key = key
        await S3BlobStore.detached { try await client.abortMultipartUpload(key, uploadID: uploadID) }
    }
}
