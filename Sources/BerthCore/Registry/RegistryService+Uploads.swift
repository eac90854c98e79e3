import Foundation
import NIOCore

extension RegistryService {
    /// Opens an upload session.
    public func startUpload(in repository: RepositoryName, by caller: Caller) async throws -> UploadID {
        // A new repository beyond the namespace's repository quota is refused before any byte is sent.
        try await enforce(try await quota(for: repository), on: repository, adding: 0)
        let id = UploadID()
        try await blobs.createUpload(id, durable: true)
        try await metadata.createUpload(id, in: repository, by: caller.name)
        keepRunningHash(id, RunningHash(offset: 0, hasher: DigestHasher(.sha256)))
        return id
    }

    /// The smallest chunk (but the last) clients should send, when the blob store has one.
    public var minimumChunkLength: Int64? { blobs.minimumChunkLength }

    /// The number of bytes an upload session has received.
    public func uploadOffset(_ id: UploadID, in repository: RepositoryName) async throws -> Int64 {
        try await session(id, in: repository).size
    }

    /// Appends a chunk. `start`, from Content-Range, must equal the bytes received so far. A chunk whose
    /// `declaredLength` (Content-Length) would take the namespace over its quota is refused before it is read.
    public func appendUpload(_ id: UploadID, in repository: RepositoryName, start: Int64?, declaredLength: Int64? = nil,
                             _ body: some AsyncSequence<ByteBuffer, any Error>) async throws -> Int64 {
        try await uploadLocks.withLock(id) {
            let session = try await session(id, in: repository)
            if let declaredLength {
                // The digest is unknown until the end, so a blob the namespace holds already is not discounted here.
                try await enforce(try await quota(for: repository), on: repository, adding: Self.sum(session.size, declaredLength))
            }
            return try await append(id, to: session, start: start, body).size
        }
    }

    /// Completes an upload session with an optional last chunk, verifying `digest`. Over quota (judged from
    /// the last chunk's `declaredLength` before reading it, else from the staged size), the session is ended.
    public func completeUpload(_ id: UploadID, in repository: RepositoryName, digest: Digest, start: Int64?,
                               declaredLength: Int64? = nil,
                               _ body: some AsyncSequence<ByteBuffer, any Error>, by caller: Caller) async throws {
        try await uploadLocks.withLock(id) {
            guard let current = try await metadata.uploadSession(id), current.repository == repository else {
                // A finishing PUT replayed (by a load balancer, or a client retrying) after an instance recorded
                // the blob and died before answering: the session is gone and the blob is there, so it worked.
                if try await metadata.blobSize(digest, in: repository) != nil { return }
                throw Self.unknownUpload
            }
            let quota = try await quota(for: repository)
            if let declaredLength {
                try await endingOverQuota(id) {
                    try await enforce(quota, on: repository, adding: Self.sum(current.size, declaredLength), blob: digest)
                }
            }
            let session = try await append(id, to: current, start: start, body)
            let computed = try await uploadDigest(id, session, algorithm: digest.algorithm)
            guard computed == digest else {
                throw RegistryError(.digestInvalid, "provided digest did not match uploaded content")
            }
            if declaredLength == nil {
                try await endingOverQuota(id) { try await enforce(quota, on: repository, adding: session.size, blob: digest) }
            }
            try await store(id, as: digest, size: session.size, segments: session.segments, in: repository,
                            session: true, by: caller)
        }
    }

    /// Cancels an upload session.
    public func cancelUpload(_ id: UploadID, in repository: RepositoryName) async throws {
        _ = try await session(id, in: repository)
        try await uploadLocks.withLock(id) {
            runningHashes.withLock { _ = $0.removeValue(forKey: id) }
            try await metadata.deleteUpload(id)
            try await blobs.deleteUpload(id)
        }
    }

