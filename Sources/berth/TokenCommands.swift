import ArgumentParser
import BerthAuth
import BerthServer
import BerthWire
import Foundation

struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Manage access tokens for CI and robots.",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an access token; prints its id and the token.")
        @Option(help: "The user whose rights the token carries.") var user: String
        @Option(help: "repository:NAME:ACTIONS or namespace:NAME:ACTIONS (repeatable).") var scope: [String]
        @Option(help: "Lifetime, e.g. 12h, 30d (default 12h).") var expires: String = "12h"
        @OptionGroup var store: StoreOptions

        func run() async throws {
            let lifetime: Duration
            do { lifetime = try Durations.parse(expires, "--expires") } catch { throw ValidationError(error.description) }
            try await store.run { admin in
                let scopes = try scope.map { text throws(AccessError) in try TokenScope(parsing: text) }
                let issued = try await admin.access.createAccessToken(for: user, scopes: scopes, expiresIn: lifetime,
                                                                      by: cli, address: nil)
                print("id: \(issued.record.id)")
                print("token: \(issued.token)")
                print("expires: \(ISO8601DateFormatter().string(from: issued.record.expiresAt))")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List access tokens (never their secrets).")
        @Option(help: "Only this user's tokens.") var user: String?
        @OptionGroup var store: StoreOptions

        func run() async throws {
            try await store.run { admin in
                let live = admin.access.view.data.tokens
                for token in try await admin.access.accessTokens(of: user, by: cli) {
                    let state = live[token.id] != nil ? "live" : (token.expiresAt <= Date() ? "expired" : "revoked")
                    print("\(token.id)\t\(token.user)\t\(state)\t\(ISO8601DateFormatter().string(from: token.expiresAt))\t"
                          + token.scopes.map(\.description).joined(separator: " "))
                }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an access token at once.")
        @Argument var id: String
        @OptionGroup var store: StoreOptions

        func run() async throws {
            try await store.run { try await $0.access.revokeAccessToken(id, by: cli, address: nil) }
            print("revoked \(id)")
        }
    }
}

struct KeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key", abstract: "Manage the token service's signing keys.", subcommands: [Rotate.self])

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a new signing key; running servers sign with it within a second, older keys keep verifying.")
        @OptionGroup var store: StoreOptions

        func run() async throws {
            let admin = try await store.open()
            print("new signing key \(try admin.rotateKey())")
        }
    }
}

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "audit", abstract: "Show the newest audit records.")
    @Option(help: "How many (1 to 1000).") var limit = 50
    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await store.run { admin in
            let formatter = ISO8601DateFormatter()
            for event in try await admin.access.auditEvents(limit: limit, before: nil, by: cli).reversed() {
                print([formatter.string(from: event.at), event.actor, event.tokenID ?? "-", event.action, event.target,
                       event.address ?? "-", event.outcome, event.detail ?? ""].joined(separator: "\t"))
            }
        }
    }
}
