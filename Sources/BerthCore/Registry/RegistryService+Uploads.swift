import Foundation
import NIOCore

extension RegistryService {
    /// Opens an upload session.
    public func startUpload(in repository: RepositoryName, by caller: Caller) async throws -> UploadID {
        let id = UploadID()
        try await blobs.createUpload(id, durable: true)
        try await metadata.createUpload(id, in: repository, by: caller.name)
        keepRunningHash(id, RunningHash(offset: 0, hasher: DigestHasher(.sha256)))
        return id
    }

    /// The number of bytes an upload session has received.
    public func uploadOffset(_ id: UploadID, in repository: RepositoryName) async throws -> Int64 {
        try await requireSession(id, in: repository)
        guard let size = try await blobs.uploadSize(id) else { throw Self.unknownUpload }
        return size
    }

    /// Removes upload sessions (and staged leftovers of monolithic uploads) idle for longer than `age`,
    /// leaving alone any a request is working on. Returns how many sessions it removed.
    public func expireUploads(idleFor age: Duration, now: Date = Date()) async throws -> Int {
        let cutoff = now.addingTimeInterval(-(Double(age.components.seconds) + Double(age.components.attoseconds) / 1e18))
        let sessions = Set(try await metadata.uploadIDs())
        var expired = 0
        for id in try await blobs.uploadIDs() {
            guard !uploadLocks.isHeld(id), let modified = try await blobs.uploadModified(id), modified < cutoff
            else { continue }
            guard sessions.contains(id) else {
                try await blobs.deleteUpload(id)
                continue
            }
            try await uploadLocks.withLock(id) {
                // Re-checked under the lock: a request may have appended since.
                guard let modified = try await blobs.uploadModified(id), modified < cutoff else { return }
                runningHashes.withLock { _ = $0.removeValue(forKey: id) }
                try await metadata.deleteUpload(id)
                try await blobs.deleteUpload(id)
                expired += 1
            }
        }
        return expired
    }

    /// Appends a chunk. `start`, from Content-Range, must equal the bytes received so far.
    public func appendUpload(_ id: UploadID, in repository: RepositoryName, start: Int64?,
                             _ body: some AsyncSequence<ByteBuffer, any Error>) async throws -> Int64 {
        try await requireSession(id, in: repository)
        return try await uploadLocks.withLock(id) {
            try await append(id, start: start, body)
        }
    }

    /// Completes an upload session with an optional last chunk, verifying `digest`.
    public func completeUpload(_ id: UploadID, in repository: RepositoryName, digest: Digest, start: Int64?,
                               _ body: some AsyncSequence<ByteBuffer, any Error>, by caller: Caller) async throws {
        try await requireSession(id, in: repository)
        try await uploadLocks.withLock(id) {
            let size = try await append(id, start: start, body)
            let computed = try await uploadDigest(id, size: size, algorithm: digest.algorithm)
            guard computed == digest else {
                throw RegistryError(.digestInvalid, "provided digest did not match uploaded content")
            }
            try await store(id, as: digest, size: size, in: repository, session: true, by: caller)
        }
    }

    /// Cancels an upload session.
    public func cancelUpload(_ id: UploadID, in repository: RepositoryName) async throws {
        try await requireSession(id, in: repository)
        try await uploadLocks.withLock(id) {
            runningHashes.withLock { _ = $0.removeValue(forKey: id) }
            try await metadata.deleteUpload(id)
            try await blobs.deleteUpload(id)
        }
    }

    /// A whole blob in one request (`POST ?digest=`).
    public func uploadMonolithic(_ digest: Digest, in repository: RepositoryName,
                                 _ body: some AsyncSequence<ByteBuffer, any Error>, by caller: Caller) async throws {
        let id = UploadID()
        try await blobs.createUpload(id, durable: false)
        do {
            let box = HashingBox(DigestHasher(digest.algorithm))
            let size = try await blobs.appendUpload(id, at: 0, HashingSequence(base: body, box: box))
            guard box.hasher!.finalize() == digest else {
                throw RegistryError(.digestInvalid, "provided digest did not match uploaded content")
            }
            try await store(id, as: digest, size: size, in: repository, session: false, by: caller)
        } catch {
            try? await blobs.deleteUpload(id)
            throw error
        }
    }

    // MARK: - Internals

    static var unknownUpload: RegistryError { RegistryError(.blobUploadUnknown, "blob upload unknown to registry") }

    private func requireSession(_ id: UploadID, in repository: RepositoryName) async throws {
        guard try await metadata.uploadRepository(id) == repository else { throw Self.unknownUpload }
    }

    /// Appends under the session's lock, keeping the running hash in step with the staged bytes.
    private func append(_ id: UploadID, start: Int64?,
                        _ body: some AsyncSequence<ByteBuffer, any Error>) async throws -> Int64 {
        guard let size = try await blobs.uploadSize(id) else { throw Self.unknownUpload }
        if let start, start != size {
            throw RegistryError(.uploadOffsetMismatch, "chunk does not start at the end of the upload",
                                detail: ["size": String(size)])
        }
        let running = runningHashes.withLock { $0.removeValue(forKey: id) }
        let box = HashingBox(running?.offset == size ? running!.hasher : nil)
        let newSize = try await staged { try await blobs.appendUpload(id, at: size, HashingSequence(base: body, box: box)) }
        if let hasher = box.hasher { keepRunningHash(id, RunningHash(offset: newSize, hasher: hasher)) }
        return newSize
    }

    /// The digest of the staged bytes, from the running hash when it is current, else by reading them back.
    private func uploadDigest(_ id: UploadID, size: Int64, algorithm: Digest.Algorithm) async throws -> Digest {
        let running = runningHashes.withLock { $0.removeValue(forKey: id) }
        if let running, running.offset == size, running.hasher.algorithm == algorithm {
            return running.hasher.finalize()
        }
        var hasher = DigestHasher(algorithm)
        try await staged {
            try await blobs.readUpload(id) { buffer in
                buffer.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
            }
        }
        return hasher.finalize()
    }

    /// A staging area that vanished (cancelled or expired meanwhile) is an unknown upload to the client.
    private func staged<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch StorageError.uploadNotFound {
            throw Self.unknownUpload
        }
    }

    /// Keeps a session's running hash, unless too many are held: memory stays bounded however many sessions
    /// clients open, and a session without one is hashed from its staged bytes when it completes.
    private func keepRunningHash(_ id: UploadID, _ running: RunningHash) {
        runningHashes.withLock { hashes in
            if hashes.count < options.maxRunningHashes || hashes[id] != nil { hashes[id] = running }
        }
    }

    /// Moves verified bytes into the content store (unless already there) and makes them visible, ending the
    /// upload session (`session`) in the same commit.
    private func store(_ id: UploadID, as digest: Digest, size: Int64, in repository: RepositoryName,
                       session: Bool, by caller: Caller) async throws {
        if try await blobs.contains(digest) {
            try await blobs.deleteUpload(id)
        } else {
            try await blobs.commitUpload(id, as: digest)
        }
        try await metadata.addBlob(digest, size: size, to: repository, completing: session ? id : nil, by: caller.name)
    }
}
