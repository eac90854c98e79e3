import Foundation

/// Namespace quotas, stored as policies of kind `quota` with the namespace as scope: reading, listing and
/// setting them. The registry service enforces them on pushes (`RegistryService+Quotas`); the admin API and
/// the CLI set them.
public struct Quotas: Sendable {
    let metadata: any PolicyStore
    let audit: any AuditRecorder
    static let kind = "quota"

    public init(store: any PolicyStore, audit: any AuditRecorder) {
        self.metadata = store
        self.audit = audit
    }

    /// The quota of a namespace; nil when none is set. One policy lookup.
    public func quota(of namespace: String) async throws -> NamespaceQuota? {
        try await metadata.policies(Self.kind, scopes: [namespace])[namespace].flatMap(Self.decode)
    }

    /// Every quota set, by namespace.
    public func quotas() async throws -> [(namespace: String, quota: NamespaceQuota)] {
        try await metadata.policies(Self.kind).compactMap { scope, document in
            Self.decode(document).map { (scope, $0) }
        }.sorted { $0.namespace < $1.namespace }
    }

    /// Sets (nil: removes) a namespace's quota. Quotas are per namespace only: a repository name is refused.
    public func setQuota(_ quota: NamespaceQuota?, on namespace: String, by caller: Caller) async throws {
        guard let name = try? RepositoryName(validating: namespace), name.namespace == namespace else {
            throw QuotaError("invalid namespace name \(namespace.prefix(100)) (quotas are set on namespaces, not repositories)")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let document = try quota.map { try encoder.encode($0) }
        try await metadata.setPolicy(Self.kind, scope: namespace, document: document, by: caller.name)
        audit.record(AuditEvent(caller, "policy.quota", namespace, detail: quota?.summary ?? "removed"))
    }

    /// A stored document that no longer decodes (edited by hand) is no quota rather than a broken push path.
    static func decode(_ document: Data) -> NamespaceQuota? {
        try? JSONDecoder().decode(NamespaceQuota.self, from: document)
    }
}
