import GRDB

/// The metadata schema. Plain SQL that SQLite and PostgreSQL both accept, so a PostgreSQL driver can share it.
enum Schema {
    static let version1 = [
        """
        CREATE TABLE repositories (
            name TEXT PRIMARY KEY,
            created_at BIGINT NOT NULL
        )
        """,
        """
        CREATE TABLE blobs (
            digest TEXT PRIMARY KEY,
            size BIGINT NOT NULL,
            created_at BIGINT NOT NULL
        )
        """,
        // Which blobs a repository may serve: pushed to, mounted into or referenced from it.
        """
        CREATE TABLE repository_blobs (
            repository TEXT NOT NULL,
            digest TEXT NOT NULL,
            linked_at BIGINT NOT NULL,
            PRIMARY KEY (repository, digest)
        )
        """,
        """
        CREATE TABLE manifests (
            repository TEXT NOT NULL,
            digest TEXT NOT NULL,
            media_type TEXT NOT NULL,
            size BIGINT NOT NULL,
            content BYTEA NOT NULL,
            artifact_type TEXT,
            subject TEXT,
            annotations TEXT,
            pushed_at BIGINT NOT NULL,
            PRIMARY KEY (repository, digest)
        )
        """,
        "CREATE INDEX manifests_by_subject ON manifests (repository, subject)",
        // Blobs and child manifests each manifest refers to (for validation history and garbage collection).
        """
        CREATE TABLE manifest_references (
            repository TEXT NOT NULL,
            manifest TEXT NOT NULL,
            reference TEXT NOT NULL,
            PRIMARY KEY (repository, manifest, reference)
        )
        """,
        """
        CREATE TABLE tags (
            repository TEXT NOT NULL,
            name TEXT NOT NULL,
            manifest TEXT NOT NULL,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (repository, name)
        )
        """,
        "CREATE INDEX tags_by_manifest ON tags (repository, manifest)",
        """
        CREATE TABLE uploads (
            id TEXT PRIMARY KEY,
            repository TEXT NOT NULL,
            started_at BIGINT NOT NULL
        )
        """,
    ]

    /// Finding any repository that holds a blob (mount without `from`, garbage collection) by digest alone.
    static let version2 = [
        "CREATE INDEX repository_blobs_by_digest ON repository_blobs (digest)",
    ]

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            for statement in version1 { try db.execute(sql: statement) }
        }
        migrator.registerMigration("v2") { db in
            for statement in version2 { try db.execute(sql: statement) }
        }
        return migrator
    }
}
