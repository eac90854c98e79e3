import ArgumentParser
import BerthAuth
import BerthCore
import BerthServer
import Foundation

struct ImmutabilityCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "immutability", abstract: "Tag immutability rules of namespaces and repositories.",
        discussion: """
            A repository's rule overrides its namespace's. Under an immutable rule, pushing another manifest to \
            an existing tag, or deleting the tag, is refused (403 DENIED); pushing the same manifest again works. \
            Exclusions are tag patterns with * wildcards (latest, dev-*).
            """,
        subcommands: [Set.self, Show.self, Clear.self])

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a namespace's or repository's tags immutable (or mutable).")
        @Argument(help: "Namespace or repository.") var scope: String
        @Flag(help: "Make tags mutable (a repository under an immutable namespace).") var mutable = false
        @Option(name: .customLong("exclude"), help: "A tag pattern that stays mutable (repeatable).") var exclusions: [String] = []
        @OptionGroup var store: StoreOptions

        func run() async throws {
            let patterns = try exclusions.map { text in
                do { return try TagPattern(validating: text) } catch let error as RegistryError { throw ValidationError(error.message) }
            }
            let rule = TagImmutability(immutable: !mutable, exclusions: patterns)
            try await store.run { try await $0.rules.setImmutability(rule, on: scope, by: cli.caller(address: nil)) }
            print("\(scope): \(rule.summary)")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show every rule, or the rule in force for a repository.")
        @Argument(help: "Namespace or repository (default: every rule).") var scope: String?
        @OptionGroup var store: StoreOptions

        func run() async throws {
            try await store.run { admin in
                if let scope {
                    let name = try RepositoryName(validating: scope)
                    let found = try await admin.rules.immutability(of: name)
                    print(found.map { "\(scope): \($0.rule.summary) (set on \($0.scope))" } ?? "\(scope): mutable (no rule)")
                } else {
                    for rule in try await admin.rules.immutabilityRules() { print("\(rule.scope)\t\(rule.rule.summary)") }
                }
            }
        }
    }

    struct Clear: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a namespace's or repository's rule.")
        @Argument(help: "Namespace or repository.") var scope: String
        @OptionGroup var store: StoreOptions

        func run() async throws {
            try await store.run { try await $0.rules.setImmutability(nil, on: scope, by: cli.caller(address: nil)) }
            print("\(scope): rule removed")
        }
    }
}

struct LifecycleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lifecycle", abstract: "ECR lifecycle policies of namespaces and repositories.",
        discussion: """
            Policies are AWS ECR lifecycle policy JSON, unchanged. A repository's policy overrides its \
            namespace's. The server applies them on its schedule (lifecycle.check_every); preview shows what \
            would expire, and by which rule, without acting.
            """,
        subcommands: [Set.self, Show.self, Preview.self, Apply.self, Clear.self])

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set a namespace's or repository's policy from a JSON file (- for stdin).")
        @Argument(help: "Namespace or repository.") var scope: String
        @Argument(help: "The ECR lifecycle policy JSON file.") var file: String
        @OptionGroup var store: StoreOptions

        func run() async throws {
            let json = file == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: file))
            do {
                try await store.run { admin in
                    let policy = try await admin.lifecycle.setPolicy(json, on: scope, by: cli.caller(address: nil))!
                    print("\(scope): \(policy.rules.count) rules" + (policy.assignedPriorities ? " (rules without rulePriority taken in list order)" : ""))
                }
            } catch let error as LifecyclePolicyError {
                FileHandle.standardError.write(Data("berth: invalid lifecycle policy: \(error)\n".utf8))
                throw ExitCode(1)
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the policy set on a scope, or list every policy.")
        @Argument(help: "Namespace or repository (default: every policy).") var scope: String?
        @OptionGroup var store: StoreOptions

        func run() async throws {
            try await store.run { admin in
                for (found, policy) in try await admin.lifecycle.policies() where scope == nil || scope == found {
                    print(scope == nil ? "\(found)\t\(policy.rules.count) rules" : String(decoding: policy.document, as: UTF8.self))
                }
            }
        }
    }

    struct Preview: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List what the policy in force would expire in a repository, without acting.")
        @Argument(help: "Repository.") var repository: String
        @OptionGroup var store: StoreOptions

        func run() async throws {
            let name = try RepositoryName(validating: repository)
            try await store.run { admin in
                guard let plan = try await admin.lifecycle.preview(name) else { print("\(repository): no lifecycle policy"); return }
                LifecycleCommand.report(plan, deleted: nil)
            }
        }
    }

    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Apply the policy in force to a repository now.")
        @Argument(help: "Repository.") var repository: String
        @OptionGroup var store: StoreOptions

        func run() async throws {
            let name = try RepositoryName(validating: repository)
            try await store.run { admin in
                guard let (plan, deleted) = try await admin.lifecycle.apply(name, by: cli.caller(address: nil)) else {
                    print("\(repository): no lifecycle policy"); return
                }
                LifecycleCommand.report(plan, deleted: deleted)
            }
        }
    }

    struct Clear: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a namespace's or repository's policy.")
        @Argument(help: "Namespace or repository.") var scope: String
        @OptionGroup var store: StoreOptions

        func run() async throws {
            try await store.run { try await $0.lifecycle.setPolicy(nil, on: scope, by: cli.caller(address: nil)) }
            print("\(scope): policy removed")
        }
    }

    static func report(_ plan: Lifecycle.Plan, deleted: [Digest]?) {
        Swift.print("\(plan.repository): policy set on \(plan.scope), \(plan.policy.rules.count) rules"
                    + (plan.policy.assignedPriorities ? " (rules without rulePriority taken in list order)" : ""))
        let time = ISO8601DateFormatter()
        for expiry in plan.expiries {
            let image = expiry.image
            let what = "\(image.digest) tags [\(image.tags.joined(separator: ","))] pushed \(time.string(from: image.pushedAt))"
            let rule = "rule \(expiry.rulePriority)" + (expiry.ruleDescription.map { " (\($0))" } ?? "")
            let referrers = plan.referrers[image.digest].map { " with \($0.count) referrers" } ?? ""
            if let tag = plan.kept[image.digest] {
                Swift.print("keep   \(what): \(rule) would expire it, but tag \(tag) is immutable")
            } else {
                Swift.print("\(deleted == nil ? "expire" : "expired") \(what) by \(rule)\(referrers)")
            }
        }
        let count = plan.expiries.count - plan.kept.count
        Swift.print(deleted.map { "\($0.count) manifests deleted (referrers included)" } ?? "\(count) images would expire")
    }
}
