import Foundation

/// Tag immutability rules: reading the one in force for a repository, listing and setting them. The registry
/// service enforces them on pushes and deletes; the admin API and the CLI set them.
public struct TagRules: Sendable {
    let metadata: any PolicyStore
    let audit: any AuditRecorder
    static let immutabilityKind = "immutability"

    public init(store: any PolicyStore, audit: any AuditRecorder) {
        self.metadata = store
        self.audit = audit
    }

    /// The tag rule in force for a repository: its own, else its namespace's (the name's first component);
    /// nil when neither is set (tags are mutable).
    public func immutability(of repository: RepositoryName) async throws -> ScopedImmutability? {
        let scopes = repository.policyScopes
        let found = try await metadata.policies(Self.immutabilityKind, scopes: scopes)
        for scope in scopes {
            if let document = found[scope], let rule = try? JSONDecoder().decode(TagImmutability.self, from: document) {
                return ScopedImmutability(scope: scope, rule: rule)
            }
        }
        return nil
    }

    /// Every rule set, by scope.
    public func immutabilityRules() async throws -> [ScopedImmutability] {
        try await metadata.policies(Self.immutabilityKind).compactMap { scope, document in
            (try? JSONDecoder().decode(TagImmutability.self, from: document)).map { ScopedImmutability(scope: scope, rule: $0) }
        }.sorted { $0.scope < $1.scope }
    }

    /// Sets (nil: removes) the rule of a namespace or repository. A repository's rule overrides its
    /// namespace's, so `immutable: false` on a repository opens it under an immutable namespace.
    public func setImmutability(_ rule: TagImmutability?, on scope: String, by caller: Caller) async throws {
        guard (try? RepositoryName(validating: scope)) != nil else {
            throw RegistryError(.nameInvalid, "invalid namespace or repository name \(scope.prefix(100))")
        }
        let document = try rule.map { rule in
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            return try encoder.encode(rule)
        }
        try await metadata.setPolicy(Self.immutabilityKind, scope: scope, document: document, by: caller.name)
        audit.record(AuditEvent(caller, "policy.immutability", scope, detail: rule?.summary ?? "removed"))
    }

}

extension RegistryService {
    public var tagRules: TagRules { TagRules(store: metadata, audit: audit) }
    public var lifecycle: Lifecycle { Lifecycle(store: metadata, audit: audit) }

    func immutability(of repository: RepositoryName) async throws -> ScopedImmutability? {
        try await tagRules.immutability(of: repository)
    }

    /// The refusal for a write that would move or remove a protected tag.
    static func immutableTag(_ tag: String, _ rule: ScopedImmutability?, pushing: Bool) -> RegistryError {
        RegistryError(.denied, "tag \(tag) is immutable (rule on \(rule?.scope ?? "?"): \(rule?.rule.summary ?? "immutable"))"
                      + (pushing ? "; push under a new tag" : ""))
    }
}
