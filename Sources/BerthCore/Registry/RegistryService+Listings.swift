/// One page of a lexically ordered listing; `next` is the `last` value for the following page, if any.
public struct Page: Sendable {
    public var items: [String]
    public var next: String?
}

extension RegistryService {
    /// Tags of a repository, `limit` at most after `last`.
    public func tags(in repository: RepositoryName, limit: Int?, after last: String?) async throws -> Page {
        let n = pageSize(limit)
        guard let tags = try await metadata.tags(in: repository, after: last, limit: n + 1) else {
            throw RegistryError(.nameUnknown, "repository name not known to registry")
        }
        return page(tags, n)
    }

    /// Repository names the caller may see (`visible`), `limit` at most after `last`. Hidden names are skipped
    /// in batches, so a page is full whenever enough visible names follow within `catalogScanLimit` names read;
    /// past that, the page is what was found (maybe nothing) and `next` is where the reading stopped.
    public func repositories(limit: Int?, after last: String?,
                             visible: (String) -> Bool = { _ in true }) async throws -> Page {
        let n = pageSize(limit)
        var shown: [String] = []
        var cursor = last
        var read = 0
        while shown.count <= n {
            let batch = try await metadata.repositories(after: cursor, limit: n + 1)
            read += batch.count
            shown += batch.filter(visible)
            guard batch.count == n + 1, let next = batch.last else { break }
            cursor = next
            if read >= options.catalogScanLimit, shown.count <= n { return Page(items: shown, next: next) }
        }
        return page(Array(shown.prefix(n + 1)), n)
    }

    /// Manifests whose subject is `subject`. Never fails for a well-formed digest, even in unknown repositories.
    public func referrers(of subject: Digest, in repository: RepositoryName,
                          artifactType: String?) async throws -> [Descriptor] {
        try await metadata.referrers(of: subject, in: repository, artifactType: artifactType)
    }

    private func pageSize(_ limit: Int?) -> Int {
        min(limit ?? options.maxPageSize, options.maxPageSize)
    }

    private func page(_ items: [String], _ n: Int) -> Page {
        guard items.count > n else { return Page(items: items, next: nil) }
        let shown = Array(items.prefix(n))
        return Page(items: shown, next: shown.last)
    }
}
