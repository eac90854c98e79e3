import NIOCore

extension RegistryService {
    /// The size of a blob visible in `repository`.
    public func blobSize(_ digest: Digest, in repository: RepositoryName) async throws -> Int64 {
        guard let size = try await metadata.blobSize(digest, in: repository) else {
            throw RegistryError(.blobUnknown, "blob unknown to registry")
        }
        return size
    }

    /// Streams `range` of a blob already known to be visible in the repository (see `blobSize`).
    public func readBlob(_ digest: Digest, range: ClosedRange<Int64>,
                         into sink: (ByteBuffer) async throws -> Void) async throws {
        try await blobs.read(digest, range: range, into: sink)
    }

    /// Hides a blob from a repository. Its bytes go when no repository refers to them (garbage collection).
    public func deleteBlob(_ digest: Digest, in repository: RepositoryName) async throws {
        guard try await metadata.removeBlob(digest, from: repository) else {
            throw RegistryError(.blobUnknown, "blob unknown to registry")
        }
    }

    /// Cross-repository mount. Without a source, any repository holding the blob will do (the spec's
    /// automatic content discovery; knowing a digest proves the client had the content). Returns false when
    /// no allowed source can serve the blob, so the client should upload it instead.
    public func mountBlob(_ digest: Digest, from source: RepositoryName?,
                          into repository: RepositoryName) async throws -> Bool {
        try await metadata.mountBlob(digest, from: source, to: repository)
    }
}
