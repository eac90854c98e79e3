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

    /// Who made each write, and access control: users, namespaces and their members, access and refresh
    /// tokens (hashes only), the audit log, and a counter every access change bumps so servers reload.
    static let version3 = [
        "ALTER TABLE manifests ADD COLUMN pushed_by TEXT",
        "ALTER TABLE tags ADD COLUMN updated_by TEXT",
        "ALTER TABLE repository_blobs ADD COLUMN linked_by TEXT",
        "ALTER TABLE uploads ADD COLUMN started_by TEXT",
        """
        CREATE TABLE users (
            name TEXT PRIMARY KEY,
            password_hash TEXT NOT NULL,
            admin BOOLEAN NOT NULL,
            created_at BIGINT NOT NULL
        )
        """,
        """
        CREATE TABLE namespaces (
            name TEXT PRIMARY KEY,
            visibility TEXT NOT NULL,
            created_at BIGINT NOT NULL
        )
        """,
        """
        CREATE TABLE members (
            namespace TEXT NOT NULL,
            user_name TEXT NOT NULL,
            role TEXT NOT NULL,
            PRIMARY KEY (namespace, user_name)
        )
        """,
        """
        CREATE TABLE access_tokens (
            id TEXT PRIMARY KEY,
            user_name TEXT NOT NULL,
            secret_hash TEXT NOT NULL,
            scopes TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL,
            revoked_at BIGINT
        )
        """,
        """
        CREATE TABLE refresh_tokens (
            id TEXT PRIMARY KEY,
            user_name TEXT NOT NULL,
            secret_hash TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL
        )
        """,
        """
        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            at BIGINT NOT NULL,
            actor TEXT NOT NULL,
            token_id TEXT,
            action TEXT NOT NULL,
            target TEXT NOT NULL,
            address TEXT,
            outcome TEXT NOT NULL,
            detail TEXT
        )
        """,
        "CREATE INDEX audit_log_by_time ON audit_log (at, id)",
        "CREATE TABLE access_generation (id INTEGER PRIMARY KEY, generation BIGINT NOT NULL)",
        "INSERT INTO access_generation (id, generation) VALUES (1, 1)",
    ]

    /// Upload sessions shared by several instances: their size and staged segments live here (the offset is
    /// compare-and-set), and when they last moved, for expiry.
    static let version4 = [
        "ALTER TABLE uploads ADD COLUMN size BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE uploads ADD COLUMN segments TEXT NOT NULL DEFAULT '[]'",
        "ALTER TABLE uploads ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0",
        "UPDATE uploads SET updated_at = started_at",
    ]

    /// Repository policies: one JSON document per kind (immutability, lifecycle, quota) and scope.
    static let version5 = [
        """
        CREATE TABLE policies (
            kind TEXT NOT NULL,
            scope TEXT NOT NULL,
            document TEXT NOT NULL,
            updated_at BIGINT NOT NULL,
            updated_by TEXT,
            PRIMARY KEY (kind, scope)
        )
        """,
        // Which manifests list a manifest (lifecycle rules, garbage collection).
        "CREATE INDEX manifest_references_by_reference ON manifest_references (repository, reference)",
        // When each manifest was last pulled (recorded in batches), for lifecycle rules and usage.
        "ALTER TABLE manifests ADD COLUMN last_pulled_at BIGINT",
    ]

    /// Online garbage collection: a blob condemned by a collector (its bytes are going; nothing may link or
    /// reuse it), writers' claims on digests they are storing, and finding any manifest that references a
    /// blob by its digest alone.
    static let version6 = [
        "ALTER TABLE blobs ADD COLUMN condemned BOOLEAN NOT NULL DEFAULT 0",
        """
        CREATE TABLE blob_claims (
            digest TEXT NOT NULL,
            claim TEXT NOT NULL,
            claimed_at BIGINT NOT NULL,
            PRIMARY KEY (digest, claim)
        )
        """,
        "CREATE INDEX manifest_references_by_digest ON manifest_references (reference)",
    ]

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            for statement in version1 { try db.execute(sql: statement) }
        }
        migrator.registerMigration("v2") { db in
            for statement in version2 { try db.execute(sql: statement) }
        }
        migrator.registerMigration("v3") { db in
            for statement in version3 { try db.execute(sql: statement) }
        }
        migrator.registerMigration("v4") { db in
            for statement in version4 { try db.execute(sql: statement) }
        }
        migrator.registerMigration("v5") { db in
            for statement in version5 { try db.execute(sql: statement) }
        }
        migrator.registerMigration("v6") { db in
            for statement in version6 { try db.execute(sql: statement) }
        }
        return migrator
    }
}
