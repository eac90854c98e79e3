import ArgumentParser
import BerthAuth
import BerthServer
import BerthWire
import Foundation

/// Where the installation is: `--root`, or the root of `--config`.
struct StoreOptions: ParsableArguments {
    @Option(help: "Folder holding blobs and metadata (default ./berth-data).")
    var root: String?

    @Option(help: "YAML configuration file whose root (and htpasswd settings) to use.")
    var config: String?

    func open() async throws -> Administration {
        var settings = try config.map(Configuration.load(file:)) ?? Configuration()
        if let root { settings.root = root }
        return try await Administration.open(settings)
    }

    /// Runs an administrative operation, printing access errors plainly with exit status 1.
    func run(_ body: (Administration) async throws -> Void) async throws {
        let admin = try await open()
        do {
            try await body(admin)
            try await admin.finish()
        } catch let error as AccessError {
            try? await admin.finish()
            FileHandle.standardError.write(Data("berth: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

func readPassword() throws -> String {
    guard let line = readLine(strippingNewline: true), !line.isEmpty else {
        throw ValidationError("expected the password on standard input")
    }
    return line
}

let cli = AccessControl.commandLine

struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "Manage users.",
        subcommands: [Add.self, Passwd.self, Remove.self, List.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a user.")
        @Argument var name: String
        @Flag(help: "Read the password from standard input.") var passwordStdin = false
        @Flag(help: "Make the user a global administrator.") var admin = false
        @OptionGroup var store: StoreOptions

        func run() async throws {
            guard passwordStdin else { throw ValidationError("pass the password with --password-stdin") }
            let password = try readPassword()
            try await store.run { try await $0.access.addUser(name, password: password, admin: admin, by: cli, address: nil) }
            print("added user \(name)\(admin ? " (administrator)" : "")")
        }
    }

    struct Passwd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set a user's password.")
        @Argument var name: String
        @Flag(help: "Read the password from standard input.") var passwordStdin = false
        @OptionGroup var store: StoreOptions

        func run() async throws {
            guard passwordStdin else { throw ValidationError("pass the password with --password-stdin") }
            let password = try readPassword()
            try await store.run { try await $0.access.setPassword(name, password: password, by: cli, address: nil) }
            print("password of \(name) set")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a user, their roles and tokens.")
        @Argument var name: String
        @OptionGroup var store: StoreOptions

        func run() async throws {
            try await store.run { try await $0.access.removeUser(name, by: cli, address: nil) }
            print("removed user \(name)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users.")
        @OptionGroup var store: StoreOptions

        func run() async throws {
            try await store.run { admin in
                for user in try admin.access.listUsers(by: cli) {
                    print("\(user.name)\t\(user.admin ? "admin" : "-")\t\(user.source)")
                }
            }
        }
    }
}

struct NamespaceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "namespace", abstract: "Manage namespaces (a repository name's first component).",
        subcommands: [Create.self, List.self, SetVisibility.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a namespace.")
        @Argument var name: String
        @Option(help: "private or public (anyone may pull).") var visibility: String = "private"
        @OptionGroup var store: StoreOptions

        func run() async throws {
            guard let visibility = Visibility(rawValue: visibility) else { throw ValidationError("visibility is private or public") }
            try await store.run { try await $0.access.createNamespace(name, visibility: visibility, by: cli, address: nil) }
            print("created namespace \(name) (\(visibility.rawValue))")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List namespaces and their members.")
        @OptionGroup var store: StoreOptions

        func run() async throws {
            try await store.run { admin in
                for namespace in admin.access.listNamespaces(by: cli) {
                    let members = try admin.access.members(of: namespace.name, by: cli)
                        .map { "\($0.user)=\($0.role.rawValue)" }.joined(separator: ",")
                    print("\(namespace.name)\t\(namespace.visibility.rawValue)\t\(members.isEmpty ? "-" : members)")
                }
            }
        }
    }

    struct SetVisibility: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set-visibility", abstract: "Make a namespace private or public.")
        @Argument var name: String
        @Argument(help: "private or public") var visibility: String
        @OptionGroup var store: StoreOptions

        func run() async throws {
            guard let visibility = Visibility(rawValue: visibility) else { throw ValidationError("visibility is private or public") }
            try await store.run { try await $0.access.setVisibility(name, visibility, by: cli, address: nil) }
            print("namespace \(name) is \(visibility.rawValue)")
        }
    }
}

struct GrantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "grant", abstract: "Give a user a role in a namespace.")
    @Argument var user: String
    @Argument var namespace: String
    @Argument(help: "reader, writer, maintainer or admin") var role: String
    @OptionGroup var store: StoreOptions

    func run() async throws {
        guard let role = Role(rawValue: role) else { throw ValidationError("role is reader, writer, maintainer or admin") }
        try await store.run { try await $0.access.grant(role, to: user, in: namespace, by: cli, address: nil) }
        print("\(user) is \(role.rawValue) in \(namespace)")
    }
}

struct RevokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Take a user's role in a namespace away.")
    @Argument var user: String
    @Argument var namespace: String
    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await store.run { try await $0.access.revoke(user, in: namespace, by: cli, address: nil) }
        print("\(user) has no role in \(namespace)")
    }
}
