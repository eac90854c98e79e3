import BerthAuth
import BerthWire
import Foundation
import Hummingbird

/// Berth's token service (the Docker token authentication spec): `GET /auth/token` with optional Basic
/// credentials, and the OAuth2 form `POST /auth/token` (password and refresh-token grants).
struct TokenEndpoint: Sendable {
    let access: AccessControl
    let authority: TokenAuthority
    let refreshExpiresIn: Duration

    private struct Answer: Encodable {
        var token: String?
        var accessToken: String
        var scope: String?
        var expiresIn: Int
        var issuedAt: String
        var refreshToken: String?

        enum CodingKeys: String, CodingKey {
            case token, scope
            case accessToken = "access_token", expiresIn = "expires_in", issuedAt = "issued_at"
            case refreshToken = "refresh_token"
        }
    }

    func register(on router: Router<BerthRequestContext>) {
        router.get("/auth/token") { request, context in await answer { try await get(request, context) } }
        router.post("/auth/token") { request, context in await answer { try await post(request, context) } }
    }

    private func answer(_ body: () async throws -> Response) async -> Response {
        do {
            return try await body()
        } catch let refusal as Refusal {
            return ErrorResponse.response(refusal.error, headers: refusal.headers)
        } catch let error as AccessError {
            return ErrorResponse.response(Refusal.from(error, challenge: basicChallenge).error,
                                          headers: Refusal.from(error, challenge: basicChallenge).headers)
        } catch {
            return ErrorResponse.response(.internalError)
        }
    }

    private var basicChallenge: String { "Basic realm=\"\(authority.settings.service)\", charset=\"UTF-8\"" }

    /// `GET ?service=&scope=&scope=&offline_token=`: Basic credentials, or none for an anonymous token.
    private func get(_ request: Request, _ context: BerthRequestContext) async throws -> Response {
        let query = request.uri.queryParameters
        try checkService(query["service"].map(String.init))
        let scopes = try parseScopes(query[values: "scope"].map(String.init))
        var principal = Principal.anonymous
        if let basic = BasicCredentials.parse(request.headers[.authorization]), !basic.isAnonymous {
            principal = try await access.authenticate(username: basic.username, password: basic.password,
                                                      address: context.remoteAddress)
        } else if request.headers[.authorization] != nil, BasicCredentials.parse(request.headers[.authorization]) == nil {
            throw AccessError.unauthenticated("the token service takes Basic credentials")
        }
        let offline = query["offline_token"] == "true"
        return try await issue(principal, scopes, context, refresh: offline, legacy: true)
    }

    /// The OAuth2 form: `grant_type=password` or `refresh_token`.
    private func post(_ request: Request, _ context: BerthRequestContext) async throws -> Response {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: 64 * 1024)
        } catch {
            // Too large or cut short: the client's fault, not a 500.
            throw AccessError.invalid("the form is missing, incomplete or over 64 KiB")
        }
        let form = Self.parseForm(String(buffer: buffer))
        try checkService(form["service"])
        let scopes = try parseScopes((form["scope"] ?? "").split(separator: " ").map(String.init))
        let principal: Principal
        switch form["grant_type"] {
        case "password":
            guard let username = form["username"], let password = form["password"] else {
                throw AccessError.invalid("grant_type=password needs username and password")
            }
            principal = try await access.authenticate(username: username, password: password, address: context.remoteAddress)
        case "refresh_token":
            guard let token = form["refresh_token"] else { throw AccessError.invalid("grant_type=refresh_token needs refresh_token") }
            principal = try await access.redeemRefreshToken(token, address: context.remoteAddress)
        default:
            throw AccessError.invalid("unsupported grant_type; use password or refresh_token")
        }
        let offline = form["access_type"] == "offline" && form["grant_type"] == "password"
        return try await issue(principal, scopes, context, refresh: offline, legacy: false)
    }

    private func issue(_ principal: Principal, _ scopes: [ResourceScope], _ context: BerthRequestContext,
                       refresh: Bool, legacy: Bool) async throws -> Response {
        let granted = access.grantedAccess(principal, for: scopes)
        let (token, expiresIn, issuedAt) = try await authority.issue(
            subject: principal.user ?? "", tokenID: principal.tokenID, access: granted)
        access.recordIssue(principal, access: granted, address: context.remoteAddress)
        let refreshToken = refresh ? try await access.issueRefreshToken(for: principal, expiresIn: refreshExpiresIn) : nil
        let answer = Answer(
            token: legacy ? token : nil, accessToken: token,
            scope: legacy ? nil : granted.map(\.description).joined(separator: " "),
            expiresIn: expiresIn, issuedAt: ISO8601DateFormatter().string(from: issuedAt), refreshToken: refreshToken)
        return try RegistryAPI.json(answer, headers: [.cacheControl: "no-store"])
    }

    private func checkService(_ service: String?) throws {
        if let service, service != authority.settings.service {
            throw AccessError.invalid("unknown service \(service.prefix(100)); this registry is \(authority.settings.service)")
        }
    }

    private func parseScopes(_ texts: [String]) throws -> [ResourceScope] {
        guard texts.count <= 100 else { throw AccessError.invalid("too many scopes") }
        // One `scope` parameter may carry several, space-separated (as the OAuth2 form does).
        return try texts.flatMap { $0.split(separator: " ") }.map { text throws(AccessError) in try ResourceScope(parsing: text) }
    }

    /// `application/x-www-form-urlencoded` fields; the first of a repeated name wins.
    static func parseForm(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String {
                String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(s)
            }
            let name = decode(parts[0])
            if fields[name] == nil { fields[name] = parts.count > 1 ? decode(parts[1]) : "" }
        }
        return fields
    }
}
