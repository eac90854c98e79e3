import BerthAuth
import BerthCore
import Foundation
import PostgresNIO

extension PostgresMetadataStore: AccessStore {
    public func accessGeneration() async throws -> Int64 {
        try await query("SELECT generation FROM access_generation WHERE id = 1").first?.decode(Int64.self) ?? 0
    }

    /// One REPEATABLE READ snapshot, so the generation matches the data read with it.
    public func loadAccess() async throws -> AccessData {
        try await transaction("ISOLATION LEVEL REPEATABLE READ, READ ONLY") { connection in
            var users: [String: UserRecord] = [:]
            for row in try await connection.rows("SELECT name, password_hash, admin FROM users", self.logger) {
                let (name, hash, admin) = try row.decode((String, String, Bool).self)
                users[name] = UserRecord(name: name, passwordHash: hash, admin: admin)
            }
            var namespaces: [String: Visibility] = [:]
            for row in try await connection.rows("SELECT name, visibility FROM namespaces", self.logger) {
                let (name, visibility) = try row.decode((String, String).self)
                namespaces[name] = Visibility(rawValue: visibility) ?? .private
            }
            var members: [String: [String: Role]] = [:]
            for row in try await connection.rows("SELECT namespace, user_name, role FROM members", self.logger) {
                let (namespace, user, role) = try row.decode((String, String, String).self)
                if let role = Role(rawValue: role) { members[namespace, default: [:]][user] = role }
            }
            var tokens: [String: AccessTokenRecord] = [:]
            for token in try await self.tokens(connection, where: "revoked_at IS NULL AND expires_at > \(Self.now())") {
                tokens[token.id] = token
            }
            let generation = try await connection.rows("SELECT generation FROM access_generation WHERE id = 1", self.logger)
                .first?.decode(Int64.self) ?? 0
            return AccessData(generation: generation, users: users, namespaces: namespaces, members: members, tokens: tokens)
        }
    }

