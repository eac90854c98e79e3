import BerthCore
import Foundation

/// A request path under `/v2`, recognized from its end so that repository names may hold any number of
/// components (`team/app/api`).
enum RegistryRoute: Equatable {
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
    static func parse(_ path: String) throws(RegistryError) -> RegistryRoute? {
        guard path.hasPrefix("/v2") else { return nil }
        let rest = path.dropFirst(3)
        if rest.isEmpty || rest == "/" { return .base }
        guard rest.first == "/" else { return nil }
        let parts = rest.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
            // Percent-decoding is costly and rare (a client encoding the digest's colon): only when needed.
            $0.contains("%") ? (String($0).removingPercentEncoding ?? String($0)) : String($0)
        }
        if parts == ["_catalog"] { return .catalog }
        let count = parts.count
        func name(dropping n: Int) throws(RegistryError) -> RepositoryName? {
            guard count > n else { return nil }
            return try RepositoryName(validating: parts[..<(count - n)].joined(separator: "/"))
        }
        if count >= 3, parts[count - 2] == "tags", parts[count - 1] == "list" {
            return try name(dropping: 2).map { .tags($0) }
        }
        if count >= 3, parts[count - 2] == "manifests" {
            return try name(dropping: 2).map { .manifest($0, reference: parts[count - 1]) }
        }
        if count >= 4, parts[count - 3] == "blobs", parts[count - 2] == "uploads" {
            let id = parts[count - 1]
            return try name(dropping: 3).map { id.isEmpty ? .uploads($0) : .upload($0, id: id) }
        }
        if count >= 3, parts[count - 2] == "blobs", parts[count - 1] == "uploads" {
            return try name(dropping: 2).map { .uploads($0) }
        }
        if count >= 3, parts[count - 2] == "blobs" {
            return try name(dropping: 2).map { .blob($0, digest: parts[count - 1]) }
        }
        if count >= 3, parts[count - 2] == "referrers" {
            return try name(dropping: 2).map { .referrers($0, digest: parts[count - 1]) }
        }
        return nil
    }
}
