import BerthCore
import Foundation
import GRDB

extension SQLiteMetadataStore: MetadataExport {
    public func exportBlobs(after last: Digest?, limit: Int) async throws -> [StoredBlob] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT digest, size FROM blobs WHERE digest > ? ORDER BY digest LIMIT ?",
                             arguments: [last?.description ?? "", limit])
                .map { StoredBlob(digest: try Digest(parsing: $0["digest"] as String), size: $0["size"]) }
        }
    }

    public func exportBlobLinks(after last: ExportKey?, limit: Int) async throws -> [BlobLink] {
        try read { db in
            try Row.fetchAll(db, sql: """
                SELECT r.repository, r.digest, b.size, r.linked_by FROM repository_blobs r JOIN blobs b ON b.digest = r.digest
                WHERE (r.repository, r.digest) > (?, ?) ORDER BY r.repository, r.digest LIMIT ?
                """, arguments: [last?.repository ?? "", last?.digest ?? "", limit])
                .map { row in
                    BlobLink(repository: try RepositoryName(validating: row["repository"] as String),
                             digest: try Digest(parsing: row["digest"] as String), size: row["size"],
                             linkedBy: row["linked_by"] ?? "anonymous")
                }
        }
    }

    public func exportPolicies() async throws -> [ExportedPolicy] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT kind, scope, document, updated_by FROM policies ORDER BY kind, scope").map {
                ExportedPolicy(kind: $0["kind"], scope: $0["scope"], document: Data(($0["document"] as String).utf8),
                               updatedBy: $0["updated_by"] ?? "anonymous")
            }
        }
    }

    public func exportManifests(after last: ExportKey?, limit: Int) async throws -> [ExportedManifest] {
        try read { db in
            try Row.fetchAll(db, sql: """
                SELECT m.repository, m.digest, m.media_type, m.content, m.pushed_at, m.pushed_by,
                       (SELECT group_concat(t.name, ' ') FROM tags t
                        WHERE t.repository = m.repository AND t.manifest = m.digest) AS tags
                FROM manifests m WHERE (m.repository, m.digest) > (?, ?) ORDER BY m.repository, m.digest LIMIT ?
                """, arguments: [last?.repository ?? "", last?.digest ?? "", limit])
                .map { row in
                    let record = ManifestRecord(
                        repository: try RepositoryName(validating: row["repository"] as String),
                        digest: try Digest(parsing: row["digest"] as String), mediaType: row["media_type"],
                        content: row["content"], artifactType: nil, subject: nil, annotations: nil, blobs: [],
                        children: [], pushedAt: Self.date(row["pushed_at"]), pushedBy: row["pushed_by"] ?? "anonymous")
                    return ExportedManifest(record: record, tags: Self.tagList(row["tags"]))
                }
        }
    }
}
