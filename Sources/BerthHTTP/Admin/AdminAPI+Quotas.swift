import BerthAuth
import BerthCore
import Foundation
import Hummingbird

/// `/api/v1/quota/<namespace>` (storage and repository quotas) and `/api/v1/usage[/<namespace or repository>]`.
/// A quota is set and removed by administrators only: one its namespace's maintainers could raise would limit
/// nothing. The namespace's maintainers (and admins) read its quota and usage; the lists of every namespace
/// are for administrators.
extension AdminAPI {
    func registerQuotas(on api: RouterGroup<Context>) {
        api.get("quota", use: guarded(listQuotas))
        api.get("quota/**", use: guarded(quota))
        api.put("quota/**", use: guarded(setQuota))
        api.delete("quota/**", use: guarded(removeQuota))
        api.get("usage", use: guarded(allUsage))
        api.get("usage/**", use: guarded(usageReport))
    }

    private struct QuotaJSON: Encodable {
        var namespace: String
        var storageBytes: Int64?
        var repositories: Int?
    }

    func listQuotas(_ request: Request, _ context: Context, _ actor: Principal) async throws -> Response {
        try access.requireAdmin(actor, .namespaces)
        return try Self.json(try await quotas.quotas().map {
            QuotaJSON(namespace: $0.namespace, storageBytes: $0.quota.storageBytes, repositories: $0.quota.repositories)
        })
    }

    func quota(_ request: Request, _ context: Context, _ actor: Principal) async throws -> Response {
        let namespace = try namespace(context)
        try access.requireMaintainer(actor, of: namespace)
        guard let found = try await quotas.quota(of: namespace) else { throw AccessError.notFound("no quota on \(namespace)") }
        return try Self.json(QuotaJSON(namespace: namespace, storageBytes: found.storageBytes, repositories: found.repositories))
    }

    func setQuota(_ request: Request, _ context: Context, _ actor: Principal) async throws -> Response {
        let namespace = try namespace(context)
        try access.requireAdmin(actor, .namespaces)
        do {
            let quota = try await Self.decode(NamespaceQuota.self, request)
            try await quotas.setQuota(quota, on: namespace, by: actor.caller(address: context.remoteAddress))
        } catch let error as QuotaError {
            throw AccessError.invalid("invalid quota: \(error)")
        }
        return RegistryAPI.empty(.noContent, [:])
    }

    func removeQuota(_ request: Request, _ context: Context, _ actor: Principal) async throws -> Response {
        let namespace = try namespace(context)
        try access.requireAdmin(actor, .namespaces)
        try await quotas.setQuota(nil, on: namespace, by: actor.caller(address: context.remoteAddress))
        return RegistryAPI.empty(.noContent, [:])
    }

    func allUsage(_ request: Request, _ context: Context, _ actor: Principal) async throws -> Response {
        try access.requireAdmin(actor, .namespaces)
        return try Self.json(try await usage.namespaces())
    }

    func usageReport(_ request: Request, _ context: Context, _ actor: Principal) async throws -> Response {
        let text = context.parameters.getCatchAll().joined(separator: "/")
        guard let name = try? RepositoryName(validating: text) else {
            throw AccessError.invalid("invalid namespace or repository name \(text.prefix(100))")
        }
        try access.requireMaintainer(actor, of: name.namespace)
        guard let report = try await usage.report(name) else { throw AccessError.notFound("no repository or quota \(name)") }
        return try Self.json(report)
    }

    /// The namespace in the path: quotas are per namespace, so a repository name is refused.
    private func namespace(_ context: Context) throws -> String {
        let text = context.parameters.getCatchAll().joined(separator: "/")
        guard let name = try? RepositoryName(validating: text), name.namespace == text else {
            throw AccessError.invalid("invalid namespace name \(text.prefix(100)) (quotas are set on namespaces, not repositories)")
        }
        return text
    }
}
