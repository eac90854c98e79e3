import BerthCore
import Foundation

/// A request path under `/v2`, recognized from its end so that repository names may hold any number of
/// components (`team/app/api`).
public enum RegistryRoute: Equatable, Sendable {
    case base
    case catalog
    case tags(RepositoryName)
    case manifest(RepositoryName, reference: String)
    case blob(RepositoryName, digest: String)
    case uploads(RepositoryName)
    case upload(RepositoryName, id: String)
    case referrers(RepositoryName, digest: String)

    /// Parses a path (already known to start with `/v2`). Returns nil for paths no route has;
    /// throws `NAME_INVALID` when the route is known but the repository name is not valid.
    /// It looks only at the last two or three components, so it does not allocate per component.
    public static func parse(_ path: String) throws(RegistryError) -> RegistryRoute? {
        guard path.hasPrefix("/v2") else { return nil }
        let rest = Substring(path).dropFirst(3)
        if rest.isEmpty || rest == "/" { return .base }
        guard rest.first == "/" else { return nil }
        let full = rest.dropFirst()
        if full == "_catalog" { return .catalog }
        guard let (head, last) = splitLast(full), let (name, keyword) = splitLast(head) else { return nil }
        func repository(_ s: Substring) throws(RegistryError) -> RepositoryName { try RepositoryName(validating: s) }
        switch keyword {
        case "tags" where last == "list":
            return .tags(try repository(name))
        case "manifests":
            return .manifest(try repository(name), reference: decoded(last))
        case "blobs":
            return last == "uploads" ? .uploads(try repository(name)) : .blob(try repository(name), digest: decoded(last))
        case "referrers":
            return .referrers(try repository(name), digest: decoded(last))
        case "uploads":
            guard let (owner, blobs) = splitLast(name), blobs == "blobs" else { return nil }
            return last.isEmpty ? .uploads(try repository(owner)) : .upload(try repository(owner), id: decoded(last))
        default:
            return nil
        }
    }

    /// Splits at the last slash, on UTF-8 bytes (no grapheme breaking: paths are ASCII where it matters).
    private static func splitLast(_ s: Substring) -> (Substring, Substring)? {
        guard let slash = s.utf8.lastIndex(of: UInt8(ascii: "/")) else { return nil }
        return (s[..<slash], s[s.utf8.index(after: slash)...])
    }

    /// Percent-decoding is rare (a client encoding a digest's colon) and costly: only when needed.
    private static func decoded(_ s: Substring) -> String {
        s.utf8.contains(UInt8(ascii: "%")) ? (String(s).removingPercentEncoding ?? String(s)) : String(s)
    }
}
