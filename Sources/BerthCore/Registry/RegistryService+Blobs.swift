import NIOCore

/// A blob visible in a repository, ready to be read.
public struct VisibleBlob: Sendable {
    public let digest: Digest
    public let size: Int64
    let blobs: any BlobStore

    /// Streams `range` of the blob.
    public func read(_ range: ClosedRange<Int64>, into sink: (ByteBuffer) async throws -> Void) async throws {
        try await blobs.read(digest, range: range, into: sink)
    }

    /// Where the client may fetch the bytes itself instead (a presigned storage URL), if the store offers one.
    public func directURL() async throws -> String? {
        try await blobs.directURL(for: digest)
    }
}

extension RegistryService {
    /// A blob as `repository` sees it: its size, and its bytes for reading. Reading takes the repository in the
    /// same call, so no caller can read bytes its repository cannot see.
    public func blob(_ digest: Digest, in repository: RepositoryName) async throws -> VisibleBlob {
        guard let size = try await metadata.blobSize(digest, in: repository) else {
            throw RegistryError(.blobUnknown, "blob unknown to registry")
        }
        return VisibleBlob(digest: digest, size: size, blobs: blobs)
    }

    /// Hides a blob from a repository. Its bytes go when no repository refers to them (garbage collection).
    public func deleteBlob(_ digest: Digest, in repository: RepositoryName, by caller: Caller) async throws {
        guard try await metadata.removeBlob(digest, from: repository) else {
            throw RegistryError(.blobUnknown, "blob unknown to registry")
        }
        audit.record(AuditEvent(caller, "blob.delete", "\(repository)@\(digest)"))
    }

    /// Cross-repository mount: links a blob into `repository` from `source`, or without a source from some
    /// repository holding it, but only from a repository `readable` says the caller may pull. Knowing a
    /// digest proves nothing (digests are public in manifests). Returns false when no readable repository
    /// holds the blob, so the client uploads it instead; the answer does not tell the blob exists elsewhere.
    public func mountBlob(_ digest: Digest, from source: RepositoryName?, into repository: RepositoryName,
                          by caller: Caller, readable: (RepositoryName) -> Bool) async throws -> Bool {
        let quota = try await quota(for: repository)
        if let source {
            guard readable(source) else { return false }
            try await enforceMount(quota, digest, from: source, into: repository)
            return try await metadata.mountBlob(digest, from: source, to: repository, by: caller.name)
        }
        for holder in try await metadata.repositories(holding: digest, limit: 100) where readable(holder) {
            try await enforceMount(quota, digest, from: holder, into: repository)
            if try await metadata.mountBlob(digest, from: holder, to: repository, by: caller.name) { return true }
        }
        return false
    }

    /// A mount adds the blob's bytes to the namespace as an upload would. Refused only once the caller is known
    /// to read the source, so the refusal tells nothing about blobs it may not see.
    private func enforceMount(_ quota: NamespaceQuota?, _ digest: Digest, from source: RepositoryName,
                              into repository: RepositoryName) async throws {
        guard let quota, let size = try await metadata.blobSize(digest, in: source) else { return }
        try await enforce(quota, on: repository, adding: size, blob: digest)
    }
}
