import Foundation
import Testing

/// Hostile and malformed requests get a spec error with a 4xx, never a 500, and never escape the storage root.
@Suite struct MalformedInputTests {
    @Test func malformedPathsNamesAndDigests() async throws {
        try await withRegistry { registry in
            let digest = Fixtures.sha256(Data())
            let cases: [(String, String, Set<Int>, String?)] = [
                ("GET", "/v2/UPPER/tags/list", [400], "NAME_INVALID"),
                ("GET", "/v2/a/../../etc/blobs/\(digest)", [400], "NAME_INVALID"),
                ("GET", "/v2/%2e%2e/blobs/\(digest)", [400], "NAME_INVALID"),
                ("GET", "/v2/a//b/manifests/latest", [400], "NAME_INVALID"),
                ("GET", "/v2/-a/manifests/latest", [400], "NAME_INVALID"),
                ("GET", "/v2/a/blobs/sha256:1234", [400], "DIGEST_INVALID"),
                ("GET", "/v2/a/blobs/md5:d41d8cd98f00b204e9800998ecf8427e", [400], "DIGEST_INVALID"),
                ("GET", "/v2/a/blobs/../../../../etc/passwd", [400, 404], nil),
                ("GET", "/v2/a/manifests/bad%20tag", [400], "MANIFEST_INVALID"),
                ("POST", "/v2/a/blobs/uploads/?digest=nonsense", [400], "DIGEST_INVALID"),
                ("POST", "/v2/a/blobs/uploads/?mount=nonsense&from=b", [400], "DIGEST_INVALID"),
                ("PUT", "/v2/a/tags/list", [405], "UNSUPPORTED"),
                ("GET", "/v2/nothing-here", [404], nil),
                ("GET", "/v2/_catalog?n=abc", [400], nil),
                ("GET", "/v2/\(String(repeating: "a/", count: 200))x/tags/list", [400], "NAME_INVALID"),
            ]
            for (method, path, statuses, code) in cases {
                let reply = try await registry.request(.init(rawValue: method), path)
                #expect(statuses.contains(reply.status), "\(method) \(path) -> \(reply.status)")
                if let code { #expect(reply.errorCode == code, "\(method) \(path)") }
            }
            // The storage root holds only what Berth put there.
            // (Background jobs' lock files, metadata.db.job-<name>.lock, are Berth's too.)
            let entries = Set(try FileManager.default.contentsOfDirectory(atPath: registry.root))
                .filter { !($0.hasPrefix("metadata.db.job-") && $0.hasSuffix(".lock")) }
            #expect(entries.isSubset(of: ["blobs", "uploads", "metadata.db", "metadata.db-wal", "metadata.db-shm"]))
        }
    }

    @Test func malformedContentRange() async throws {
        try await withRegistry { registry in
            let location = try #require(try await registry.request(.POST, "/v2/cr/blobs/uploads/").header("Location"))
            for range in ["abc", "10-5", "-1-4", "0-"] {
                let reply = try await registry.request(.PATCH, location, headers: [("Content-Range", range)], body: Data([1]))
                #expect(reply.status == 416 || reply.status == 400, "\(range)")
            }
            #expect(try await registry.request(.GET, location).header("Range") == "0-0")
        }
    }
}
