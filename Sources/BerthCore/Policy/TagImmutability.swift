/// Whether a repository's tags may move, set on a namespace (its repositories' default) or on one repository
/// (which then overrides the namespace's), as ECR's `IMMUTABLE_WITH_EXCLUSION` and Harbor's immutability
/// rules: pushing a different manifest to an immutable tag, or deleting it, is refused; pushing the same
/// manifest again is not (CI retries must not fail).
public struct TagImmutability: Sendable, Hashable, Codable {
    public var immutable: Bool
    /// Tags that stay mutable under an immutable rule (e.g. `latest`, `dev-*`).
    public var exclusions: [TagPattern]

    public init(immutable: Bool, exclusions: [TagPattern] = []) {
        self.immutable = immutable
        self.exclusions = exclusions
    }

    public func protects(_ tag: String) -> Bool {
        immutable && !exclusions.contains { $0.matches(tag) }
    }

    /// The rule in words, for refusals: `immutable (except latest, dev-*)`.
    public var summary: String {
        guard immutable else { return "mutable" }
        return exclusions.isEmpty ? "immutable" : "immutable (except \(exclusions.map(\.text).joined(separator: ", ")))"
    }
}

/// A rule and where it is set.
public struct ScopedImmutability: Sendable, Hashable {
    /// The namespace or repository the rule is set on.
    public var scope: String
    public var rule: TagImmutability
}

extension RepositoryName {
    /// The namespace: the name's first component.
    public var namespace: String { String(value.prefix { $0 != "/" }) }

    /// Where policies that apply to this repository are set, most specific first: the repository itself, then
    /// its namespace (the default of its repositories).
    public var policyScopes: [String] { namespace == value ? [value] : [value, namespace] }
}
