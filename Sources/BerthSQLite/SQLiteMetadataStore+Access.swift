import BerthAuth
import BerthCore
import Foundation
import GRDB

extension SQLiteMetadataStore: AccessStore, AccessExport {
    public func accessGeneration() async throws -> Int64 {
        try read { db in try Int64.fetchOne(db, sql: "SELECT generation FROM access_generation WHERE id = 1") ?? 0 }
    }

    public func loadAccess() async throws -> AccessData {
        try await pool.read { db in
            var users: [String: UserRecord] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT name, password_hash, admin FROM users") {
                users[row["name"]] = UserRecord(name: row["name"], passwordHash: row["password_hash"], admin: row["admin"])
            }
            var namespaces: [String: Visibility] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT name, visibility FROM namespaces") {
                namespaces[row["name"]] = Visibility(rawValue: row["visibility"]) ?? .private
            }
            var members: [String: [String: Role]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT namespace, user_name, role FROM members") {
                if let role = Role(rawValue: row["role"]) { members[row["namespace"], default: [:]][row["user_name"]] = role }
            }
            var tokens: [String: AccessTokenRecord] = [:]
            for token in try Self.tokens(db, where: "revoked_at IS NULL AND expires_at > ?", [Self.now()]) {
                tokens[token.id] = token
            }
            let generation = try Int64.fetchOne(db, sql: "SELECT generation FROM access_generation WHERE id = 1") ?? 0
            return AccessData(generation: generation, users: users, namespaces: namespaces, members: members, tokens: tokens)
        }
    }

    /// A write to access data, bumping the generation in the same transaction.
    private func change<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await pool.write { db in
            let result = try body(db)
            try db.execute(sql: "UPDATE access_generation SET generation = generation + 1 WHERE id = 1")
            return result
        }
    }

    public func addUser(_ user: UserRecord) async throws -> Bool {
        try await change { db in
            try db.execute(sql: """
                INSERT INTO users (name, password_hash, admin, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING
                """, arguments: [user.name, user.passwordHash, user.admin, Self.now()])
            return db.changesCount > 0
        }
    }

    public func setPassword(_ user: String, hash: String) async throws -> Bool {
        try await change { db in
            try db.execute(sql: "UPDATE users SET password_hash = ? WHERE name = ?", arguments: [hash, user])
            guard db.changesCount > 0 else { return false }
            try db.execute(sql: "DELETE FROM refresh_tokens WHERE user_name = ?", arguments: [user])
            return true
        }
    }

    public func removeUser(_ user: String) async throws -> Bool {
        try await change { db in
            try db.execute(sql: "DELETE FROM users WHERE name = ?", arguments: [user])
            guard db.changesCount > 0 else { return false }
            try db.execute(sql: "DELETE FROM members WHERE user_name = ?", arguments: [user])
            try db.execute(sql: "UPDATE access_tokens SET revoked_at = ? WHERE user_name = ? AND revoked_at IS NULL",
                           arguments: [Self.now(), user])
            try db.execute(sql: "DELETE FROM refresh_tokens WHERE user_name = ?", arguments: [user])
            return true
        }
    }

    public func addNamespace(_ name: String, visibility: Visibility) async throws -> Bool {
        try await change { db in
            try db.execute(sql: "INSERT INTO namespaces (name, visibility, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
                           arguments: [name, visibility.rawValue, Self.now()])
            return db.changesCount > 0
        }
    }

    public func setVisibility(_ name: String, _ visibility: Visibility) async throws -> Bool {
        try await change { db in
            try db.execute(sql: "UPDATE namespaces SET visibility = ? WHERE name = ?", arguments: [visibility.rawValue, name])
            return db.changesCount > 0
        }
    }

    public func setRole(_ role: Role?, of user: String, in namespace: String) async throws -> Bool {
        try await change { db in
            if let role {
                try db.execute(sql: """
                    INSERT INTO members (namespace, user_name, role) VALUES (?, ?, ?)
                    ON CONFLICT (namespace, user_name) DO UPDATE SET role = excluded.role
                    """, arguments: [namespace, user, role.rawValue])
            } else {
                try db.execute(sql: "DELETE FROM members WHERE namespace = ? AND user_name = ?", arguments: [namespace, user])
            }
            return db.changesCount > 0
        }
    }

    public func addAccessToken(_ token: AccessTokenRecord) async throws {
        let scopes = try String(decoding: JSONEncoder.sorted.encode(token.scopes.map(\.description)), as: UTF8.self)
        try await change { db in
            try db.execute(sql: """
                INSERT INTO access_tokens (id, user_name, secret_hash, scopes, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [token.id, token.user, token.secretHash, scopes, Self.millis(token.createdAt), Self.millis(token.expiresAt)])
        }
    }

    public func accessTokens(of user: String?) async throws -> [AccessTokenRecord] {
        try await pool.read { db in
            if let user { return try Self.tokens(db, where: "user_name = ?", [user]) }
            return try Self.tokens(db, where: "1 = 1", [])
        }
    }

    public func revokeAccessToken(_ id: String) async throws -> Bool {
        try await change { db in
            try db.execute(sql: "UPDATE access_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                           arguments: [Self.now(), id])
            return db.changesCount > 0
        }
    }

    public func addRefreshToken(_ token: RefreshTokenRecord) async throws {
        try await pool.write { db in
            try db.execute(sql: """
                INSERT INTO refresh_tokens (id, user_name, secret_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)
                """, arguments: [token.id, token.user, token.secretHash, Self.now(), Self.millis(token.expiresAt)])
        }
    }

    public func refreshToken(_ id: String) async throws -> RefreshTokenRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT id, user_name, secret_hash, expires_at FROM refresh_tokens WHERE id = ?",
                             arguments: [id]).map {
                RefreshTokenRecord(id: $0["id"], user: $0["user_name"], secretHash: $0["secret_hash"],
                                   expiresAt: Self.date($0["expires_at"]))
            }
        }
    }

    public func liveRefreshTokens() async throws -> [RefreshTokenRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT id, user_name, secret_hash, expires_at FROM refresh_tokens WHERE expires_at > ? ORDER BY id
                """, arguments: [Self.now()]).map {
                RefreshTokenRecord(id: $0["id"], user: $0["user_name"], secretHash: $0["secret_hash"],
                                   expiresAt: Self.date($0["expires_at"]))
            }
        }
    }

    public func appendAudit(_ events: [AuditEvent]) async throws {
        try await pool.write { db in
            for event in events {
                try db.execute(sql: """
                    INSERT INTO audit_log (at, actor, token_id, action, target, address, outcome, detail)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [Self.millis(event.at), event.actor, event.tokenID, event.action, event.target,
                                     event.address, event.outcome, event.detail])
            }
        }
    }

    /// Newest first by time: a server stores its records in batches, so ids need not follow time.
    public func auditEvents(limit: Int, before: Int64?) async throws -> [AuditEvent] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT id, at, actor, token_id, action, target, address, outcome, detail FROM audit_log
                WHERE (at, id) < (SELECT at, id FROM audit_log WHERE id = ? UNION ALL SELECT ?, ? LIMIT 1)
                ORDER BY at DESC, id DESC LIMIT ?
                """, arguments: [before ?? -1, Int64.max, Int64.max, limit]).map {
                AuditEvent(id: $0["id"], at: Self.date($0["at"]), actor: $0["actor"], tokenID: $0["token_id"],
                           action: $0["action"], target: $0["target"], address: $0["address"], outcome: $0["outcome"],
                           detail: $0["detail"])
            }
        }
    }

    private static func tokens(_ db: Database, where condition: String, _ arguments: StatementArguments) throws -> [AccessTokenRecord] {
        try Row.fetchAll(db, sql: """
            SELECT id, user_name, secret_hash, scopes, created_at, expires_at, revoked_at FROM access_tokens
            WHERE \(condition) ORDER BY created_at DESC
            """, arguments: arguments).map { row in
            let texts = (try? JSONDecoder().decode([String].self, from: Data((row["scopes"] as String).utf8))) ?? []
            return AccessTokenRecord(
                id: row["id"], user: row["user_name"], scopes: texts.compactMap { try? TokenScope(parsing: $0) },
                createdAt: date(row["created_at"]), expiresAt: date(row["expires_at"]), secretHash: row["secret_hash"],
                revokedAt: (row["revoked_at"] as Int64?).map(date))
        }
    }

    static func millis(_ date: Date) -> Int64 { Int64(date.timeIntervalSince1970 * 1000) }
    static func date(_ millis: Int64) -> Date { Date(timeIntervalSince1970: Double(millis) / 1000) }
}
