import BerthAuth
import BerthCore
import BerthWire
import Foundation
import Hummingbird

/// The JSON admin API under `/api/v1/`: users, namespaces, members, access tokens and the audit log, with the
/// same authorization as the CLI's operations (each is checked by `AccessControl`).
struct AdminAPI: Sendable {
    let access: AccessControl
    /// Verifies Berth's own registry tokens, so a web UI may use one (token mode).
    let authority: TokenAuthority?
    let realm: String
    let rules: TagRules
    let lifecycle: Lifecycle
    let quotas: Quotas
    let usage: UsageReports
    /// Garbage collection on request.
    let registry: RegistryService

    typealias Context = BerthRequestContext
    typealias Handler = @Sendable (Request, Context, Principal) async throws -> Response

    func register(on router: Router<Context>) {
        let api = router.group("/api/v1")
        api.get("users", use: guarded(listUsers))
        api.post("users", use: guarded(addUser))
        api.put("users/:name/password", use: guarded(setPassword))
        api.delete("users/:name", use: guarded(removeUser))
        api.get("namespaces", use: guarded { _, _, actor in try Self.json(access.listNamespaces(by: actor)) })
        api.post("namespaces", use: guarded(createNamespace))
        api.patch("namespaces/:name", use: guarded(setVisibility))
        api.get("namespaces/:name/members", use: guarded(members))
        api.put("namespaces/:name/members/:user", use: guarded(grant))
        api.delete("namespaces/:name/members/:user", use: guarded(revoke))
        api.get("tokens", use: guarded(listTokens))
        api.post("tokens", use: guarded(createToken))
        api.delete("tokens/:id", use: guarded(revokeToken))
        api.get("audit", use: guarded(audit))
        registerPolicies(on: api)
        registerQuotas(on: api)
        api.post("gc", use: guarded(collectGarbage))
    }

    // MARK: Users

    private struct NewUser: Decodable { var name: String; var password: String; var admin: Bool? }
    private struct Password: Decodable {
        var password: String
        var current: String?
        enum CodingKeys: String, CodingKey { case password, current = "current_password" }
    }

    func listUsers(_ request: Request, _ context: Context, _ actor: Principal) async throws -> Response {
        try Self.json(access.listUsers(by: actor))
    }

    func addUser(_ request: Request, _ context: Context, _ actor: Principal) async throws -> Response {
        let body = try await Self.decode(NewUser.self, request)
        try await access.addUser(body.name, password: body.password, admin: body.admin ?? false, by: actor,
                                 address: context.remoteAddress)
        return RegistryAPI.empty(.created, [.location: "/api/v1/users/\(body.name)"])
    }

    func setPassword(_ request: Request, _ context: Context, _ actor: Principal) async throws -> Response {
        let body = try await Self.decode(Password.self, request)
        try await access.setPassword(try context.parameters.require("name"), password: body.password, current: body.current, by: actor,
                                     address: context.remoteAddress)
        return RegistryAPI.empty(.noContent, [:])
    }

    func removeUser(_ request: Request, _ context: Context, _ actor: Principal) async throws -> Response {
        try await access.removeUser(try context.parameters.require("name"), by: actor, address: context.remoteAddress)
        return RegistryAPI.empty(.noContent, [:])
    }

    // MARK: Namespaces and members

    private struct NewNamespace: Decodable { var name: String; var visibility: Visibility? }
    private struct VisibilityBody: Decodable { var visibility: Visibility }
    private struct RoleBody: Decodable { var role: Role }

    func createNamespace(_ request: Request, _ context: Context, _ actor: Principal) async throws -> Response {
        let body = try await Self.decode(NewNamespace.self, request)
        try await access.createNamespace(body.name, visibility: body.visibility ?? .private, by: actor,
                                         address: context.remoteAddress)
        return RegistryAPI.empty(.created, [.location: "/api/v1/namespaces/\(body.name)"])
    }

