/// The metadata schema, in versions applied in order and recorded in `schema_migrations`. It holds what the
/// SQLite driver's v1–v4 hold (times are Unix milliseconds there too), with PostgreSQL types, and names,
/// tags and digests in the "C" collation so that listings come in byte order as SQLite's.
enum PostgresSchema {
    static let migrations: [(version: Int, statements: [String])] = [
        (1, version1),
        (2, version2),
        (3, version3),
        (4, version4),
    ]

    /// The instances whose blob caches a link removal waits for, and the removals' fences
    /// (PostgresMetadataStore+Invalidation).
    static let version4 = [
        "CREATE TABLE cache_members (id TEXT PRIMARY KEY, seen BIGINT NOT NULL, lease_until TIMESTAMPTZ NOT NULL)",
        "CREATE SEQUENCE cache_fence",
    ]

    /// Online garbage collection (SQLite's v6): condemned blobs, writers' claims, references by digest.
    static let version3 = [
        "ALTER TABLE blobs ADD COLUMN condemned BOOLEAN NOT NULL DEFAULT false",
        """
        CREATE TABLE blob_claims (
            digest TEXT COLLATE "C" NOT NULL,
            claim TEXT NOT NULL,
            claimed_at BIGINT NOT NULL,
            PRIMARY KEY (digest, claim)
        )
        """,
        "CREATE INDEX manifest_references_by_digest ON manifest_references (reference)",
    ]

    /// Repository policies: one JSON document per kind (immutability, lifecycle, quota) and scope.
    static let version2 = [
        """
        CREATE TABLE policies (
            kind TEXT NOT NULL,
            scope TEXT COLLATE "C" NOT NULL,
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

    static let version1 = [
        """
        CREATE TABLE repositories (
            name TEXT COLLATE "C" PRIMARY KEY,
            created_at BIGINT NOT NULL
        )
        """,
        """
        CREATE TABLE blobs (
            digest TEXT COLLATE "C" PRIMARY KEY,
            size BIGINT NOT NULL,
            created_at BIGINT NOT NULL
        )
        """,
        // Which blobs a repository may serve: pushed to, mounted into or referenced from it.
        """
        CREATE TABLE repository_blobs (
            repository TEXT COLLATE "C" NOT NULL,
            digest TEXT COLLATE "C" NOT NULL,
            linked_at BIGINT NOT NULL,
            linked_by TEXT,
            PRIMARY KEY (repository, digest)
        )
        """,
        // Any repository holding a blob (mount without `from`, garbage collection), by digest alone.
        "CREATE INDEX repository_blobs_by_digest ON repository_blobs (digest)",
        """
        CREATE TABLE manifests (
            repository TEXT COLLATE "C" NOT NULL,
            digest TEXT COLLATE "C" NOT NULL,
            media_type TEXT NOT NULL,
            size BIGINT NOT NULL,
            content BYTEA NOT NULL,
            artifact_type TEXT,
            subject TEXT COLLATE "C",
            annotations TEXT,
            pushed_at BIGINT NOT NULL,
            pushed_by TEXT,
            PRIMARY KEY (repository, digest)
        )
        """,
        "CREATE INDEX manifests_by_subject ON manifests (repository, subject)",
        // Blobs and child manifests each manifest refers to (for garbage collection).
        """
        CREATE TABLE manifest_references (
            repository TEXT COLLATE "C" NOT NULL,
            manifest TEXT COLLATE "C" NOT NULL,
            reference TEXT COLLATE "C" NOT NULL,
            PRIMARY KEY (repository, manifest, reference)
        )
        """,
        """
        CREATE TABLE tags (
            repository TEXT COLLATE "C" NOT NULL,
            name TEXT COLLATE "C" NOT NULL,
            manifest TEXT COLLATE "C" NOT NULL,
            updated_at BIGINT NOT NULL,
            updated_by TEXT,
            PRIMARY KEY (repository, name)
        )
        """,
        "CREATE INDEX tags_by_manifest ON tags (repository, manifest)",
        // Upload sessions shared by every instance: the size is compare-and-set, the segments a JSON array of
        // {start, end, name}, updated_at drives expiry.
        """
        CREATE TABLE uploads (
            id TEXT PRIMARY KEY,
            repository TEXT NOT NULL,
            started_at BIGINT NOT NULL,
            started_by TEXT,
            size BIGINT NOT NULL DEFAULT 0,
            segments JSONB NOT NULL DEFAULT '[]',
            updated_at BIGINT NOT NULL
        )
        """,
        "CREATE INDEX uploads_by_update ON uploads (updated_at)",
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
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
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
        // Every access change bumps this in its transaction, so servers sharing the database reload.
        "CREATE TABLE access_generation (id INTEGER PRIMARY KEY, generation BIGINT NOT NULL)",
        "INSERT INTO access_generation (id, generation) VALUES (1, 1)",
    ]
}
