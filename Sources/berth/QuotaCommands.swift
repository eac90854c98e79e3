import ArgumentParser
import BerthCore
import Foundation

struct QuotaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quota", abstract: "Storage and repository quotas of namespaces.",
        discussion: """
            A push that would take a namespace over its quota is refused with 403 DENIED (quota exceeded). \
            Storage counts each distinct blob linked in the namespace's repositories once, plus manifests. \
            Sizes are bytes, or with a unit: 500MB, 10GiB.
            """,
        subcommands: [Set.self, Show.self, Clear.self])

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set (replace) a namespace's quota.")
        @Argument(help: "Namespace.") var namespace: String
        @Option(help: "Storage limit: bytes, or with a unit (500MB, 10GiB).") var storage: String?
        @Option(help: "Repository limit.") var repositories: Int?
        @OptionGroup var store: StoreOptions

        func run() async throws {
            let quota: NamespaceQuota
            do {
                quota = try NamespaceQuota(storageBytes: try storage.map(ByteSize.parse), repositories: repositories)
            } catch {
                throw ValidationError(error.description)
            }
            try QuotaCommand.validate(namespace)
            try await store.run { try await $0.quotas.setQuota(quota, on: namespace, by: cli.caller(address: nil)) }
            print("\(namespace): \(quota.summary)")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a namespace's quota, or every quota.")
        @Argument(help: "Namespace (default: every quota).") var namespace: String?
        @OptionGroup var store: StoreOptions

        func run() async throws {
            try await store.run { admin in
                if let namespace {
                    try QuotaCommand.validate(namespace)
                    print("\(namespace): " + ((try await admin.quotas.quota(of: namespace))?.summary ?? "no quota"))
                } else {
                    for (namespace, quota) in try await admin.quotas.quotas() { print("\(namespace)\t\(quota.summary)") }
                }
            }
        }
    }

    struct Clear: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a namespace's quota.")
        @Argument(help: "Namespace.") var namespace: String
        @OptionGroup var store: StoreOptions

        func run() async throws {
            try QuotaCommand.validate(namespace)
            try await store.run { try await $0.quotas.setQuota(nil, on: namespace, by: cli.caller(address: nil)) }
            print("\(namespace): quota removed")
        }
    }

    /// Quotas are per namespace: checked before the store is opened.
    static func validate(_ namespace: String) throws {
        guard let name = try? RepositoryName(validating: namespace), name.namespace == namespace else {
            throw ValidationError("invalid namespace name \(namespace.prefix(100)) (quotas are set on namespaces, not repositories)")
        }
    }
}

struct UsageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "usage", abstract: "Storage, images and tags by namespace or repository.",
        discussion: """
            Bytes count each distinct blob linked in a namespace's (or repository's) repositories once, plus \
            manifests; a namespace's bytes are therefore not the sum of its repositories'. Pull times are \
            written every 10 s, so the last pull may be that late.
            """)

    @Argument(help: "Namespace or repository (default: every namespace).") var name: String?
    @Flag(help: "Print JSON (as GET /api/v1/usage).") var json = false
    @OptionGroup var store: StoreOptions

    func run() async throws {
        let name = try self.name.map { text in
            do { return try RepositoryName(validating: text) } catch { throw ValidationError("invalid namespace or repository name \(text.prefix(100))") }
        }
        var unknown = false
        try await store.run { admin in
            if let name {
                guard let report = try await admin.usage.report(name) else { unknown = true; return }
                if json { try Self.printJSON(report) } else { Self.printTable([report] + (report.repositoryUsage ?? [])) }
            } else {
                let reports = try await admin.usage.namespaces()
                if json { try Self.printJSON(reports) } else { Self.printTable(reports) }
            }
        }
        if unknown, let name {
            FileHandle.standardError.write(Data("berth: no repository or quota \(name)\n".utf8))
            throw ExitCode(1)
        }
    }

    static func printJSON(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys, .prettyPrinted]
        encoder.dateEncodingStrategy = .iso8601
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    static func printTable(_ reports: [UsageReports.Report]) {
        let time = ISO8601DateFormatter()
        print(["NAME", "BYTES", "REPOS", "IMAGES", "TAGS", "LAST PUSH", "LAST PULL", "QUOTA"].joined(separator: "\t"))
        for r in reports {
            let quota = r.quota.map { q in
                [q.storageBytes.map { "\(r.bytes)/\($0) bytes" }, q.repositories.map { "\(r.repositories)/\($0) repositories" }]
                    .compactMap { $0 }.joined(separator: ", ")
            } ?? "-"
            print([r.name, String(r.bytes), String(r.repositories), String(r.manifests), String(r.tags),
                   r.lastPush.map(time.string) ?? "-", r.lastPull.map(time.string) ?? "-", quota].joined(separator: "\t"))
        }
    }
}