    /// A whole blob in one request (`POST ?digest=`). Over quota, it is refused before its body is read when
    /// the request declares its length, else once the bytes are staged (and then dropped).
    public func uploadMonolithic(_ digest: Digest, in repository: RepositoryName, declaredLength: Int64? = nil,
                                 _ body: some AsyncSequence<ByteBuffer, any Error>, by caller: Caller) async throws {
        let quota = try await quota(for: repository)
        if let declaredLength { try await enforce(quota, on: repository, adding: declaredLength, blob: digest) }
        let box = HashingBox(DigestHasher(digest.algorithm))
        if let pending = try await blobs.writeBlob(digest, HashingSequence(base: body, box: box)) {
            if declaredLength == nil {
                do {
                    try await enforce(quota, on: repository, adding: box.byteCount, blob: digest)
                } catch {
                    await pending.discard()
                    throw error
                }
            }
            try await publish(pending, as: digest, size: box.byteCount, verified: box.hasher!.finalize() == digest,
                              in: repository, by: caller)
            return
        }
        let id = UploadID()
        try await blobs.createUpload(id, durable: false)
        do {
            let segment = try await blobs.appendUpload(id, at: 0, HashingSequence(base: body, box: box))
            guard box.hasher!.finalize() == digest else {
                throw RegistryError(.digestInvalid, "provided digest did not match uploaded content")
            }
            if declaredLength == nil { try await enforce(quota, on: repository, adding: segment.end, blob: digest) }
            try await store(id, as: digest, size: segment.end, segments: [segment], in: repository,
                            session: false, by: caller)
        } catch {
            try? await blobs.deleteUpload(id)
            throw error
        }
    }

    // MARK: - Internals

    /// Makes a blob written in place visible, under a claim as `store` does (the claim's name is made up: no
    /// session holds these bytes).
    private func publish(_ pending: any PendingBlob, as digest: Digest, size: Int64, verified: Bool,
                         in repository: RepositoryName, by caller: Caller) async throws {
        guard verified else {
            await pending.discard()
            throw RegistryError(.digestInvalid, "provided digest did not match uploaded content")
        }
        // The pending bytes serve the first attempt only: published or dropped, they cannot be written again.
        let once = PendingOnce(pending)
        do {
            try await linkClaimed(digest, claim: UploadID().value, write: { present in
                if present { await once.discard(); return true }
                return try await once.publish()
            }, link: { claim in
                try await metadata.addBlob(digest, size: size, to: repository, completing: nil, claim: claim, by: caller.name)
            })
        } catch {
            await once.discard()
            throw error
        }
    }

    /// Claims `digest`, makes sure its bytes are stored (`write`, told whether they are present already,
    /// stores them when it still can) and links them with `link`, whose transaction checks that the claim
    /// survived. When a collector dropped the claim meanwhile (as a dead writer's, after an hour) the bytes
    /// found or stored may be condemned and deleted: everything is done again under a new claim, and when the
    /// bytes are gone and cannot be written again the writer is told to upload again. Never acknowledged
    /// without bytes.
    func linkClaimed(_ digest: Digest, claim: String, write: (_ present: Bool) async throws -> Bool,
                     link: (_ claim: String) async throws -> Void) async throws {
        for attempt in 1...3 {
            try await self.claim(digest, for: claim)
            do {
                guard try await write(try await blobs.contains(digest)) else {
                    throw RegistryError(.unavailable, "blob \(digest) was removed while being stored; upload it again")
                }
                try await link(claim)
                return
            } catch WriteConflict.claimLost where attempt < 3 {
                logger.warning("claim on \(digest) was lost before its link (a garbage collection took it for a dead writer's); storing it again")
            } catch WriteConflict.claimLost {
                throw RegistryError(.unavailable, "blob \(digest) was removed while being stored; upload it again")
            } catch {
                try? await metadata.releaseClaim(digest, claim: claim)
                throw error
            }
        }
    }

    /// A declared length added to what is staged, saturating: a client's numbers must not trap.
    static func sum(_ a: Int64, _ b: Int64) -> Int64 {
        let (total, overflow) = a.addingReportingOverflow(b)
        return overflow ? .max : total
    }

    /// Runs a quota check on a completing upload; when it refuses, the session ends with its staged bytes, so
    /// nothing of the refused blob lingers (the client cannot complete it anyway).
    private func endingOverQuota(_ id: UploadID, _ check: () async throws -> Void) async throws {
        do {
            try await check()
        } catch let error as RegistryError where error.kind == .denied {
            runningHashes.withLock { _ = $0.removeValue(forKey: id) }
            try? await metadata.deleteUpload(id)
            try? await blobs.deleteUpload(id)
            throw error
        }
    }

    static var unknownUpload: RegistryError { RegistryError(.blobUploadUnknown, "blob upload unknown to registry") }

    private func session(_ id: UploadID, in repository: RepositoryName) async throws -> UploadSession {
        guard let session = try await metadata.uploadSession(id), session.repository == repository else {
            throw Self.unknownUpload
        }
        return session
    }

