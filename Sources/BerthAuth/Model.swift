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
    /// When it was revoked; revoked tokens stay listed (saying so) until purged.
    public var revokedAt: Date?

    public init(id: String, user: String, scopes: [TokenScope], createdAt: Date, expiresAt: Date, secretHash: String,
                revokedAt: Date? = nil) {
        self.id = id
        self.user = user
        self.scopes = scopes
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.secretHash = secretHash
        self.revokedAt = revokedAt
    }

    /// `active`, `expired` or `revoked`, as listings show it.
    public func state(at now: Date = Date()) -> String {
        revokedAt != nil ? "revoked" : expiresAt <= now ? "expired" : "active"
    }
}

/// What an access token may reach: one repository, or every repository of a namespace, with some actions; or
/// a part of the admin API (`kind == .admin`, `name` its area, no actions; see `AdminScope`).
public struct TokenScope: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    public enum Kind: String, Sendable, Codable { case repository, namespace, admin }
    public var kind: Kind
    public var name: String
    public var actions: Set<Action>

    public init(kind: Kind, name: String, actions: Set<Action>) {
        self.kind = kind
        self.name = name
        self.actions = actions
    }

    public init(_ admin: AdminScope) {
        self.init(kind: .admin, name: admin.area, actions: [])
    }

    /// The admin scope this is, if it is one.
    public var admin: AdminScope? { kind == .admin ? AdminScope(area: name) : nil }

    /// `repository:team/app:pull,push` or `namespace:team:pull`; `*` means every action. Or an admin scope:
    /// `admin:users`, `admin:namespace:team`, ….
    public init(parsing text: String) throws(AccessError) {
        if text.hasPrefix("admin:") {
            guard let admin = AdminScope(area: String(text.dropFirst("admin:".count))) else {
                throw .invalid("unknown admin scope \(text.prefix(100)) (admin:users, admin:tokens, admin:audit, admin:gc, "
                               + "admin:namespaces or admin:namespace:NAME)")
            }
            self.init(admin)
            return
        }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, let kind = Kind(rawValue: String(parts[0])) else {
            throw .invalid("a token scope is repository:NAME:ACTIONS or namespace:NAME:ACTIONS, got \(text)")
        }
        let name = String(parts[1])
        switch kind {
        case .repository: guard (try? RepositoryName(validating: name)) != nil else { throw .invalid("invalid repository name \(name)") }
        case .namespace: guard Namespaces.isValidName(name) else { throw .invalid("invalid namespace name \(name)") }
        case .admin: throw .invalid("an admin scope is admin:AREA, got \(text)")
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

    public var description: String {
        kind == .admin ? "admin:\(name)" : "\(kind.rawValue):\(name):\(actions.sorted().map(\.rawValue).joined(separator: ","))"
    }

    /// The actions this scope allows on `repository`.
    func actions(on repository: RepositoryName) -> Set<Action> {
        switch kind {
        case .repository: name == repository.value ? actions : []
        case .namespace: name == Namespaces.of(repository) ? actions : []
        case .admin: []
        }
    }

    /// Whether holding the scopes `held` allows everything this scope allows (a token minted by a token may
    /// not reach further than its maker).
    public func isCovered(by held: [TokenScope]) -> Bool {
        switch kind {
        case .admin:
            guard let admin else { return false }
            return held.contains { $0.admin?.covers(admin) == true }
        case .repository:
            guard let repository = try? RepositoryName(validating: name) else { return false }
            return actions.isSubset(of: held.reduce(into: Set<Action>()) { $0.formUnion($1.actions(on: repository)) })
        case .namespace:
            return actions.isSubset(of: held.filter { $0.kind == .namespace && $0.name == name }
                .reduce(into: Set<Action>()) { $0.formUnion($1.actions) })
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
