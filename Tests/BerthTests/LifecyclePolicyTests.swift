import BerthCore
import Foundation
import Testing

/// ECR lifecycle policies: the documented examples (docs.aws.amazon.com/AmazonECR/latest/userguide/
/// lifecycle_policy_examples.html) and evaluation rules, and the validation errors for invalid policies.
@Suite struct LifecyclePolicyTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func image(_ name: String, _ tags: [String], pushed daysAgo: Double, pulled pulledDaysAgo: Double? = nil) -> LifecycleImage {
        LifecycleImage(digest: Digest.of(Data(name.utf8)), tags: tags, pushedAt: now.addingTimeInterval(-daysAgo * 86_400),
                       lastPulledAt: pulledDaysAgo.map { now.addingTimeInterval(-$0 * 86_400) })
    }

    static func policy(_ rules: String) throws(LifecyclePolicyError) -> LifecyclePolicy {
        try LifecyclePolicy(json: Data("{\"rules\": [\(rules)]}".utf8))
    }

    static func rule(_ priority: Int?, _ selection: String, description: String? = nil) -> String {
        let p = priority.map { "\"rulePriority\": \($0), " } ?? ""
        let d = description.map { "\"description\": \"\($0)\", " } ?? ""
        return "{\(p)\(d)\"selection\": {\(selection)}, \"action\": {\"type\": \"expire\"}}"
    }

    /// Names of the images a policy expires, with the priority of the rule that does.
    static func expired(_ policy: LifecyclePolicy, _ images: [(String, LifecycleImage)]) -> [String: Int] {
        let names = Dictionary(uniqueKeysWithValues: images.map { ($0.1.digest, $0.0) })
        return Dictionary(uniqueKeysWithValues: policy.expired(images.map(\.1), now: now).map { (names[$0.image.digest]!, $0.rulePriority) })
    }

    @Test func filteringOnImageAge() throws {
        let policy = try Self.policy(Self.rule(1, #""tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 14"#))
        let images = [("old", Self.image("old", [], pushed: 15)), ("new", Self.image("new", [], pushed: 13)),
                      ("tagged-old", Self.image("tagged-old", ["v1"], pushed: 30))]
        #expect(Self.expired(policy, images) == ["old": 1])
    }

    @Test func filteringOnImageCount() throws {
        let policy = try Self.policy(Self.rule(1, #""tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1"#))
        let images = [("a", Self.image("a", [], pushed: 3)), ("b", Self.image("b", [], pushed: 2)), ("c", Self.image("c", [], pushed: 1)),
                      ("t", Self.image("t", ["v1"], pushed: 9))]
        #expect(Self.expired(policy, images) == ["a": 1, "b": 1])
    }

    /// ECR's "filtering on multiple rules", both repository contents of the example.
    @Test func multipleRulesNeverExpireWhatAHigherRuleSelects() throws {
        let policy = try Self.policy([
            Self.rule(1, #""tagStatus": "tagged", "tagPrefixList": ["prod"], "countType": "imageCountMoreThan", "countNumber": 1"#),
            Self.rule(2, #""tagStatus": "tagged", "tagPrefixList": ["beta"], "countType": "imageCountMoreThan", "countNumber": 1"#),
        ].joined(separator: ","))
        let first = [("A", Self.image("A", ["beta-1", "prod-1"], pushed: 10)), ("B", Self.image("B", ["beta-2", "prod-2"], pushed: 9)),
                     ("C", Self.image("C", ["beta-3"], pushed: 8))]
        #expect(Self.expired(policy, first) == ["A": 1])  // B matches rule 1's selection, so rule 2 skips it
        let second = [("A", Self.image("A", ["beta-1", "prod-1"], pushed: 10)), ("B", Self.image("B", ["beta-2", "prod-2"], pushed: 9)),
                      ("C", Self.image("C", ["beta-3", "prod-3"], pushed: 8))]
        #expect(Self.expired(policy, second) == ["A": 1, "B": 1])
    }

    /// ECR's "filtering on multiple tags in a single rule": every prefix must match one of the image's tags.
    @Test func multipleTagsInOneRuleMustAllMatch() throws {
        let byAge = try Self.policy(Self.rule(1, #""tagStatus": "tagged", "tagPrefixList": ["alpha", "beta"], "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 5"#))
        let images = [("A", Self.image("A", ["alpha-1", "beta-1", "gamma-1"], pushed: 10)), ("B", Self.image("B", ["alpha-2", "beta-2"], pushed: 9)),
                      ("C", Self.image("C", ["alpha-3"], pushed: 8)), ("D", Self.image("D", ["alpha-4", "beta-4"], pushed: 1))]
        #expect(Self.expired(byAge, images) == ["A": 1, "B": 1])
        let byCount = try Self.policy(Self.rule(1, #""tagStatus": "tagged", "tagPatternList": ["alpha*", "*beta*"], "countType": "imageCountMoreThan", "countNumber": 1"#))
        #expect(Self.expired(byCount, images) == ["A": 1, "B": 1])
    }

    /// ECR's "filtering on all images": `any`, evaluated last, keeps the newest images whatever their tags,
    /// except those an earlier rule selected.
    @Test func anyIsEvaluatedLast() throws {
        let policy = try Self.policy([
            Self.rule(2, #""tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1"#),
            Self.rule(1, #""tagStatus": "tagged", "tagPatternList": ["release-*"], "countType": "imageCountMoreThan", "countNumber": 9999"#),
        ].joined(separator: ","))
        let images = [("old-release", Self.image("old-release", ["release-1"], pushed: 50)), ("untagged", Self.image("untagged", [], pushed: 5)),
                      ("dev", Self.image("dev", ["dev-7"], pushed: 3)), ("newest", Self.image("newest", ["main"], pushed: 1))]
        #expect(Self.expired(policy, images) == ["untagged": 2, "dev": 2])
        #expect(policy.rules.map(\.priority) == [1, 2])
    }

    @Test func sinceImagePulledUsesThePushTimeWhenNeverPulled() throws {
        let policy = try Self.policy(Self.rule(1, #""tagStatus": "any", "countType": "sinceImagePulled", "countUnit": "days", "countNumber": 30"#))
        let images = [("pulled", Self.image("pulled", ["a"], pushed: 100, pulled: 2)), ("stale", Self.image("stale", ["b"], pushed: 100, pulled: 40)),
                      ("never", Self.image("never", ["c"], pushed: 31)), ("fresh", Self.image("fresh", ["d"], pushed: 29))]
        #expect(Self.expired(policy, images) == ["stale": 1, "never": 1])
    }

    @Test func rulesWithoutPriorityAreTakenInListOrder() throws {
        let policy = try Self.policy([
            Self.rule(nil, #""tagStatus": "tagged", "tagPrefixList": ["prod"], "countType": "imageCountMoreThan", "countNumber": 1"#),
            Self.rule(nil, #""tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1"#),
        ].joined(separator: ","))
        #expect(policy.assignedPriorities)
        #expect(policy.rules.map(\.priority) == [1, 2])
        #expect(!(try Self.policy(Self.rule(3, #""tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1"#))).assignedPriorities)
    }

    @Test(arguments: [
        ("{}", "at least one rule"),
        ("not json", "not valid JSON"),
        (#"{"rules": [{"rulePriority": "one"}]}"#, "rules[0].rulePriority"),
    ]) func unreadablePoliciesAreRefused(json: String, message: String) {
        #expect(throws: LifecyclePolicyError.self) { try LifecyclePolicy(json: Data(json.utf8)) }
        do { _ = try LifecyclePolicy(json: Data(json.utf8)) } catch { #expect(error.description.contains(message), "\(error)") }
    }

    @Test(arguments: [
        ([rule(1, #""tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1"#),
          rule(1, #""tagStatus": "tagged", "tagPrefixList": ["a"], "countType": "imageCountMoreThan", "countNumber": 1"#)],
         "rulePriority 1 is used by more than one rule"),
        ([rule(1, #""tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1"#),
          rule(2, #""tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1"#)], "must have the highest rulePriority"),
        ([rule(1, #""tagStatus": "tagged", "countType": "imageCountMoreThan", "countNumber": 1"#)], "needs tagPrefixList or tagPatternList"),
        ([rule(1, #""tagStatus": "tagged", "tagPrefixList": ["a"], "tagPatternList": ["b*"], "countType": "imageCountMoreThan", "countNumber": 1"#)],
         "not both"),
        ([rule(1, #""tagStatus": "untagged", "tagPrefixList": ["a"], "countType": "imageCountMoreThan", "countNumber": 1"#)], "only for tagStatus tagged"),
        ([rule(1, #""tagStatus": "untagged", "countType": "sinceImagePushed", "countNumber": 3"#)], "countUnit must be days"),
        ([rule(1, #""tagStatus": "untagged", "countType": "imageCountMoreThan", "countUnit": "days", "countNumber": 3"#)], "countUnit is only for"),
        ([rule(1, #""tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 0"#)], "countNumber must be"),
        ([rule(1, #""tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 9223372036854775807"#)], "countNumber must be"),
        ([rule(1, #""tagStatus": "sometimes", "countType": "imageCountMoreThan", "countNumber": 1"#)], "tagStatus must be"),
        ([rule(1, #""tagStatus": "untagged", "countType": "imageCountLessThan", "countNumber": 1"#)], "countType must be"),
        ([rule(1, #""tagStatus": "tagged", "tagPatternList": ["a*b*c*d*e*f"], "countType": "imageCountMoreThan", "countNumber": 1"#)],
         "more than 4 wildcards"),
        ([rule(1, #""tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1"#),
          rule(2, #""tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1"#)], "only one rule may select untagged"),
        ([rule(0, #""tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1"#)], "positive integer"),
        ([rule(9223372036854775807, #""tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1"#),
          rule(nil, #""tagStatus": "tagged", "tagPrefixList": ["a"], "countType": "imageCountMoreThan", "countNumber": 1"#)], "positive integer"),
        (["{\"rulePriority\": 1, \"selection\": {\"tagStatus\": \"untagged\", \"countType\": \"imageCountMoreThan\", \"countNumber\": 1}, \"action\": {\"type\": \"delete\"}}"],
         "action.type must be expire"),
    ]) func invalidPoliciesAreRefusedWithClearMessages(rules: [String], message: String) {
        do {
            _ = try Self.policy(rules.joined(separator: ","))
            Issue.record("accepted an invalid policy (wanted: \(message))")
        } catch {
            #expect(error.description.contains(message), "\(error)")
        }
    }
}