    /// Stages a chunk and records it with a compare-and-set on the session's size, so that of two requests
    /// appending at one offset (on this instance or another) exactly one wins. Keeps the running hash in step.
    private func append(_ id: UploadID, to session: UploadSession, start: Int64?,
                        _ body: some AsyncSequence<ByteBuffer, any Error>) async throws -> UploadSession {
        if let start, start != session.size { throw Self.offsetMismatch(session.size) }
        let running = runningHashes.withLock { $0.removeValue(forKey: id) }
        let box = HashingBox(running?.offset == session.size ? running!.hasher : nil)
        let last = session.segments.last
        let segment = try await staged {
            try await blobs.appendUpload(id, at: session.size, after: last, HashingSequence(base: body, box: box))
        }
        // A segment may absorb the last one (see BlobStore.appendUpload): extended in place, only the bytes
        // from the old end on are this request's; staged as a copy, the old segment goes once it is recorded.
        let absorbed = last.map { segment.start == $0.start && segment.start < session.size } ?? false
        let inPlace = absorbed && segment.name == last?.name
        let added = inPlace ? UploadSegment(start: session.size, end: segment.end, name: segment.name) : segment
        var result = session
        if segment.end > session.size {
            guard try await metadata.advanceUpload(id, from: session.size, adding: segment) else {
                try? await blobs.discardSegment(id, added)
                guard let now = try await metadata.uploadSession(id) else { throw Self.unknownUpload }
                throw Self.offsetMismatch(now.size)
            }
            result.size = segment.end
            if absorbed {
                result.segments[result.segments.count - 1] = segment
                if !inPlace, let last { try? await blobs.discardSegment(id, last) }
            } else {
                result.segments.append(segment)
            }
        } else {
            try? await blobs.discardSegment(id, added)
        }
        if let hasher = box.hasher { keepRunningHash(id, RunningHash(offset: result.size, hasher: hasher)) }
        return result
    }

    private static func offsetMismatch(_ size: Int64) -> RegistryError {
        RegistryError(.uploadOffsetMismatch, "chunk does not start at the end of the upload", detail: ["size": String(size)])
    }

    /// The digest of the staged bytes, from the running hash when it is current, else by reading them back
    /// (after a restart, or when the session's earlier requests went to another instance).
    private func uploadDigest(_ id: UploadID, _ session: UploadSession, algorithm: Digest.Algorithm) async throws -> Digest {
        let running = runningHashes.withLock { $0.removeValue(forKey: id) }
        if let running, running.offset == session.size, running.hasher.algorithm == algorithm {
            return running.hasher.finalize()
        }
        var hasher = DigestHasher(algorithm)
        try await staged {
            try await blobs.readUpload(id, segments: session.segments) { buffer in
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
    /// upload session (`session`) in the same commit. The staged bytes go only after that commit, so a
    /// commit retried after a crash (on any instance) still finds them.
    /// The digest is claimed first, so that a garbage collector cannot delete bytes found present here before
    /// the blob's row links them (the collector skips claimed blobs; a claim waits out one being deleted).
    private func store(_ id: UploadID, as digest: Digest, size: Int64, segments: [UploadSegment],
                       in repository: RepositoryName, session: Bool, by caller: Caller) async throws {
        do {
            try await linkClaimed(digest, claim: id.value, write: { present in
                if !present { try await blobs.commitUpload(id, segments: segments, as: digest) }
                return true
            }, link: { claim in
                try await metadata.addBlob(digest, size: size, to: repository, completing: session ? id : nil,
                                           claim: claim, by: caller.name)
            })
        } catch StorageError.uploadNotFound where session {
            // Bytes moved into place by a first attempt and then condemned: the staged copy went with them.
            runningHashes.withLock { _ = $0.removeValue(forKey: id) }
            try? await metadata.deleteUpload(id)
            throw Self.unknownUpload
        } catch StorageError.uploadNotFound {
            throw RegistryError(.unavailable, "blob \(digest) was removed while being stored; upload it again")
        }
        try? await blobs.deleteUpload(id)
    }
}

/// A pending blob that is published or discarded at most once.
private actor PendingOnce {
    private var pending: (any PendingBlob)?

    init(_ pending: any PendingBlob) { self.pending = pending }

    /// Publishes the bytes; false when they were already used.
    func publish() async throws -> Bool {
        guard let pending else { return false }
        try await pending.publish()
        self.pending = nil
        return true
    }

    func discard() async {
        guard let pending else { return }
        self.pending = nil
        await pending.discard()
    }
}
