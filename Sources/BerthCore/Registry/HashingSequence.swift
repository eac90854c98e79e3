import NIOCore

/// Hashes bytes as they stream past, so a blob is read once from the network and never again from disk.
final class HashingBox: @unchecked Sendable {
    // Only touched by the single task that iterates the sequence.
    var hasher: DigestHasher?
    var byteCount: Int64 = 0

    init(_ hasher: DigestHasher?) { self.hasher = hasher }
}

struct HashingSequence<Base: AsyncSequence<ByteBuffer, any Error>>: AsyncSequence {
    typealias Element = ByteBuffer
    let base: Base
    let box: HashingBox

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let box: HashingBox

        mutating func next() async throws -> ByteBuffer? {
            guard let buffer = try await base.next() else { return nil }
            box.byteCount += Int64(buffer.readableBytes)
            if box.hasher != nil {
                buffer.withUnsafeReadableBytes { box.hasher!.update(bufferPointer: $0) }
            }
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator(), box: box)
    }
}