    func setVisibility(_ request: Request, _ context: Context, _ actor: Principal) async throws -> Response {
        let body = try await Self.decode(VisibilityBody.self, request)
        try await access.setVisibility(try context.parameters.require("name"), body.visibility, by: actor,
                                       address: context.remoteAddress)
        return RegistryAPI.empty(.noContent, [:])
    }

    func members(_ request: Request, _ context: Context, _ actor: Principal) async throws -> Response {
        try Self.json(access.members(of: try context.parameters.require("name"), by: actor))
    }

    func grant(_ request: Request, _ context: Context, _ actor: Principal) async throws -> Response {
        let body = try await Self.decode(RoleBody.self, request)
        try await access.grant(body.role, to: try context.parameters.require("user"),
                               in: try context.parameters.require("name"), by: actor, address: context.remoteAddress)
        return RegistryAPI.empty(.noContent, [:])
    }

    func revoke(_ request: Request, _ context: Context, _ actor: Principal) async throws -> Response {
        try await access.revoke(try context.parameters.require("user"), in: try context.parameters.require("name"),
                                by: actor, address: context.remoteAddress)
        return RegistryAPI.empty(.noContent, [:])
    }

    // MARK: Access tokens and audit

    private struct NewToken: Decodable { var user: String?; var scopes: [String]; var expires: String? }
    private struct TokenJSON: Encodable {
        var id: String, user: String, scopes: [String], expiresAt: Date, createdAt: Date, revokedAt: Date?, state: String
        enum CodingKeys: String, CodingKey {
            case id, user, scopes, state, expiresAt = "expires_at", createdAt = "created_at", revokedAt = "revoked_at"
        }
    }
    private struct IssuedJSON: Encodable {
        var id: String, token: String, expiresAt: Date
        enum CodingKeys: String, CodingKey { case id, token, expiresAt = "expires_at" }
    }

    func listTokens(_ request: Request, _ context: Context, _ actor: Principal) async throws -> Response {
        let tokens = try await access.accessTokens(of: request.uri.queryParameters["user"].map(String.init), by: actor)
        return try Self.json(tokens.map {
            TokenJSON(id: $0.id, user: $0.user, scopes: $0.scopes.map(\.description), expiresAt: $0.expiresAt,
                      createdAt: $0.createdAt, revokedAt: $0.revokedAt, state: $0.state())
        })
    }

    func createToken(_ request: Request, _ context: Context, _ actor: Principal) async throws -> Response {
        let body = try await Self.decode(NewToken.self, request)
        let scopes = try body.scopes.map { text throws(AccessError) in try TokenScope(parsing: text) }
        let expires = try body.expires.map { try Durations.parse($0, "expires") } ?? .seconds(12 * 3600)
        let issued = try await access.createAccessToken(for: body.user, scopes: scopes, expiresIn: expires, by: actor,
                                                        address: context.remoteAddress)
        return try Self.json(IssuedJSON(id: issued.record.id, token: issued.token, expiresAt: issued.record.expiresAt),
                             status: .created)
    }

    func revokeToken(_ request: Request, _ context: Context, _ actor: Principal) async throws -> Response {
        try await access.revokeAccessToken(try context.parameters.require("id"), by: actor, address: context.remoteAddress)
        return RegistryAPI.empty(.noContent, [:])
    }

    func audit(_ request: Request, _ context: Context, _ actor: Principal) async throws -> Response {
        let query = request.uri.queryParameters
        let limit = try query["limit"].map { text throws(AccessError) in
            guard let n = Decimal64.parse(text), (1...1000).contains(n) else { throw .invalid("limit is 1 to 1000") }
            return Int(n)
        } ?? 100
        let before = try query["before"].map { text throws(AccessError) in
            guard let n = Decimal64.parse(text) else { throw .invalid("before is an audit record id") }
            return n
        }
        return try Self.json(try await access.auditEvents(limit: limit, before: before, by: actor))
    }
}
