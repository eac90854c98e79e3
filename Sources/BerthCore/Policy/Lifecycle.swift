import Foundation

/// ECR lifecycle policies on repositories: set on a namespace (its repositories' default) or on a repository
/// (which then overrides it), previewed, and applied by deleting the manifests they expire with the
/// referrers (signatures, SBOMs, attestations) of those manifests. Images behind an immutable tag are kept
/// and reported. Deleted manifests' blobs go at the next garbage collection.
public struct Lifecycle: Sendable {
    let metadata: any MetadataStore
    let audit: any AuditRecorder
    static let kind = "lifecycle"

    public init(store: any MetadataStore, audit: any AuditRecorder) {
        self.metadata = store
        self.audit = audit
    }

    /// What a policy does to one repository.
    public struct Plan: Sendable {
        public var repository: RepositoryName
        /// Where the policy in force is set.
        public var scope: String
        public var policy: LifecyclePolicy
        public var expiries: [LifecycleExpiry]
        /// Referrers that go with each expired image.
        public var referrers: [Digest: [Digest]]
        /// Expired images an immutable tag keeps, with the tag.
        public var kept: [Digest: String]
        /// The tags of each expired image and referrer when planned: applying deletes an image (with its
        /// referrers) only while they still have exactly these.
        public var tags: [Digest: Set<String>] = [:]
    }

    /// The policy in force for a repository: its own, else its namespace's.
    public func policy(for repository: RepositoryName) async throws -> (scope: String, policy: LifecyclePolicy)? {
        let scopes = repository.policyScopes
        let found = try await metadata.policies(Self.kind, scopes: scopes)
        for scope in scopes {
            if let document = found[scope], let policy = try? LifecyclePolicy(json: document) { return (scope, policy) }
        }
        return nil
    }

    /// Every policy set, by scope.
    public func policies() async throws -> [(scope: String, policy: LifecyclePolicy)] {
        try await metadata.policies(Self.kind).compactMap { scope, document in
            (try? LifecyclePolicy(json: document)).map { (scope, $0) }
        }.sorted { $0.scope < $1.scope }
    }

    /// Validates and stores (nil: removes) a namespace's or repository's policy.
    @discardableResult
    public func setPolicy(_ json: Data?, on scope: String, by caller: Caller) async throws -> LifecyclePolicy? {
        guard (try? RepositoryName(validating: scope)) != nil else {
            throw RegistryError(.nameInvalid, "invalid namespace or repository name \(scope.prefix(100))")
        }
        let policy = try json.map { json throws(LifecyclePolicyError) in try LifecyclePolicy(json: json) }
        try await metadata.setPolicy(Self.kind, scope: scope, document: json, by: caller.name)
        audit.record(AuditEvent(caller, "policy.lifecycle", scope, detail: policy.map { "\($0.rules.count) rules" } ?? "removed"))
        return policy
    }

    /// What the policy in force would expire in `repository` now, without acting; nil when none is in force.
    public func preview(_ repository: RepositoryName, now: Date = Date()) async throws -> Plan? {
        guard let (scope, policy) = try await policy(for: repository) else { return nil }
        let entries = try await metadata.manifestEntries(in: repository)
        // Index children go with their index, referrers with their subject: neither is an image of its own.
        let images = entries.filter { !$0.listed && $0.subject == nil }
            .map { LifecycleImage(digest: $0.digest, tags: $0.tags, pushedAt: $0.pushedAt, lastPulledAt: $0.lastPulledAt) }
        let expiries = policy.expired(images, now: now)
        var referrers: [Digest: [Digest]] = [:]
        let bySubject = Dictionary(grouping: entries.filter { $0.subject != nil }, by: { $0.subject! })
        for expiry in expiries {
            var found: [Digest] = [], queue = [expiry.image.digest]
            while let next = queue.popLast() {
                for referrer in bySubject[next] ?? [] where !found.contains(referrer.digest) {
                    found.append(referrer.digest)
                    queue.append(referrer.digest)
                }
            }
            if !found.isEmpty { referrers[expiry.image.digest] = found }
        }
        var kept: [Digest: String] = [:]
        if let rule = try await TagRules(store: metadata, audit: audit).immutability(of: repository) {
            for expiry in expiries {
                if let tag = expiry.image.tags.first(where: rule.rule.protects) { kept[expiry.image.digest] = tag }
            }
        }
        let planned = Set(expiries.map(\.image.digest)).union(referrers.values.joined())
        let tags = Dictionary(entries.filter { planned.contains($0.digest) }.map { ($0.digest, Set($0.tags)) },
                              uniquingKeysWith: { first, _ in first })
        return Plan(repository: repository, scope: scope, policy: policy, expiries: expiries, referrers: referrers, kept: kept,
                    tags: tags)
    }

    /// Applies the policy in force to `repository`: deletes what it expires, each deletion audited with its
    /// rule. Returns the plan and the manifests deleted.
    public func apply(_ repository: RepositoryName, now: Date = Date(), by caller: Caller) async throws -> (Plan, [Digest])? {
        guard let plan = try await preview(repository, now: now) else { return nil }
        return (plan, try await apply(plan, by: caller))
    }

    /// Deletes what `plan` expires as the plan saw it: each image with its referrers in one transaction, and
    /// only while each still has the tags it had when planned. An image tagged since (an "untagged" image a
    /// push just tagged), or tagged immutable since, is kept with its referrers. Returns the manifests deleted.
    public func apply(_ plan: Plan, by caller: Caller) async throws -> [Digest] {
        let repository = plan.repository
        let rule = try await TagRules(store: metadata, audit: audit).immutability(of: repository)
        let protected: @Sendable (String) -> Bool = { rule?.rule.protects($0) ?? false }
        var deleted: [Digest] = []
        for expiry in plan.expiries where plan.kept[expiry.image.digest] == nil {
            let image = expiry.image.digest
            let detail = "rule \(expiry.rulePriority)" + (expiry.ruleDescription.map { ": \($0)" } ?? "")
            // Referrers first in the list, as before; the transaction makes the order moot.
            let digests = (plan.referrers[image] ?? []).reversed() + [image]
            let deletions = digests.map { ManifestDeletion($0, expectedTags: plan.tags[$0] ?? []) }
            let gone: [Digest]
            do {
                gone = try await metadata.deleteManifests(deletions, in: repository, protected: protected)
            } catch StorageError.protectedTag, WriteConflict.tagsChanged {
                continue  // tagged (or tagged immutable) since the plan: not what the plan expired
            }
            for digest in digests where gone.contains(digest) {
                deleted.append(digest)
                audit.record(AuditEvent(caller, "lifecycle.expire", "\(repository)@\(digest)",
                                        detail: digest == image ? detail : "referrer of \(image); \(detail)"))
            }
        }
        return deleted
    }

    /// Applies every policy to the repositories it covers; returns the number of manifests deleted.
    public func applyAll(now: Date = Date(), by caller: Caller) async throws -> Int {
        let scopes = Set(try await policies().map(\.scope))
        guard !scopes.isEmpty else { return 0 }
        var total = 0, last: String?
        while true {
            let page = try await metadata.repositories(after: last, limit: 1000)
            guard let end = page.last else { break }
            for name in page {
                guard let repository = try? RepositoryName(validating: name),
                      repository.policyScopes.contains(where: scopes.contains) else { continue }
                total += try await apply(repository, now: now, by: caller)?.1.count ?? 0
            }
            last = end
        }
        return total
    }
}
