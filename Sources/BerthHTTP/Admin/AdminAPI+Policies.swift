import BerthAuth
import BerthCore
import Foundation
import Hummingbird

/// `/api/v1/immutability/<namespace or repository>`: tag immutability rules, set by the namespace's
/// maintainers (or administrators). The list of every rule is for administrators.
extension AdminAPI {
    func registerPolicies(on api: RouterGroup<Context>) {
        api.get("immutability", use: guarded(listRules))
        api.get("immutability/**", use: guarded(rule))
        api.put("immutability/**", use: guarded(setRule))
        api.delete("immutability/**", use: guarded(removeRule))
    }

    private struct RuleJSON: Codable {
        var scope: String?
        var immutable: Bool
        var exclusions: [TagPattern]?
    }

    func listRules(_ request: Request, _ context: Context, _ actor: Principal) async throws -> Response {
        try access.requireAdmin(actor)
        return try Self.json(try await rules.immutabilityRules().map {
            RuleJSON(scope: $0.scope, immutable: $0.rule.immutable, exclusions: $0.rule.exclusions)
        })
    }

    func rule(_ request: Request, _ context: Context, _ actor: Principal) async throws -> Response {
        let scope = try scope(context, actor)
        guard let name = try? RepositoryName(validating: scope), let found = try await rules.immutability(of: name),
              found.scope == scope
        else { throw AccessError.notFound("no immutability rule on \(scope)") }
        return try Self.json(RuleJSON(scope: scope, immutable: found.rule.immutable, exclusions: found.rule.exclusions))
    }

    func setRule(_ request: Request, _ context: Context, _ actor: Principal) async throws -> Response {
        let scope = try scope(context, actor)
        let body = try await Self.decode(RuleJSON.self, request)
        try await rules.setImmutability(TagImmutability(immutable: body.immutable, exclusions: body.exclusions ?? []),
                                        on: scope, by: actor.caller(address: context.remoteAddress))
        return RegistryAPI.empty(.noContent, [:])
    }

    func removeRule(_ request: Request, _ context: Context, _ actor: Principal) async throws -> Response {
        try await rules.setImmutability(nil, on: try scope(context, actor), by: actor.caller(address: context.remoteAddress))
        return RegistryAPI.empty(.noContent, [:])
    }

    /// The namespace or repository in the path, once the actor is known to maintain its namespace.
    private func scope(_ context: Context, _ actor: Principal) throws -> String {
        let scope = context.parameters.getCatchAll().joined(separator: "/")
        guard (try? RepositoryName(validating: scope)) != nil else {
            throw AccessError.invalid("invalid namespace or repository name \(scope.prefix(100))")
        }
        try access.requireMaintainer(actor, of: String(scope.prefix { $0 != "/" }))
        return scope
    }
}
