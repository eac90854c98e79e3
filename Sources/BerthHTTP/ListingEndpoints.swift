import BerthCore
import BerthWire
import Foundation
import Hummingbird

extension RegistryAPI {
    private struct TagList: Encodable {
        var name: String
        var tags: [String]
    }

    private struct Catalog: Encodable {
        var repositories: [String]
    }

    private struct ReferrersIndex: Encodable {
        var schemaVersion = 2
        var mediaType = MediaType.ociIndex
        var manifests: [Descriptor]
    }

    func tags(_ name: RepositoryName, _ request: Request) async throws -> Response {
        let (n, last) = try pagination(request)
        let page = try await service.tags(in: name, limit: n, after: last)
        return try Self.json(TagList(name: name.value, tags: page.items),
                             headers: Self.link("/v2/\(name)/tags/list", page, n))
    }

    func catalog(_ request: Request, _ identity: Identity) async throws -> Response {
        let (n, last) = try pagination(request)
        let gate = self.gate
        let page = try await service.repositories(limit: n, after: last) { name in
            (try? RepositoryName(validating: name)).map { gate.permits(identity, $0, [.pull]) } ?? false
        }
        return try Self.json(Catalog(repositories: page.items), headers: Self.link("/v2/_catalog", page, n))
    }

    func referrers(_ name: RepositoryName, _ digestString: String, _ request: Request) async throws -> Response {
        let digest = try Self.digest(digestString)
        let artifactType = request.uri.queryParameters["artifactType"].map(String.init)
        let manifests = try await service.referrers(of: digest, in: name, artifactType: artifactType)
        var headers: HTTPFields = [:]
        if artifactType != nil { headers[.ociFiltersApplied] = "artifactType" }
        return try Self.json(ReferrersIndex(manifests: manifests), contentType: MediaType.ociIndex, headers: headers)
    }

    func pagination(_ request: Request) throws(APIError) -> (Int?, String?) {
        let query = request.uri.queryParameters
        let n = try Pagination.pageSize(query["n"], max: service.options.maxPageSize)
        return (n, query["last"].map(String.init))
    }

    /// `Link: <…?n=N&last=X>; rel="next"` when another page follows.
    static func link(_ path: String, _ page: Page, _ n: Int?) -> HTTPFields {
        guard let next = page.next else { return [:] }
        let size = n.map { "n=\($0)&" } ?? ""
        let last = next.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "-._~/"))) ?? next
        return [.link: "<\(path)?\(size)last=\(last)>; rel=\"next\""]
    }
}
