import Foundation
import Testing

@Suite struct MetricsTests {
    /// A scrape of `/metrics`: every sample line as `name{labels}` → value.
    struct Scrape {
        var samples: [String: Double]

        func value(_ series: String) -> Double { samples[series] ?? 0 }
        func requests(_ route: String, _ status: Int) -> Double {
            value(#"berth_http_requests_total{route="\#(route)",status="\#(status)"}"#)
        }
        func latencyCount(_ route: String) -> Double {
            value(#"berth_http_request_duration_seconds_count{route="\#(route)"}"#)
        }
        func uploads(_ event: String) -> Double { value(#"berth_upload_sessions_total{event="\#(event)"}"#) }
        var received: Double { value("berth_http_received_bytes_total") }
        var sent: Double { value("berth_http_sent_bytes_total") }
    }

    static func scrape(_ registry: TestRegistry) async throws -> Scrape {
        let reply = try await registry.request(.GET, "/metrics")
        #expect(reply.status == 200)
        #expect(reply.header("Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true)
        var samples: [String: Double] = [:]
        for line in String(decoding: reply.body, as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            samples[String(line[..<space])] = value
        }
        return Scrape(samples: samples)
    }

    @Test func pushAndPullAreCountedByRouteKind() async throws {
        try await withRegistry { registry in
            let before = try await Self.scrape(registry)
            let layer = Fixtures.random(50_000)
            let (manifest, digest) = try await registry.pushImage("metrics/app", tag: "v1", layers: [layer])
            let layerDigest = Fixtures.sha256(layer)
            #expect(try await registry.request(.GET, "/v2/metrics/app/manifests/v1").body == manifest)
            #expect(try await registry.request(.HEAD, "/v2/metrics/app/manifests/\(digest)").status == 200)
            #expect(try await registry.request(.GET, "/v2/metrics/app/blobs/\(layerDigest)").body == layer)
            #expect(try await registry.request(.HEAD, "/v2/metrics/app/blobs/\(layerDigest)").status == 200)
            #expect(try await registry.request(.GET, "/v2/metrics/app/blobs/sha256:\(String(repeating: "0", count: 64))").status == 404)
            let after = try await Self.scrape(registry)

            // Two monolithic blob pushes (config and layer), one manifest put, the pulls above.
            #expect(after.requests("upload_post", 201) - before.requests("upload_post", 201) == 2)
            #expect(after.requests("manifest_put", 201) - before.requests("manifest_put", 201) == 1)
            #expect(after.requests("manifest_get", 200) - before.requests("manifest_get", 200) == 1)
            #expect(after.requests("manifest_head", 200) - before.requests("manifest_head", 200) == 1)
            #expect(after.requests("blob_get", 200) - before.requests("blob_get", 200) == 1)
            #expect(after.requests("blob_head", 200) - before.requests("blob_head", 200) == 1)
            #expect(after.requests("blob_get", 404) - before.requests("blob_get", 404) == 1)
            #expect(after.latencyCount("blob_get") - before.latencyCount("blob_get") == 2)
            #expect(after.received - before.received >= Double(layer.count + manifest.count))
            #expect(after.sent - before.sent >= Double(layer.count + manifest.count))
            // The route kind, never the path: no repository name or digest in any series.
            #expect(!after.samples.keys.contains { $0.contains("metrics/app") || $0.contains("sha256") })
            // The scrape itself is counted, by the time of the next one.
            #expect(after.requests("metrics_get", 200) >= 1)
        }
    }

    @Test func uploadSessionsAreCounted() async throws {
        try await withRegistry { registry in
            let before = try await Self.scrape(registry)
            let data = Fixtures.random(10_000)
            let location = try await UploadTests.open(registry, "metrics/sessions")
            let patch = try await registry.request(.PATCH, location, headers: [
                ("Content-Range", "0-\(data.count - 1)"), ("Content-Type", "application/octet-stream"),
            ], body: data)
            #expect(patch.status == 202)
            #expect(try await registry.request(.PUT, "\(location)?digest=\(Fixtures.sha256(data))").status == 201)
            let cancelled = try await UploadTests.open(registry, "metrics/sessions")
            #expect(try await registry.request(.DELETE, cancelled).status == 204)
            let after = try await Self.scrape(registry)

            #expect(after.uploads("opened") - before.uploads("opened") == 2)
            #expect(after.uploads("completed") - before.uploads("completed") == 1)
            #expect(after.uploads("cancelled") - before.uploads("cancelled") == 1)
            #expect(after.requests("upload_patch", 202) - before.requests("upload_patch", 202) == 1)
            #expect(after.requests("upload_put", 201) - before.requests("upload_put", 201) == 1)
            #expect(after.requests("upload_delete", 204) - before.requests("upload_delete", 204) == 1)
            #expect(after.received - before.received >= Double(data.count))
        }
    }

    @Test func healthzAnswersOkWhenStoresAnswer() async throws {
        try await withRegistry { registry in
            let get = try await registry.request(.GET, "/healthz")
            #expect(get.status == 200)
            #expect(String(decoding: get.body, as: UTF8.self) == #"{"status":"ok"}"#)
            #expect(get.header("Content-Type") == "application/json")
            let head = try await registry.request(.HEAD, "/healthz")
            #expect(head.status == 200 && head.body.isEmpty)
            let scrape = try await Self.scrape(registry)
            #expect(scrape.value(#"berth_health_up{part="storage"}"#) == 1)
            #expect(scrape.value(#"berth_health_up{part="database"}"#) == 1)
        }
    }

    @Test func healthzIs503WhileStorageIsGone() async throws {
        try await withRegistry { registry in
            #expect(try await registry.request(.GET, "/healthz").status == 200)
            // The filesystem store checks that its blobs and uploads folders are there and usable; a moved
            // folder fails as a lost mount would (permission bits would not: the tests may run as root).
            let blobs = registry.root + "/blobs", moved = registry.root + "/blobs.moved"
            try FileManager.default.moveItem(atPath: blobs, toPath: moved)
            try await Task.sleep(for: .milliseconds(1100))  // past the cached result
            let broken = try await registry.request(.GET, "/healthz")
            #expect(broken.status == 503)
            let json = try #require(broken.json)
            #expect(json["status"] as? String == "unavailable")
            #expect(json["storage"] as? String == "error")
            #expect(json["database"] as? String == "ok")
            // The driver's message (with its path) is for the log, not for anyone probing.
            #expect(!String(decoding: broken.body, as: UTF8.self).contains(registry.root))
            #expect(try await registry.request(.HEAD, "/healthz").status == 503)
            let scrape = try await Self.scrape(registry)
            #expect(scrape.value(#"berth_health_up{part="storage"}"#) == 0)

            try FileManager.default.moveItem(atPath: moved, toPath: blobs)
            try await Task.sleep(for: .milliseconds(1100))
            #expect(try await registry.request(.GET, "/healthz").status == 200)
        }
    }
}
