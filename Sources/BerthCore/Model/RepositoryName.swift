/// A repository name following the distribution-spec grammar:
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`.
/// The grammar admits no `.`-only or empty components, so a name can never address a parent folder.
public struct RepositoryName: Hashable, Sendable, CustomStringConvertible, Comparable {
    public let value: String
    public var description: String { value }

    /// Names longer than this are rejected, as CNCF Distribution does.
    public static let maxLength = 255

    public init(validating string: some StringProtocol) throws(RegistryError) {
        let count = string.utf8.count
        guard count > 0, count <= Self.maxLength, Self.isValid(string.utf8) else {
            throw RegistryError(.nameInvalid, "invalid repository name")
        }
        value = String(string)
    }

    public static func < (lhs: RepositoryName, rhs: RepositoryName) -> Bool { lhs.value < rhs.value }

    private static func isAlnum(_ c: UInt8) -> Bool { (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) }

    /// One pass over the bytes, without allocating: every path component is `[a-z0-9]+` runs joined by
    /// a separator (".", "_", "__" or "-"+) and components are joined by single slashes.
    private enum State { case componentStart, alnum, separator(UInt8, Int) }

    private static func isValid(_ bytes: some Collection<UInt8>) -> Bool {
        var state = State.componentStart
        for c in bytes {
            switch state {
            case .componentStart:
                guard isAlnum(c) else { return false }
                state = .alnum
            case .alnum:
                if isAlnum(c) { continue }
                switch c {
                case UInt8(ascii: "/"): state = .componentStart
                case UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"): state = .separator(c, 1)
                default: return false
                }
            case .separator(let kind, let length):
                if isAlnum(c) {
                    state = .alnum
                } else if c == kind, kind == UInt8(ascii: "-") || (kind == UInt8(ascii: "_") && length == 1) {
                    state = .separator(kind, length + 1)
                } else {
                    return false
                }
            }
        }
        if case .alnum = state { return true }
        return false
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
        return bytes.dropFirst().allSatisfy(isTagByte)
    }

    /// A byte a tag may hold after its first.
    static func isTagByte(_ c: UInt8) -> Bool {
        (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: "_")
            || c == UInt8(ascii: ".") || c == UInt8(ascii: "-")
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

    public var isDigest: Bool {
        if case .digest = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .tag(let t): t
        case .digest(let d): d.description
        }
    }
}
