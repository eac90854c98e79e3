import Foundation
import Testing

@Suite struct ListingTests {
    @Test func tagsPaginateWithLinkHeaders() async throws {
        try await withRegistry { registry in
            let (manifest, _) = try await registry.pushImage("paged", tag: "t00")
            for i in 1..<12 {
                let tag = String(format: "t%02d", i)
                #expect(try await registry.request(.PUT, "/v2/paged/manifests/\(tag)",
                                                   headers: [("Content-Type", Fixtures.ociManifest)], body: manifest).status == 201)
            }
            var collected: [String] = []
            var path: String? = "/v2/paged/tags/list?n=5"
            var pages = 0
            while let next = path, pages < 10 {
                let reply = try await registry.request(.GET, next)
                #expect(reply.status == 200)
                #expect(reply.json?["name"] as? String == "paged")
                collected += reply.json?["tags"] as? [String] ?? []
                path = reply.header("Link").flatMap { link in
                    link.split(separator: ";").first.map { String($0.dropFirst().dropLast()) }
                }
                pages += 1
            }
            #expect(pages == 3)
            #expect(collected == (0..<12).map { String(format: "t%02d", $0) })
            let after = try await registry.request(.GET, "/v2/paged/tags/list?last=t09")
            #expect(after.json?["tags"] as? [String] == ["t10", "t11"])
            #expect(after.header("Link") == nil)
            let bad = try await registry.request(.GET, "/v2/paged/tags/list?n=-1")
            #expect(bad.status == 400)
            let unknown = try await registry.request(.GET, "/v2/never/pushed/tags/list")
            #expect(unknown.status == 404 && unknown.errorCode == "NAME_UNKNOWN")
        }
    }

    @Test func catalogPaginates() async throws {
        try await withRegistry { registry in
            for name in ["c/one", "a/two", "b/three"] { try await registry.pushImage(name, tag: "v1") }
            let first = try await registry.request(.GET, "/v2/_catalog?n=2")
            #expect(first.json?["repositories"] as? [String] == ["a/two", "b/three"])
            #expect(first.header("Link") == "</v2/_catalog?n=2&last=b/three>; rel=\"next\"")
            let second = try await registry.request(.GET, "/v2/_catalog?n=2&last=b/three")
            #expect(second.json?["repositories"] as? [String] == ["c/one"])
            #expect(second.header("Link") == nil)
        }
    }

    @Test func referrersListAndFilter() async throws {
        try await withRegistry { registry in
            let (subject, subjectDigest) = try await registry.pushImage("ref/app", tag: "v1")
            let (_, sbom) = try await registry.pushImage("ref/app", tag: "sbom", subject: (subjectDigest, subject.count),
                                                         artifactType: "application/vnd.example.sbom",
                                                         annotations: ["org.example": "yes"])
            let signature = try await registry.pushImage("ref/app", tag: "sig", subject: (subjectDigest, subject.count))
            let all = try await registry.request(.GET, "/v2/ref/app/referrers/\(subjectDigest)")
            #expect(all.status == 200)
            #expect(all.header("Content-Type") == Fixtures.ociIndex)
            let manifests = all.json?["manifests"] as? [[String: Any]] ?? []
            #expect(Set(manifests.compactMap { $0["digest"] as? String }) == [sbom, signature.digest])
            let sbomEntry = manifests.first { $0["digest"] as? String == sbom }
            #expect(sbomEntry?["artifactType"] as? String == "application/vnd.example.sbom")
            #expect((sbomEntry?["annotations"] as? [String: String])?["org.example"] == "yes")
            let signatureEntry = manifests.first { $0["digest"] as? String == signature.digest }
            #expect(signatureEntry?["artifactType"] as? String == "application/vnd.oci.image.config.v1+json")

            let filtered = try await registry.request(.GET, "/v2/ref/app/referrers/\(subjectDigest)?artifactType=application/vnd.example.sbom")
            #expect(filtered.header("OCI-Filters-Applied") == "artifactType")
            #expect((filtered.json?["manifests"] as? [[String: Any]])?.count == 1)

            // The subject's push answers with OCI-Subject.
            let push = try await registry.request(.PUT, "/v2/ref/app/manifests/sig2", headers: [("Content-Type", Fixtures.ociManifest)],
                                                  body: signature.manifest)
            #expect(push.header("OCI-Subject") == subjectDigest)

            // Never 404 for a well-formed digest, even in an unknown repository; 400 for a malformed one.
            let empty = try await registry.request(.GET, "/v2/no/such/repo/referrers/\(Fixtures.sha256(Data()))")
            #expect(empty.status == 200 && (empty.json?["manifests"] as? [Any])?.isEmpty == true)
            #expect(try await registry.request(.GET, "/v2/ref/app/referrers/sha256:xyz").status == 400)

            // Deleting a referrer drops it from the index.
            #expect(try await registry.request(.DELETE, "/v2/ref/app/manifests/\(sbom)").status == 202)
            let after = try await registry.request(.GET, "/v2/ref/app/referrers/\(subjectDigest)")
            #expect((after.json?["manifests"] as? [Any])?.count == 1)
        }
    }
}
