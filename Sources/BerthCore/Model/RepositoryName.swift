/// A repository name following the distribution-spec grammar:
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`.
/// The grammar admits no `.`-only or empty components, so a name can never address a parent folder.
public struct RepositoryName: Hashable, Sendable, CustomStringConvertible, Comparable {
    public let value: String
    public var description: String { value }

    /// Names longer than this are rejected, as CNCF Distribution does.
    public static let maxLength = 255

    public init(validating string: some StringProtocol) throws(RegistryError) {
        let bytes = Array(string.utf8)
        guard !bytes.isEmpty, bytes.count <= Self.maxLength, Self.isValid(bytes) else {
            throw RegistryError(.nameInvalid, "invalid repository name")
        }
        value = String(string)
    }

    public static func < (lhs: RepositoryName, rhs: RepositoryName) -> Bool { lhs.value < rhs.value }

    private static func isAlnum(_ c: UInt8) -> Bool { (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) }

    private static func isValid(_ bytes: [UInt8]) -> Bool {
        for component in bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
            guard isValidComponent(Array(component)) else { return false }
        }
        return true
    }

    /// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
    private static func isValidComponent(_ c: [UInt8]) -> Bool {
        guard let first = c.first, let last = c.last, isAlnum(first), isAlnum(last) else { return false }
        var i = 0
        while i < c.count {
            if isAlnum(c[i]) { i += 1; continue }
            // A separator run: ".", "_", "__" or one or more "-".
            let start = i
            switch c[i] {
            case UInt8(ascii: "."):
                i += 1
            case UInt8(ascii: "_"):
                i += 1
                if i < c.count, c[i] == UInt8(ascii: "_") { i += 1 }
            case UInt8(ascii: "-"):
                while i < c.count, c[i] == UInt8(ascii: "-") { i += 1 }
            default:
                return false
            }
            guard i > start, i < c.count, isAlnum(c[i]) else { return false }
        }
        return true
    }
}

/// A tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
public enum Tag {
    public static func isValid(_ s: some StringProtocol) -> Bool {
        let bytes = Array(s.utf8)
        guard let first = bytes.first, bytes.count <= 128 else { return false }
        func word(_ c: UInt8) -> Bool {
            (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: "_")
        }
        guard word(first) else { return false }
        return bytes.dropFirst().allSatisfy { word($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }
}

/// How a manifest is addressed in a URL: by tag or by digest.
public enum ManifestReference: Sendable, Hashable, CustomStringConvertible {
    case tag(String)
    case digest(Digest)

    public init(parsing s: some StringProtocol) throws(RegistryError) {
        if Digest.looksLikeDigest(s) {
            self = .digest(try Digest(parsing: s))
        } else if Tag.isValid(s) {
            self = .tag(String(s))
        } else {
            throw RegistryError(.manifestInvalid, "invalid tag or digest reference")
        }
    }

    public var description: String {
        switch self {
        case .tag(let t): t
        case .digest(let d): d.description
        }
    }
}
