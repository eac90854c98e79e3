import AsyncHTTPClient
import BerthCore
import Foundation
import NIOCore

extension S3BlobStore {
    /// Chunks are parts S3 can copy at commit only from 5 MiB on (`minimumChunkLength`, which clients are told).
    public var minimumChunkLength: Int64? { Int64(S3Configuration.minimumPartSize) }

    /// A last segment shorter than this is staged again with the next chunk, as one new object: a client
    /// sending tiny chunks makes one segment (and one metadata entry) per 256 KiB, not one per request, and no
    /// request copies more than this again.
    static let restageBelow: Int64 = 256 << 10

    public func appendUpload(_ id: UploadID, at offset: Int64, after last: UploadSegment?,
                             _ data: some AsyncSequence<ByteBuffer, any Error>) async throws -> UploadSegment {
        let absorbed = last.flatMap { $0.end == offset && $0.end > $0.start && $0.end - $0.start < Self.restageBelow ? $0 : nil }
        let start = absorbed?.start ?? offset
        let name = Self.segmentName(start: start)
        var writer = SegmentWriter(client: client, key: uploadPrefix(id) + name, partSize: configuration.partSize,
                                   budget: buffers)
        do {
            if let absorbed {
                try await readSegment(id, absorbed, range: 0...(absorbed.end - absorbed.start - 1)) { try await writer.write($0) }
            }
            for try await chunk in data { try await writer.write(chunk) }
            try await writer.finish()
        } catch {
            await writer.cleanUp()
            throw error
        }
        return UploadSegment(start: start, end: start + writer.written, name: name)
    }

    public func readUpload(_ id: UploadID, segments: [UploadSegment],
                           into sink: (ByteBuffer) async throws -> Void) async throws {
        for segment in segments where segment.end > segment.start {
            try await readSegment(id, segment, range: 0...(segment.end - segment.start - 1), into: sink)
        }
    }

    /// Streams `range` (relative to the segment) of one segment; a missing segment is a missing upload.
    func readSegment(_ id: UploadID, _ segment: UploadSegment, range: ClosedRange<Int64>,
                     into sink: (ByteBuffer) async throws -> Void) async throws {
        let key = try segmentKey(id, segment)
        let whole = range.lowerBound == 0 && range.upperBound == segment.end - segment.start - 1
        let response: HTTPClientResponse
        do {
            response = try await client.getObject(key, range: whole ? nil : range)
        } catch let error as S3Error where error.isNotFound {
            throw StorageError.uploadNotFound
        }
        try await Self.stream(response, expected: range.upperBound - range.lowerBound + 1, resource: "GET \(key)",
                              into: sink)
    }

    public func commitUpload(_ id: UploadID, segments: [UploadSegment], as digest: Digest) async throws {
        let live = segments.filter { $0.end > $0.start }
        let total = live.reduce(Int64(0)) { $0 + ($1.end - $1.start) }
        let target = blobKey(digest)
        do {
            if total == 0 {
                try await client.putObject(target, body: ByteBuffer())
            } else if live.count == 1 && total <= S3Client.maximumCopySize {
                try await client.copyObject(from: segmentKey(id, live[0]), to: target)
            } else if total < Int64(S3Configuration.minimumPartSize) {
                // Too small for multipart (every part but the last must be 5 MiB): gather and PUT once.
                let reservation = try await BufferReservation.whole(Self.allocation(Int(total)), from: buffers)
                defer { reservation.release() }
                var buffer = ByteBufferAllocator().buffer(capacity: Int(total))
                try await readUpload(id, segments: live) { buffer.writeImmutableBuffer($0) }
                try await client.putObject(target, body: buffer)
            } else {
                try await assemble(id, live, into: target)
            }
        } catch let error as S3Error where error.code == "NoSuchKey" {
            throw StorageError.uploadNotFound
        }
    }

    /// Builds `target` as a multipart upload: runs of at least 5 MiB are copied server-side (UploadPartCopy),
    /// shorter runs are read and sent again, gathered into parts of exactly 5 MiB (the last may be less).
    private func assemble(_ id: UploadID, _ segments: [UploadSegment], into target: String) async throws {
        let minimum = S3Configuration.minimumPartSize
        let uploadID = try await client.createMultipartUpload(target)
        // Taken when the first short run is read, held to the end.
        var reservation: BufferReservation?
        defer { reservation?.release() }
        do {
            var parts: [S3Client.CompletedPart] = []
            var pending = ByteBuffer()
            func add(_ part: () async throws -> S3Client.CompletedPart) async throws {
                guard parts.count < S3Client.maximumParts else {
                    throw S3Error(code: "TooManyParts", message: "an upload needs more than \(S3Client.maximumParts) parts",
                                  resource: "PUT \(target)")
                }
                parts.append(try await part())
            }
            for segment in segments {
                let source = try segmentKey(id, segment)
                let length = segment.end - segment.start
                var position: Int64 = 0
                while position < length {
                    let remaining = length - position
                    if pending.readableBytes == 0 && remaining >= Int64(minimum) {
                        let size = min(remaining, S3Client.maximumCopySize)
                        let range = position...(position + size - 1), number = parts.count + 1
                        try await add { try await client.uploadPartCopy(target, uploadID: uploadID, number: number,
                                                                        source: source, range: range) }
                        position += size
                    } else {
                        if reservation == nil {
                            reservation = try await BufferReservation.whole(Self.allocation(minimum), from: buffers)
                        }
                        let size = min(remaining, Int64(minimum - pending.readableBytes))
                        try await readSegment(id, segment, range: position...(position + size - 1)) {
                            pending.writeImmutableBuffer($0)
                        }
                        position += size
                        if pending.readableBytes >= minimum {
                            let body = pending, number = parts.count + 1
                            try await add { try await client.uploadPart(target, uploadID: uploadID, number: number, body: body) }
                            pending.clear()
                        }
                    }
                }
            }
            if pending.readableBytes > 0 {
                let body = pending, number = parts.count + 1
                try await add { try await client.uploadPart(target, uploadID: uploadID, number: number, body: body) }
            }
            try await client.completeMultipartUpload(target, uploadID: uploadID, parts: parts)
        } catch {
            await Self.detached { [client] in try await client.abortMultipartUpload(target, uploadID: uploadID) }
            throw error
        }
    }

    /// Runs clean-up work outside the current task, so a cancelled request still cleans up after itself;
    /// failures are left for `deleteUpload` or a bucket lifecycle rule.
    static func detached(_ work: @escaping @Sendable () async throws -> Void) async {
        _ = await Task.detached { try? await work() }.value
    }
}
