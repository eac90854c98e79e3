import BerthCore
import Foundation
import PostgresNIO

/// Usage and quota reads. A namespace's repositories are `name = ns OR name >= lower AND name < upper`
/// (`RepositoryName.range(under:)`, in the "C" collation the name columns use): index range scans on each
/// table's primary key, never a scan of other namespaces. `sum` of BIGINT is NUMERIC here, hence the casts.
extension PostgresMetadataStore: UsageIndex {
    public func storedBytes(inNamespace namespace: String) async throws -> StoredBytes {
        let (lower, upper) = RepositoryName.range(under: namespace)
        // `IN (SELECT …)` takes each digest once however many of the namespace's repositories link it.
        let row = try await query("""
            SELECT (SELECT coalesce(sum(size), 0)::bigint FROM blobs WHERE digest IN (
                        SELECT digest FROM repository_blobs
                        WHERE repository = \(namespace) OR (repository >= \(lower) AND repository < \(upper)))),
                   (SELECT coalesce(sum(size), 0)::bigint FROM manifests
                    WHERE repository = \(namespace) OR (repository >= \(lower) AND repository < \(upper)))
            """).first
        guard let row else { return StoredBytes(blobs: 0, manifests: 0) }
        let (blobs, manifests) = try row.decode((Int64, Int64).self)
        return StoredBytes(blobs: blobs, manifests: manifests)
    }

    public func namespace(_ namespace: String, holds digest: Digest) async throws -> Bool {
        let (lower, upper) = RepositoryName.range(under: namespace)
        return try await query("""
            SELECT EXISTS (SELECT 1 FROM repository_blobs WHERE digest = \(digest.description)
                           AND (repository = \(namespace) OR (repository >= \(lower) AND repository < \(upper))))
            """).first?.decode(Bool.self) ?? false
    }

    public func repositoryCount(inNamespace namespace: String) async throws -> Int {
        let (lower, upper) = RepositoryName.range(under: namespace)
        return try await query("""
            SELECT count(*) FROM repositories WHERE name = \(namespace) OR (name >= \(lower) AND name < \(upper))
            """).first.map { Int(try $0.decode(Int64.self)) } ?? 0
    }

    public func repositoryExists(_ repository: RepositoryName) async throws -> Bool {
        try await !query("SELECT 1 FROM repositories WHERE name = \(repository.value)").isEmpty
    }

    public func repositoryUsage(inNamespace namespace: String, only repository: RepositoryName?) async throws -> [RepositoryUsage] {
        let (lower, upper) = RepositoryName.range(under: namespace)
        let rows = if let repository {
            try await query("\(unescaped: Self.usageColumns) WHERE r.name = \(repository.value)")
        } else {
            try await query("""
                \(unescaped: Self.usageColumns)
                WHERE r.name = \(namespace) OR (r.name >= \(lower) AND r.name < \(upper)) ORDER BY r.name
                """)
        }
        return try rows.map { row in
            let (name, blobBytes, manifestBytes, manifests, tags, lastPush, lastPull) =
                try row.decode((String, Int64, Int64, Int64, Int64, Int64?, Int64?).self)
            return RepositoryUsage(repository: name, blobBytes: blobBytes, manifestBytes: manifestBytes,
                                   manifests: Int(manifests), tags: Int(tags), lastPush: lastPush.map(Self.date),
                                   lastPull: lastPull.map(Self.date))
        }
    }

    /// Each repository's figures, one indexed lookup per table and repository.
    static let usageColumns = """
        SELECT r.name,
               (SELECT coalesce(sum(b.size), 0)::bigint FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
                WHERE rb.repository = r.name),
               m.bytes, m.count,
               (SELECT count(*) FROM tags WHERE repository = r.name),
               m.last_push, m.last_pull
        FROM repositories r,
             LATERAL (SELECT coalesce(sum(size), 0)::bigint AS bytes, count(*) AS count, max(pushed_at) AS last_push,
                             max(last_pulled_at) AS last_pull
                      FROM manifests WHERE repository = r.name) m
        """

    public func namespacesInUse() async throws -> [String] {
        try await query("SELECT DISTINCT split_part(name, '/', 1) AS ns FROM repositories ORDER BY ns")
            .map { try $0.decode(String.self) }
    }
}
