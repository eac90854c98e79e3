import BerthCore
import BerthFilesystem
import BerthSQLite
import Foundation
import Testing

/// A catalog request reads a bounded number of repository names, whatever the caller may see: one who may see
/// little gets short (even empty) pages with a `next` to go on, and still every visible name, once.
@Suite struct CatalogScanTests {
    @Test func aCallerWhoMaySeeLittleReadsABoundedNumberOfNames() async throws {
        try await withEmbeddedStores { _, store, blobs in
            var options = RegistryOptions()
            options.catalogScanLimit = 25
            let service = RegistryService(blobs: blobs, metadata: store, options: options)
            let names = (0..<120).map { String(format: "ns%03d/app", $0) }
            for name in names {
                let index = Data(#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[],"annotations":{"n":"\#(name)"}}"#.utf8)
                _ = try await service.putManifest(index, contentType: "application/vnd.oci.image.index.v1+json", reference: .tag("v1"),
                                                  extraTags: [], in: try RepositoryName(validating: name), by: Caller(user: "t"))
            }
            let visible: Set<String> = ["ns007/app", "ns090/app", "ns119/app"]
            var seen: [String] = [], last: String? = nil, requests = 0
            repeat {
                let page = try await service.repositories(limit: 2, after: last) { visible.contains($0) }
                seen += page.items
                last = page.next
                requests += 1
            } while last != nil && requests < 100
            #expect(seen == visible.sorted(), "every visible name once, in order")
            // 120 names at most 25 (plus one batch) a request: at least 4 requests, never one walk of the table.
            #expect(requests >= 4 && requests <= 12, "\(requests) requests")
            // A caller who may see everything still gets full pages.
            let all = try await service.repositories(limit: 50, after: nil) { _ in true }
            #expect(all.items.count == 50 && all.next == "ns049/app")
        }
    }
}
