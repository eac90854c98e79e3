/// Errors the storage protocols define for their drivers to throw. Drivers know nothing of the registry's
/// errors or of HTTP; the registry service turns these into `RegistryError`s.
public enum StorageError: Error, Sendable, Equatable {
    /// The upload staging area does not exist (never created, cancelled or expired).
    case uploadNotFound
    /// A manifest refers to blobs or manifests its repository does not hold (checked in the transaction that
    /// would store it).
    case missingReferences(blobs: [Digest], manifests: [Digest])
    /// A write would move or remove this tag, which the caller's rule protects (checked in the transaction).
    case protectedTag(String)
}
