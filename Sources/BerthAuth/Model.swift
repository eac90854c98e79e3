import BerthCore
import Foundation

/// A namespace's visibility: who may pull without a role.
public enum Visibility: String, Sendable, Codable, CaseIterable {
    case `private`, `public`
}

/// A role in a namespace and what it allows there.
public enum Role: String, Sendable, Codable, CaseIterable, Comparable {
    case reader, writer, maintainer, admin

    public var actions: Set<Action> {
        switch self {
        case .reader: [.pull]
        case .writer: [.pull, .push]
        case .maintainer, .admin: [.pull, .push, .delete]
        }
    }

    public static func < (a: Role, b: Role) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// A user of Berth's own store.
public struct UserRecord: Sendable, Equatable {
    public var name: String
    public var passwordHash: String
    public var admin: Bool
    public init(name: String, passwordHash: String, admin: Bool) {
        self.name = name
        self.passwordHash = passwordHash
        self.admin = admin
    }
}

/// An access token for CI and robots: its user's rights, limited to `scopes`, until `expiresAt`.
public struct AccessTokenRecord: Sendable, Equatable, Codable {
    public var id: String
    public var user: String
    public var scopes: [TokenScope]
    public var createdAt: Date
    public var expiresAt: Date
    /// SHA-256 of the secret, hex. Never sent out.
    public var secretHash: String

    public init(id: String, user: String, scopes: [TokenScope], createdAt: Date, expiresAt: Date, secretHash: String) {
        self.id = id
        self.user = user
        self.scopes = scopes
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.secretHash = secretHash
    }
}

/// What an access token may reach: one repository, or every repository of a namespace, with some actions.
public struct TokenScope: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    public enum Kind: String, Sendable, Codable { case repository, namespace }
    public var kind: Kind
    public var name: String
    public var actions: Set<Action>

    public init(kind: Kind, name: String, actions: Set<Action>) {
        self.kind = kind
        self.name = name
        self.actions = actions
    }

    /// `repository:team/app:pull,push` or `namespace:team:pull`; `*` means every action.
    public init(parsing text: String) throws(AccessError) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, let kind = Kind(rawValue: String(parts[0])) else {
            throw .invalid("a token scope is repository:NAME:ACTIONS or namespace:NAME:ACTIONS, got \(text)")
        }
        let name = String(parts[1])
        switch kind {
        case .repository: guard (try? RepositoryName(validating: name)) != nil else { throw .invalid("invalid repository name \(name)") }
        case .namespace: guard Namespaces.isValidName(name) else { throw .invalid("invalid namespace name \(name)") }
        }
        var actions = Set<Action>()
        for word in parts[2].split(separator: ",") {
            if word == "*" {
                actions.formUnion(Action.allCases)
            } else if let action = Action(rawValue: String(word)) {
                actions.insert(action)
            } else {
                throw .invalid("unknown action \(word) (pull, push, delete or *)")
            }
        }
        guard !actions.isEmpty else { throw .invalid("a token scope needs actions, got \(text)") }
        self.init(kind: kind, name: name, actions: actions)
    }

    public var description: String { "\(kind.rawValue):\(name):\(actions.sorted().map(\.rawValue).joined(separator: ","))" }

    /// The actions this scope allows on `repository`.
    func actions(on repository: RepositoryName) -> Set<Action> {
        switch kind {
        case .repository: name == repository.value ? actions : []
        case .namespace: name == Namespaces.of(repository) ? actions : []
        }
    }
}

public enum Namespaces {
    /// A repository's namespace: its first path component.
    public static func of(_ repository: RepositoryName) -> String {
        let value = repository.value
        return value.firstIndex(of: "/").map { String(value[..<$0]) } ?? value
    }

    /// A namespace name is a valid one-component repository name.
    public static func isValidName(_ name: String) -> Bool {
        !name.contains("/") && (try? RepositoryName(validating: name)) != nil
    }
}

/// A user name: 1 to 64 of letters, digits, `.`, `_`, `-`, `@`, starting with a letter or digit.
public enum UserNames {
    public static func isValid(_ name: String) -> Bool {
        guard (1...64).contains(name.utf8.count), let first = name.unicodeScalars.first,
              first.isASCII, first.properties.isAlphabetic || ("0"..."9").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy {
            $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "._-@".unicodeScalars.contains($0))
        }
    }
}

/// Why an access operation was refused. Mapped to HTTP statuses by the API layer only.
public enum AccessError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No or wrong credentials.
    case unauthenticated(String)
    /// Authenticated, but not allowed.
    case denied(String)
    /// Too many failed logins; retry after this many seconds.
    case throttled(retryAfter: Int)
    case invalid(String)
    case notFound(String)
    case conflict(String)

    public var description: String {
        switch self {
        case .unauthenticated(let m), .denied(let m), .invalid(let m), .notFound(let m), .conflict(let m): m
        case .throttled(let seconds): "too many failed logins; retry in \(seconds) s"
        }
    }
}
