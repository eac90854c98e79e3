import BerthCore
import Foundation
import GRDB

/// Usage and quota reads. A namespace's repositories are `name = :ns OR name >= :lower AND name < :upper`
/// (`RepositoryName.range(under:)`): two seeks on each table's primary key, never a scan of other namespaces.
extension SQLiteMetadataStore: UsageIndex {
    public func storedBytes(inNamespace namespace: String) async throws -> StoredBytes {
        try read { db in
            // `IN (SELECT …)` takes each digest once however many of the namespace's repositories link it.
            let row = try Row.fetchOne(db.cachedStatement(sql: """
                SELECT (SELECT coalesce(sum(size), 0) FROM blobs WHERE digest IN (
                            SELECT digest FROM repository_blobs
                            WHERE repository = :ns OR (repository >= :lower AND repository < :upper))) AS blobs,
                       (SELECT coalesce(sum(size), 0) FROM manifests
                        WHERE repository = :ns OR (repository >= :lower AND repository < :upper)) AS manifests
                """), arguments: Self.namespaceArguments(namespace))
            return StoredBytes(blobs: row?["blobs"] ?? 0, manifests: row?["manifests"] ?? 0)
        }
    }

    public func namespace(_ namespace: String, holds digest: Digest) async throws -> Bool {
        var arguments = Self.namespaceArguments(namespace)
        arguments += ["digest": digest.description]
        return try read { db in
            try Bool.fetchOne(db.cachedStatement(sql: """
                SELECT EXISTS (SELECT 1 FROM repository_blobs WHERE digest = :digest
                               AND (repository = :ns OR (repository >= :lower AND repository < :upper)))
                """), arguments: arguments) ?? false
        }
    }

    public func repositoryCount(inNamespace namespace: String) async throws -> Int {
        try read { db in
            try Int.fetchOne(db.cachedStatement(sql: """
                SELECT count(*) FROM repositories WHERE name = :ns OR (name >= :lower AND name < :upper)
                """), arguments: Self.namespaceArguments(namespace)) ?? 0
        }
    }

    public func repositoryExists(_ repository: RepositoryName) async throws -> Bool {
        try read { db in
            try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM repositories WHERE name = ?"),
                              arguments: [repository.value]) ?? false
        }
    }

    public func repositoryUsage(inNamespace namespace: String, only repository: RepositoryName?) async throws -> [RepositoryUsage] {
        let filter = repository == nil ? "r.name = :ns OR (r.name >= :lower AND r.name < :upper)" : "r.name = :only"
        var arguments = Self.namespaceArguments(namespace)
        arguments += ["only": repository?.value]
        return try read { db in
            try Row.fetchAll(db.cachedStatement(sql: """
                SELECT r.name,
                       (SELECT coalesce(sum(b.size), 0) FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
                        WHERE rb.repository = r.name) AS blob_bytes,
                       (SELECT coalesce(sum(size), 0) FROM manifests WHERE repository = r.name) AS manifest_bytes,
                       (SELECT count(*) FROM manifests WHERE repository = r.name) AS manifests,
                       (SELECT count(*) FROM tags WHERE repository = r.name) AS tags,
                       (SELECT max(pushed_at) FROM manifests WHERE repository = r.name) AS last_push,
                       (SELECT max(last_pulled_at) FROM manifests WHERE repository = r.name) AS last_pull
                FROM repositories r WHERE \(filter) ORDER BY r.name
                """), arguments: arguments).map { row in
                RepositoryUsage(repository: row["name"], blobBytes: row["blob_bytes"], manifestBytes: row["manifest_bytes"],
                                manifests: row["manifests"], tags: row["tags"],
                                lastPush: (row["last_push"] as Int64?).map(Self.date),
                                lastPull: (row["last_pull"] as Int64?).map(Self.date))
            }
        }
    }

    public func namespacesInUse() async throws -> [String] {
        try read { db in
            try String.fetchAll(db, sql: """
                SELECT DISTINCT CASE WHEN instr(name, '/') > 0 THEN substr(name, 1, instr(name, '/') - 1) ELSE name END AS ns
                FROM repositories ORDER BY ns
                """)
        }
    }

    static func namespaceArguments(_ namespace: String) -> StatementArguments {
        let range = RepositoryName.range(under: namespace)
        return ["ns": namespace, "lower": range.lower, "upper": range.upper]
    }
}
