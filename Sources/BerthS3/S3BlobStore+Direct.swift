import BerthCore
import Foundation
import NIOCore

/// Monolithic blob uploads written once: streamed to the blob's own key as a multipart upload that is
/// completed only after the digest is verified (or, for a body of one part, kept in memory and PUT then).
/// Staging them under `uploads/` and copying would write every byte twice.
extension S3BlobStore {
    public func writeBlob(_ digest: Digest, _ data: some AsyncSequence<ByteBuffer, any Error>) async throws -> (any PendingBlob)? {
        var writer = SegmentWriter(client: client, key: blobKey(digest), partSize: configuration.partSize,
                                   budget: buffers)
        do {
            for try await chunk in data { try await writer.write(chunk) }
            try await writer.flushAllButLast()
        } catch {
            await writer.abort()
            throw error
        }
        return PendingS3Blob(writer: writer)
    }

    /// Multipart uploads to blob keys that were never completed or aborted (the instance died mid-write).
    public func cleanUpWrites(before cutoff: Date) async throws {
        for upload in try await client.listMultipartUploads(prefix: key("blobs/")).uploads
        where (upload.initiated ?? .distantFuture) < cutoff {
            try await client.abortMultipartUpload(upload.key, uploadID: upload.uploadID)
        }
    }
}

struct PendingS3Blob: PendingBlob {
    let writer: SegmentWriter

    func publish() async throws {
        var writer = writer
        if writer.uploadID == nil && writer.buffer.readableBytes == 0 {
            // The empty blob is an object too (a segment writer stages nothing for an empty body).
            try await writer.client.putObject(writer.key, body: ByteBuffer())
            return
        }
        try await writer.finish()
    }

    /// Aborts an unfinished multipart upload; never deletes the key, which may hold the published blob.
    func discard() async {
        await writer.abort()
    }
}
