import Foundation

/// An image as lifecycle rules see it: a manifest that is neither listed by an index nor a referrer of another
/// (those go with their index or subject).
public struct LifecycleImage: Sendable, Hashable {
    public var digest: Digest
    public var tags: [String]
    public var pushedAt: Date
    /// Nil when never pulled (or not since pulls are recorded): `sinceImagePulled` then uses the push time.
    public var lastPulledAt: Date?

    public init(digest: Digest, tags: [String], pushedAt: Date, lastPulledAt: Date? = nil) {
        self.digest = digest
        self.tags = tags
        self.pushedAt = pushedAt
        self.lastPulledAt = lastPulledAt
    }
}

/// An image a policy expires, and the rule that does.
public struct LifecycleExpiry: Sendable, Hashable {
    public var image: LifecycleImage
    public var rulePriority: Int
    public var ruleDescription: String?
}

extension LifecyclePolicy {
    /// ECR's evaluation: rules in priority order; each selects images by tag status and tag lists (every
    /// prefix or pattern must match one of the image's tags), then picks those beyond its count (newest kept)
    /// or older than its age; an image is expired by at most one rule, and never by a rule of lower priority
    /// than one whose tag selection it matches. Counting still sees images an earlier rule expired.
    public func expired(_ images: [LifecycleImage], now: Date) -> [LifecycleExpiry] {
        // Newest first; the digest breaks ties so that evaluation is deterministic.
        let ordered = images.sorted { ($0.pushedAt, $1.digest.description) > ($1.pushedAt, $0.digest.description) }
        var claimed = Set<Digest>()
        var expired: [Digest: LifecycleExpiry] = [:]
        for rule in rules {
            let selected = ordered.filter(rule.selects)
            for image in rule.candidates(selected, now: now) where !claimed.contains(image.digest) && expired[image.digest] == nil {
                expired[image.digest] = LifecycleExpiry(image: image, rulePriority: rule.priority, ruleDescription: rule.description)
            }
            claimed.formUnion(selected.map(\.digest))
        }
        return expired.values.sorted { ($0.rulePriority, $0.image.pushedAt, $0.image.digest.description)
            < ($1.rulePriority, $1.image.pushedAt, $1.image.digest.description) }
    }
}

extension LifecyclePolicy.Rule {
    func selects(_ image: LifecycleImage) -> Bool {
        switch tagStatus {
        case .any: return true
        case .untagged: return image.tags.isEmpty
        case .tagged:
            return !image.tags.isEmpty
                && tagPrefixes.allSatisfy { prefix in image.tags.contains { $0.hasPrefix(prefix) } }
                && tagPatterns.allSatisfy { pattern in image.tags.contains(where: pattern.matches) }
        }
    }

    /// Among `selected` (newest first), those this rule would expire.
    func candidates(_ selected: [LifecycleImage], now: Date) -> [LifecycleImage] {
        switch countType {
        case .imageCountMoreThan:
            return Array(selected.dropFirst(countNumber))
        case .sinceImagePushed, .sinceImagePulled:
            let cutoff = now.addingTimeInterval(-Double(countNumber) * 86_400)
            return selected.filter { image in
                let last = countType == .sinceImagePulled ? (image.lastPulledAt ?? image.pushedAt) : image.pushedAt
                return last < cutoff
            }
        }
    }
}
