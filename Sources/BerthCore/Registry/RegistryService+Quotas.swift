/// Quota enforcement on pushes. A push costs one policy lookup when its namespace has no quota; with one, a
/// few indexed reads. The check is not in the write's transaction: two pushes racing into one namespace may
/// both pass and overshoot the limit by what they add (documented; the hot path takes no lock for it).
extension RegistryService {
    public var quotas: Quotas { Quotas(store: metadata, audit: audit) }
    public var usage: UsageReports { UsageReports(store: metadata) }

    /// The quota of the repository's namespace; nil when none is set.
    func quota(for repository: RepositoryName) async throws -> NamespaceQuota? {
        try await quotas.quota(of: repository.namespace)
    }

    /// Refuses (403 DENIED, `quota exceeded`) a write that would add `bytes` to the repository's namespace
    /// beyond its storage limit, or create the repository beyond its repository limit. A `blob` the namespace
    /// already holds adds nothing (blobs count once per namespace).
    func enforce(_ quota: NamespaceQuota?, on repository: RepositoryName, adding bytes: Int64,
                 blob: Digest? = nil) async throws {
        guard let quota else { return }
        let namespace = repository.namespace
        if let limit = quota.repositories, try await !metadata.repositoryExists(repository) {
            let count = try await metadata.repositoryCount(inNamespace: namespace)
            if count >= limit {
                throw RegistryError(.denied, "quota exceeded: namespace \(namespace) has \(count) repositories, its limit is \(limit); cannot create \(repository)",
                                    detail: ["namespace": namespace, "repositories": String(count), "limit": String(limit)])
            }
        }
        guard let limit = quota.storageBytes, bytes > 0 else { return }
        if let blob, try await metadata.namespace(namespace, holds: blob) { return }
        let used = try await metadata.storedBytes(inNamespace: namespace).total
        let (total, overflow) = used.addingReportingOverflow(bytes)
        if overflow || total > limit {
            throw RegistryError(.denied, "quota exceeded: namespace \(namespace) uses \(used) bytes of its \(limit)-byte limit; this push adds \(bytes)",
                                detail: ["namespace": namespace, "used": String(used), "limit": String(limit), "adding": String(bytes)])
        }
    }
}
