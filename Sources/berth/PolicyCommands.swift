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
