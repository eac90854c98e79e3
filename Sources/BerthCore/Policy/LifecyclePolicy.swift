import Foundation

/// An AWS ECR lifecycle policy, accepted as ECR's JSON unchanged (`rules[]` with `rulePriority`,
/// `description`, `selection` and `action`), validated as ECR validates it. Rules without `rulePriority`
/// (common in copied guides) are accepted in list order, after any numbered ones; `assignedPriorities` says so.
public struct LifecyclePolicy: Sendable, Hashable {
    public enum TagStatus: String, Sendable, Hashable, Codable { case tagged, untagged, any }
    public enum CountType: String, Sendable, Hashable, Codable { case imageCountMoreThan, sinceImagePushed, sinceImagePulled }

    public struct Rule: Sendable, Hashable {
        public var priority: Int
        public var description: String?
        public var tagStatus: TagStatus
        public var tagPrefixes: [String]
        public var tagPatterns: [TagPattern]
        public var countType: CountType
        /// Images to keep (imageCountMoreThan) or days (sinceImagePushed, sinceImagePulled).
        public var countNumber: Int
    }

    /// Rules in evaluation order (ascending priority).
    public var rules: [Rule]
    /// True when some rules had no `rulePriority` and were numbered in list order.
    public var assignedPriorities: Bool
    /// The JSON as given, stored and shown back unchanged.
    public var document: Data

    /// ECR's limits: at most 50 rules per policy; countNumber is a positive 32-bit integer.
    public static let maxRules = 50

    public init(json: Data) throws(LifecyclePolicyError) {
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: json)
        } catch {
            throw LifecyclePolicyError("lifecycle policy is not valid JSON of the expected shape: "
                                       + ((error as? DecodingError)?.summary ?? "unreadable"))
        }
        guard let given = file.rules, !given.isEmpty else { throw LifecyclePolicyError("rules must list at least one rule") }
        guard given.count <= Self.maxRules else { throw LifecyclePolicyError("at most \(Self.maxRules) rules are allowed") }
        // Bounded before any arithmetic: a client's Int.max would trap on the + 1 below.
        for (index, raw) in given.enumerated() {
            if let priority = raw.rulePriority, !(1...Int(Int32.max)).contains(priority) {
                throw LifecyclePolicyError("rule \(index + 1): rulePriority must be a positive integer (1 to \(Int32.max))")
            }
        }
        var next = (given.compactMap(\.rulePriority).max() ?? 0) + 1
        var rules: [Rule] = []
        for (index, raw) in given.enumerated() {
            let priority: Int
            if let given = raw.rulePriority {
                priority = given
            } else {
                priority = next
                next += 1
            }
            rules.append(try Self.rule(raw, priority: priority, position: index + 1))
        }
        let priorities = rules.map(\.priority)
        if let duplicate = priorities.first(where: { p in priorities.filter { $0 == p }.count > 1 }) {
            throw LifecyclePolicyError("rulePriority \(duplicate) is used by more than one rule; each rule needs its own")
        }
        rules.sort { $0.priority < $1.priority }
        if let any = rules.firstIndex(where: { $0.tagStatus == .any }), any != rules.count - 1 {
            throw LifecyclePolicyError("the rule with tagStatus any (priority \(rules[any].priority)) must have the highest rulePriority")
        }
        if rules.filter({ $0.tagStatus == .untagged }).count > 1 {
            throw LifecyclePolicyError("only one rule may select untagged images")
        }
        self.rules = rules
        self.assignedPriorities = given.contains { $0.rulePriority == nil }
        self.document = json
    }

    private static func rule(_ raw: File.Rule, priority: Int, position: Int) throws(LifecyclePolicyError) -> Rule {
        let name = "rule \(position) (priority \(priority))"
        guard let selection = raw.selection else { throw LifecyclePolicyError("\(name): selection is required") }
        guard let statusText = selection.tagStatus else { throw LifecyclePolicyError("\(name): selection.tagStatus is required") }
        guard let status = TagStatus(rawValue: statusText) else {
            throw LifecyclePolicyError("\(name): tagStatus must be tagged, untagged or any, not \(statusText.prefix(40))")
        }
        let prefixes = selection.tagPrefixList ?? [], patternTexts = selection.tagPatternList ?? []
        switch status {
        case .tagged:
            guard prefixes.isEmpty != patternTexts.isEmpty else {
                throw LifecyclePolicyError("\(name): tagStatus tagged needs tagPrefixList or tagPatternList (one of them, not both)")
            }
        case .untagged, .any:
            guard prefixes.isEmpty, patternTexts.isEmpty else {
                throw LifecyclePolicyError("\(name): tagPrefixList and tagPatternList are only for tagStatus tagged")
            }
        }
        for prefix in prefixes where prefix.isEmpty || prefix.utf8.count > 128 || !prefix.utf8.allSatisfy(Tag.isTagByte) {
            throw LifecyclePolicyError("\(name): invalid tag prefix \(prefix.prefix(130))")
        }
        var patterns: [TagPattern] = []
        for text in patternTexts {
            do { patterns.append(try TagPattern(validating: text)) } catch { throw LifecyclePolicyError("\(name): \(error.message)") }
        }
        guard let typeText = selection.countType else { throw LifecyclePolicyError("\(name): selection.countType is required") }
        guard let countType = CountType(rawValue: typeText) else {
            throw LifecyclePolicyError("\(name): countType must be imageCountMoreThan, sinceImagePushed or sinceImagePulled")
        }
        guard let count = selection.countNumber, count >= 1, count <= Int(Int32.max) else {
            throw LifecyclePolicyError("\(name): countNumber must be an integer from 1 to \(Int32.max)")
        }
        switch countType {
        case .imageCountMoreThan:
            guard selection.countUnit == nil else {
                throw LifecyclePolicyError("\(name): countUnit is only for sinceImagePushed and sinceImagePulled")
            }
        case .sinceImagePushed, .sinceImagePulled:
            guard selection.countUnit == "days" else { throw LifecyclePolicyError("\(name): countUnit must be days with \(typeText)") }
        }
        guard raw.action?.type == "expire" else { throw LifecyclePolicyError("\(name): action.type must be expire") }
        return Rule(priority: priority, description: raw.description, tagStatus: status, tagPrefixes: prefixes,
                    tagPatterns: patterns, countType: countType, countNumber: count)
    }

    /// ECR's JSON, every field optional so that missing ones get a clear message.
    private struct File: Decodable {
        struct Rule: Decodable {
            var rulePriority: Int?
            var description: String?
            var selection: Selection?
            var action: Action?
        }
        struct Selection: Decodable {
            var tagStatus: String?
            var tagPrefixList: [String]?
            var tagPatternList: [String]?
            var countType: String?
            var countUnit: String?
            var countNumber: Int?
        }
        struct Action: Decodable { var type: String? }
        var rules: [Rule]?
    }
}

public struct LifecyclePolicyError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
