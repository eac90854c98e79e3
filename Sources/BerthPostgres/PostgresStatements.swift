import PostgresNIO

/// The reads every pull makes, as named prepared statements: each connection parses and plans them once,
/// instead of once per request (the unnamed statements of `query`), which cost a third of a HEAD's CPU.
enum PostgresStatements {
    struct BlobSize: PostgresPreparedStatement {
        static let name = "berth_blob_size"
        static let sql = """
            SELECT b.size FROM repository_blobs r JOIN blobs b ON b.digest = r.digest
            WHERE r.repository = $1 AND r.digest = $2
            """
        typealias Row = Int64
        var repository: String
        var digest: String

        func makeBindings() throws -> PostgresBindings { try bindings(repository, digest) }
        func decodeRow(_ row: PostgresRow) throws -> Int64 { try row.decode(Int64.self) }
    }

    /// A stored manifest's columns, as `manifest(_:in:)` decodes them.
    typealias ManifestColumns = (String, String, ByteBuffer, String?, String?, Int64, String?)

    struct ManifestByDigest: PostgresPreparedStatement {
        static let name = "berth_manifest_by_digest"
        static let sql = """
            SELECT digest, media_type, content, artifact_type, subject, pushed_at, pushed_by FROM manifests
            WHERE repository = $1 AND digest = $2
            """
        typealias Row = ManifestColumns
        var repository: String
        var digest: String

        func makeBindings() throws -> PostgresBindings { try bindings(repository, digest) }
        func decodeRow(_ row: PostgresRow) throws -> ManifestColumns { try row.decode(ManifestColumns.self) }
    }

    struct ManifestByTag: PostgresPreparedStatement {
        static let name = "berth_manifest_by_tag"
        static let sql = """
            SELECT m.digest, m.media_type, m.content, m.artifact_type, m.subject, m.pushed_at, m.pushed_by
            FROM tags t JOIN manifests m ON m.repository = t.repository AND m.digest = t.manifest
            WHERE t.repository = $1 AND t.name = $2
            """
        typealias Row = ManifestColumns
        var repository: String
        var tag: String

        func makeBindings() throws -> PostgresBindings { try bindings(repository, tag) }
        func decodeRow(_ row: PostgresRow) throws -> ManifestColumns { try row.decode(ManifestColumns.self) }
    }

}

extension PostgresPreparedStatement {
    func bindings(_ values: String...) throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: values.count)
        for value in values { try bindings.append(value) }
        return bindings
    }
}
