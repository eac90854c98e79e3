import BerthAuth
import BerthCore
import Foundation
import Hummingbird

/// `/api/v1/immutability/<namespace or repository>` (tag immutability rules) and `/api/v1/lifecycle/<namespace or
/// repository>` (ECR lifecycle policies, with `/api/v1/lifecycle-preview/<repository>`), set and read by the
/// namespace's maintainers (or administrators). The list of every rule is for administrators.
extension AdminAPI {
    func registerPolicies(on api: RouterGroup<Context>) {
        api.get("immutability", use: guarded(listRules))
        api.get("immutability/**", use: guarded(rule))
        api.put("immutability/**", use: guarded(setRule))
        api.delete("immutability/**", use: guarded(removeRule))
        api.get("lifecycle/**", use: guarded(lifecyclePolicy))
        api.put("lifecycle/**", use: guarded(setLifecyclePolicy))
        api.delete("lifecycle/**", use: guarded(removeLifecyclePolicy))
        api.get("lifecycle-preview/**", use: guarded(lifecyclePreview))
    }

    private struct RuleJSON: Codable {
        var scope: String?
        var immutable: Bool
        var exclusions: [TagPattern]?
    }

    func listRules(_ request: Request, _ context: Context, _ actor: Principal) async throws -> Response {
        try access.requireAdmin(actor, .namespaces)
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

    func lifecyclePolicy(_ request: Request, _ context: Context, _ actor: Principal) async throws -> Response {
        let scope = try scope(context, actor)
        guard let found = try await lifecycle.policies().first(where: { $0.scope == scope }) else {
            throw AccessError.notFound("no lifecycle policy on \(scope)")
        }
        return Response(status: .ok, headers: [.contentType: "application/json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: found.policy.document)))
    }

    func setLifecyclePolicy(_ request: Request, _ context: Context, _ actor: Principal) async throws -> Response {
        let scope = try scope(context, actor)
        let body: ByteBuffer
        do { body = try await request.body.collect(upTo: 256 * 1024) } catch { throw AccessError.invalid("policy missing or over 256 KiB") }
        do {
            try await lifecycle.setPolicy(Data(buffer: body), on: scope, by: actor.caller(address: context.remoteAddress))
        } catch let error as LifecyclePolicyError {
            throw AccessError.invalid("invalid lifecycle policy: \(error)")
        }
        return RegistryAPI.empty(.noContent, [:])
    }

    func removeLifecyclePolicy(_ request: Request, _ context: Context, _ actor: Principal) async throws -> Response {
        try await lifecycle.setPolicy(nil, on: try scope(context, actor), by: actor.caller(address: context.remoteAddress))
        return RegistryAPI.empty(.noContent, [:])
    }

    private struct PreviewJSON: Encodable {
        struct Image: Encodable {
            var digest: String, tags: [String], pushedAt: Date, rulePriority: Int, ruleDescription: String?
            var referrers: [String], keptByImmutableTag: String?
            enum CodingKeys: String, CodingKey {
                case digest, tags, referrers, pushedAt = "pushed_at", rulePriority = "rule_priority"
                case ruleDescription = "rule_description", keptByImmutableTag = "kept_by_immutable_tag"
            }
        }
        var repository: String, scope: String, assignedPriorities: Bool, images: [Image]
        enum CodingKeys: String, CodingKey {
            case repository, scope, images, assignedPriorities = "priorities_assigned_in_list_order"
        }
    }

    func lifecyclePreview(_ request: Request, _ context: Context, _ actor: Principal) async throws -> Response {
        let scope = try scope(context, actor)
        guard let name = try? RepositoryName(validating: scope), let plan = try await lifecycle.preview(name) else {
            throw AccessError.notFound("no lifecycle policy in force for \(scope)")
        }
        return try Self.json(PreviewJSON(
            repository: scope, scope: plan.scope, assignedPriorities: plan.policy.assignedPriorities,
            images: plan.expiries.map { expiry in
                PreviewJSON.Image(digest: expiry.image.digest.description, tags: expiry.image.tags, pushedAt: expiry.image.pushedAt,
                                  rulePriority: expiry.rulePriority, ruleDescription: expiry.ruleDescription,
                                  referrers: (plan.referrers[expiry.image.digest] ?? []).map(\.description),
                                  keptByImmutableTag: plan.kept[expiry.image.digest])
            }))
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