    /// A write to access data, bumping the generation in the same transaction (as SQLite does, even when the
    /// write changed nothing).
    private func change<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await transaction { connection in
            let result = try await body(connection)
            try await connection.query("UPDATE access_generation SET generation = generation + 1 WHERE id = 1",
                                       logger: self.logger)
            return result
        }
    }

    public func addUser(_ user: UserRecord) async throws -> Bool {
        try await change { connection in
            try await !connection.rows("""
                INSERT INTO users (name, password_hash, admin, created_at)
                VALUES (\(user.name), \(user.passwordHash), \(user.admin), \(Self.now()))
                ON CONFLICT (name) DO NOTHING RETURNING 1
                """, self.logger).isEmpty
        }
    }

    public func setPassword(_ user: String, hash: String) async throws -> Bool {
        try await change { connection in
            let updated = try await connection.rows("UPDATE users SET password_hash = \(hash) WHERE name = \(user) RETURNING 1",
                                                    self.logger)
            guard !updated.isEmpty else { return false }
            try await connection.query("DELETE FROM refresh_tokens WHERE user_name = \(user)", logger: self.logger)
            return true
        }
    }

    public func removeUser(_ user: String) async throws -> Bool {
        try await change { connection in
            let deleted = try await connection.rows("DELETE FROM users WHERE name = \(user) RETURNING 1", self.logger)
            guard !deleted.isEmpty else { return false }
            try await connection.query("DELETE FROM members WHERE user_name = \(user)", logger: self.logger)
            try await connection.query("""
                UPDATE access_tokens SET revoked_at = \(Self.now()) WHERE user_name = \(user) AND revoked_at IS NULL
                """, logger: self.logger)
            try await connection.query("DELETE FROM refresh_tokens WHERE user_name = \(user)", logger: self.logger)
            return true
        }
    }

    public func addNamespace(_ name: String, visibility: Visibility) async throws -> Bool {
        try await change { connection in
            try await !connection.rows("""
                INSERT INTO namespaces (name, visibility, created_at) VALUES (\(name), \(visibility.rawValue), \(Self.now()))
                ON CONFLICT (name) DO NOTHING RETURNING 1
                """, self.logger).isEmpty
        }
    }

    public func setVisibility(_ name: String, _ visibility: Visibility) async throws -> Bool {
        try await change { connection in
            try await !connection.rows("""
                UPDATE namespaces SET visibility = \(visibility.rawValue) WHERE name = \(name) RETURNING 1
                """, self.logger).isEmpty
        }
    }

    public func setRole(_ role: Role?, of user: String, in namespace: String) async throws -> Bool {
        try await change { connection in
            if let role {
                return try await !connection.rows("""
                    INSERT INTO members (namespace, user_name, role) VALUES (\(namespace), \(user), \(role.rawValue))
                    ON CONFLICT (namespace, user_name) DO UPDATE SET role = excluded.role RETURNING 1
                    """, self.logger).isEmpty
            }
            return try await !connection.rows("""
                DELETE FROM members WHERE namespace = \(namespace) AND user_name = \(user) RETURNING 1
                """, self.logger).isEmpty
        }
    }

    public func addAccessToken(_ token: AccessTokenRecord) async throws {
        let scopes = String(decoding: try Self.sortedJSON.encode(token.scopes.map(\.description)), as: UTF8.self)
        try await change { connection in
            _ = try await connection.query("""
                INSERT INTO access_tokens (id, user_name, secret_hash, scopes, created_at, expires_at)
                VALUES (\(token.id), \(token.user), \(token.secretHash), \(scopes), \(Self.millis(token.createdAt)),
                        \(Self.millis(token.expiresAt)))
                """, logger: self.logger)
        }
    }

    public func accessTokens(of user: String?) async throws -> [AccessTokenRecord] {
        try await client.withConnection { connection in
            try await self.tokens(connection, where: "(\(user)::text IS NULL OR user_name = \(user))")
        }
    }

    public func revokeAccessToken(_ id: String) async throws -> Bool {
        try await change { connection in
            try await !connection.rows("""
                UPDATE access_tokens SET revoked_at = \(Self.now()) WHERE id = \(id) AND revoked_at IS NULL RETURNING 1
                """, self.logger).isEmpty
        }
    }

    public func addRefreshToken(_ token: RefreshTokenRecord) async throws {
        try await query("""
            INSERT INTO refresh_tokens (id, user_name, secret_hash, created_at, expires_at)
            VALUES (\(token.id), \(token.user), \(token.secretHash), \(Self.now()), \(Self.millis(token.expiresAt)))
            """)
    }

    public func refreshToken(_ id: String) async throws -> RefreshTokenRecord? {
        try await query("SELECT id, user_name, secret_hash, expires_at FROM refresh_tokens WHERE id = \(id)").first.map {
            let (id, user, hash, expiresAt) = try $0.decode((String, String, String, Int64).self)
            return RefreshTokenRecord(id: id, user: user, secretHash: hash, expiresAt: Self.date(expiresAt))
        }
    }

    public func appendAudit(_ events: [AuditEvent]) async throws {
        guard !events.isEmpty else { return }
        try await transaction { connection in
            for event in events {
                try await connection.query("""
                    INSERT INTO audit_log (at, actor, token_id, action, target, address, outcome, detail)
                    VALUES (\(Self.millis(event.at)), \(event.actor), \(event.tokenID), \(event.action), \(event.target),
                            \(event.address), \(event.outcome), \(event.detail))
                    """, logger: self.logger)
            }
        }
    }

    /// Newest first by time: a server stores its records in batches, so ids need not follow time. An unknown
    /// `before` id reads from the newest, as the SQLite driver does.
    public func auditEvents(limit: Int, before: Int64?) async throws -> [AuditEvent] {
        try await query("""
            SELECT id, at, actor, token_id, action, target, address, outcome, detail FROM audit_log
            WHERE (at, id) < (SELECT at, id FROM (
                                  SELECT at, id, 0 AS o FROM audit_log WHERE id = \(before ?? -1)
                                  UNION ALL SELECT \(Int64.max), \(Int64.max), 1) b ORDER BY o LIMIT 1)
            ORDER BY at DESC, id DESC LIMIT \(limit)
            """).map { row in
            let (id, at, actor, tokenID, action, target, address, outcome, detail) =
                try row.decode((Int64, Int64, String, String?, String, String, String?, String, String?).self)
            return AuditEvent(id: id, at: Self.date(at), actor: actor, tokenID: tokenID, action: action, target: target,
                              address: address, outcome: outcome, detail: detail)
        }
    }

    /// `condition` is an interpolated query fragment; the rest of the statement is fixed.
    private func tokens(_ connection: PostgresConnection, where condition: PostgresQuery) async throws -> [AccessTokenRecord] {
        var sql = condition
        sql.sql = "SELECT id, user_name, secret_hash, scopes, created_at, expires_at, revoked_at FROM access_tokens WHERE "
            + condition.sql + " ORDER BY created_at DESC, id DESC"
        return try await connection.rows(sql, logger).map { row in
            let (id, user, hash, scopes, createdAt, expiresAt, revokedAt) =
                try row.decode((String, String, String, String, Int64, Int64, Int64?).self)
            let texts = (try? JSONDecoder().decode([String].self, from: Data(scopes.utf8))) ?? []
            return AccessTokenRecord(id: id, user: user, scopes: texts.compactMap { try? TokenScope(parsing: $0) },
                                     createdAt: Self.date(createdAt), expiresAt: Self.date(expiresAt), secretHash: hash,
                                     revokedAt: revokedAt.map(Self.date))
        }
    }
}
