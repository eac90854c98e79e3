/// Who a request comes from, as the registry records it: every write names its caller.
public struct Caller: Sendable, Hashable {
    /// The user, or nil for an anonymous caller.
    public var user: String?
    /// The access token the caller authenticated with, if any.
    public var tokenID: String?
    /// The client's address.
    public var address: String?

    public init(user: String?, tokenID: String? = nil, address: String? = nil) {
        self.user = user
        self.tokenID = tokenID
        self.address = address
    }

    public static let anonymous = Caller(user: nil)

    /// The name written into records and the audit log.
    public var name: String { user ?? "anonymous" }
}

/// What a caller wants to do with a repository.
public enum Action: String, Sendable, Hashable, CaseIterable, Codable, Comparable {
    case pull, push, delete

    public static func < (a: Action, b: Action) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}
