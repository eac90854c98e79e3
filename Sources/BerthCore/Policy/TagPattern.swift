/// A tag pattern as ECR writes them: tag characters and `*`, which matches any run of characters
/// (`dev-*`, `*-rc*`, `latest`). Matching is on the whole tag.
public struct TagPattern: Sendable, Hashable, Codable, CustomStringConvertible {
    public let text: String
    private let parts: [Substring]

    public static let maxWildcards = 4

    public init(validating text: String) throws(RegistryError) {
        guard !text.isEmpty, text.utf8.count <= 128,
              text.utf8.allSatisfy({ Tag.isTagByte($0) || $0 == UInt8(ascii: "*") })
        else { throw RegistryError(.manifestInvalid, "invalid tag pattern \(text.prefix(130)): tag characters and * only") }
        let wildcards = text.utf8.count { $0 == UInt8(ascii: "*") }
        guard wildcards <= Self.maxWildcards else {
            throw RegistryError(.manifestInvalid, "tag pattern \(text) has more than \(Self.maxWildcards) wildcards")
        }
        self.text = text
        parts = text.split(separator: "*", omittingEmptySubsequences: false)
    }

    public var description: String { text }

    public func matches(_ tag: String) -> Bool {
        guard parts.count > 1 else { return tag == text }
        var rest = Substring(tag)
        guard rest.hasPrefix(parts[0]) else { return false }
        rest = rest.dropFirst(parts[0].count)
        for middle in parts.dropFirst().dropLast() where !middle.isEmpty {
            guard let found = rest.range(of: middle) else { return false }
            rest = rest[found.upperBound...]
        }
        return rest.hasSuffix(parts[parts.count - 1])
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do {
            try self.init(validating: text)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }
}
