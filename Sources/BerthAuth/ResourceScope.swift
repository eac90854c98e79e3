import BerthCore

/// A scope as the Docker token spec writes it: `resourcetype[(class)]:resourcename:action[,action]*`.
/// The resource name may itself hold colons (`localhost:5000/app`), so the type ends at the first colon and
/// the actions start after the last.
public struct ResourceScope: Sendable, Hashable, Codable, CustomStringConvertible {
    public var type: String
    public var name: String
    public var actions: [String]

    public init(type: String, name: String, actions: [String]) {
        self.type = type
        self.name = name
        self.actions = actions
    }

    public init(parsing text: some StringProtocol) throws(AccessError) {
        guard let first = text.firstIndex(of: ":"), let last = text.lastIndex(of: ":"), first < last else {
            throw .invalid("invalid scope \(text.prefix(200)): want type:name:actions")
        }
        var type = String(text[..<first])
        if let paren = type.firstIndex(of: "("), type.hasSuffix(")") { type = String(type[..<paren]) }
        let name = String(text[text.index(after: first)..<last])
        let actions = String(text[text.index(after: last)...]).split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let word: (Character) -> Bool = { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "*" }
        guard !type.isEmpty, type.allSatisfy({ $0.isLetter || $0.isNumber }), !name.isEmpty,
              actions.allSatisfy({ !$0.isEmpty && $0.allSatisfy(word) }) else {
            throw .invalid("invalid scope \(text.prefix(200))")
        }
        self.init(type: type, name: name, actions: actions)
    }

    public var description: String { "\(type):\(name):\(actions.joined(separator: ","))" }

    /// `repository:<name>:<actions>` for a registry request's challenge.
    public static func repository(_ name: RepositoryName, _ actions: [Action]) -> ResourceScope {
        ResourceScope(type: "repository", name: name.value, actions: actions.map(\.rawValue))
    }

    public static let catalog = ResourceScope(type: "registry", name: "catalog", actions: ["*"])
}
