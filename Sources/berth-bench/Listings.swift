import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Tags-list and catalog workloads over data prepared once per target (`bench-list/…`).
extension Workloads {
    static let listPrefix = "bench-list"

    /// Creates a repository with `tags` tags and `repositories` repositories, unless already there.
    func prepareListings() async throws {
        let source = "\(Self.listPrefix)/tags"
        let (layers, config) = try await pushImageBlobs(source)
        let body = manifestBody(config: config, layers: layers, note: "listing")
        let client = self.client
        let existing = try await countListing("/v2/\(source)/tags/list?n=1000", key: "tags")
        if existing < options.tags {
            let tagging = await Measure.each(count: options.tags, workers: options.concurrency) { i in
                try await client.send(.PUT, "/v2/\(source)/manifests/t\(String(format: "%06d", i))", body: body,
                                      headers: [("Content-Type", Self.ociManifest)], expect: 201)
                return 0
            }
            guard tagging.errors == 0 else { throw BenchClient.Failure(description: "tagging failed") }
        }
        // A registry already holding that many repositories (from an earlier run) is listed as it is.
        guard try await countListing("/v2/_catalog?n=1000", key: "repositories") < options.repositories else { return }
        let creating = await Measure.each(count: options.repositories, workers: options.concurrency) { i in
            let repository = "\(Self.listPrefix)/repo\(String(format: "%06d", i))"
            for blob in layers + [config] {
                try await client.send(.POST, "/v2/\(repository)/blobs/uploads/?mount=\(blob.digest)&from=\(source)",
                                      expect: 201)
            }
            try await client.send(.PUT, "/v2/\(repository)/manifests/v1", body: body,
                                  headers: [("Content-Type", Self.ociManifest)], expect: 201)
            return 0
        }
        guard creating.errors == 0 else { throw BenchClient.Failure(description: "creating repositories failed") }
    }

    /// Lists everything behind `path`, following `Link` headers; returns the number of entries.
    func countListing(_ path: String, key: String) async throws -> Int {
        var next: String? = path
        var total = 0
        var pages = 0
        while let current = next, pages < 100_000 {
            var request = HTTPClientRequest(url: client.url(current))
            request.headers.add(name: "Accept", value: "application/json")
            let response = try await client.execute(request, timeout: .seconds(60))
            let body = try await response.body.collect(upTo: 64 << 20)
            if response.status == .notFound { return 0 }
            guard response.status == .ok,
                  let object = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]
            else { throw BenchClient.Failure(description: "GET \(current): \(response.status.code)") }
            total += (object[key] as? [Any])?.count ?? 0
            next = response.headers.first(name: "Link").flatMap(Self.nextLink)
            pages += 1
        }
        return total
    }

    /// `<url>; rel="next"` → url
    static func nextLink(_ header: String) -> String? {
        guard let open = header.firstIndex(of: "<"), let close = header.firstIndex(of: ">"), open < close else { return nil }
        return String(header[header.index(after: open)..<close])
    }

    func tagsList() async -> Figure {
        await listing("tags-list", path: "/v2/\(Self.listPrefix)/tags/tags/list?n=100", key: "tags", expect: options.tags)
    }

    func catalog() async -> Figure {
        await listing("catalog", path: "/v2/_catalog?n=100", key: "repositories", expect: options.repositories)
    }

    /// One page of 100 tags from the middle of the listing: what a client pays per page as the registry grows.
    func tagsPage() async -> Figure {
        let last = "t" + String(format: "%06d", options.tags / 2)
        return await page("tags-page", path: "/v2/\(Self.listPrefix)/tags/tags/list?n=100&last=\(last)", key: "tags")
    }

    func catalogPage() async -> Figure {
        let last = "\(Self.listPrefix)/repo" + String(format: "%06d", options.repositories / 2)
        return await page("catalog-page", path: "/v2/_catalog?n=100&last=\(last)", key: "repositories")
    }

    private func page(_ name: String, path: String, key: String) async -> Figure {
        let client = self.client
        let samples = await Measure.each(count: options.listings * 20, workers: 1) { _ in
            var request = HTTPClientRequest(url: client.url(path))
            request.headers.add(name: "Accept", value: "application/json")
            let response = try await client.execute(request, timeout: .seconds(60))
            let body = try await response.body.collect(upTo: 64 << 20)
            guard response.status == .ok,
                  let object = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
                  let items = object[key] as? [Any], !items.isEmpty
            else { throw BenchClient.Failure(description: "\(name): GET \(path) gave \(response.status.code) or no entries") }
            return 0
        }
        return Figure(name: name, values: [
            ("ms", samples.percentile(0.5)), ("p99 ms", samples.percentile(0.99)), ("errors", Double(samples.errors)),
        ], primary: "ms", higherIsBetter: false)
    }

    /// Full paginated listings, one at a time: milliseconds per listing.
    private func listing(_ name: String, path: String, key: String, expect: Int) async -> Figure {
        let workload = self
        let samples = await Measure.each(count: options.listings, workers: 1) { _ in
            let count = try await workload.countListing(path, key: key)
            guard count >= expect else { throw BenchClient.Failure(description: "\(name) listed \(count), expected \(expect)") }
            return 0
        }
        return Figure(name: name, values: [
            ("ms", samples.percentile(0.5)), ("p99 ms", samples.percentile(0.99)), ("errors", Double(samples.errors)),
        ], primary: "ms", higherIsBetter: false)
    }
}
