import BerthSQLite
import Foundation
import Testing

@Suite struct HardeningTests {
    /// GRDB's pool switches WAL connections to synchronous=NORMAL; the store must undo that and say so.
    @Test func sqliteWriterRunsWithSynchronousFull() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("berth-sqlite-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let synced = try SQLiteMetadataStore(path: folder.path + "/synced.db", synchronous: true).effectiveSettings()
        #expect(synced.journalMode == "wal")
        #expect(synced.synchronous == 2)
        let relaxed = try SQLiteMetadataStore(path: folder.path + "/relaxed.db", synchronous: false).effectiveSettings()
        #expect(relaxed.synchronous == 1)
    }

    /// Only manifest types are stored and served back; every response says not to sniff.
    @Test func manifestMediaTypesAreNotReflected() async throws {
        try await withRegistry { registry in
            let config = Data("{}".utf8)
            try await registry.pushBlob("sec/app", config)
            let manifest = Fixtures.json([
                "schemaVersion": 2,
                "config": Fixtures.descriptor("application/vnd.oci.image.config.v1+json", config),
                "layers": [],
            ])
            for type in ["text/html", "application/javascript", "image/svg+xml; charset=utf-8"] {
                let reply = try await registry.request(.PUT, "/v2/sec/app/manifests/x", headers: [("Content-Type", type)],
                                                       body: manifest)
                #expect(reply.status == 400, "\(type)")
                #expect(reply.errorCode == "MANIFEST_INVALID", "\(type)")
            }
            let stored = try await registry.request(.PUT, "/v2/sec/app/manifests/x",
                                                    headers: [("Content-Type", Fixtures.ociManifest)], body: manifest)
            #expect(stored.status == 201)
            let fetched = try await registry.request(.GET, "/v2/sec/app/manifests/x")
            #expect(fetched.header("Content-Type") == Fixtures.ociManifest)
            #expect(fetched.header("X-Content-Type-Options") == "nosniff")
            let missing = try await registry.request(.GET, "/v2/sec/app/blobs/sha256:" + String(repeating: "0", count: 64))
            #expect(missing.header("X-Content-Type-Options") == "nosniff")
        }
    }

    /// Thousands of references go through one fixed statement: a clear 400, not a 500 past SQLite's limits.
    @Test func manifestWithManyMissingLayers() async throws {
        try await withRegistry(configure: { $0.manifestMaxBytes = 16 << 20 }) { registry in
            let config = Data("{}".utf8)
            try await registry.pushBlob("many/app", config)
            let layers = (0..<40_000).map { i in
                ["mediaType": "application/vnd.oci.image.layer.v1.tar", "size": 1,
                 "digest": "sha256:" + String(format: "%064x", i)] as [String: Any]
            }
            let manifest = Fixtures.json([
                "schemaVersion": 2, "mediaType": Fixtures.ociManifest,
                "config": Fixtures.descriptor("application/vnd.oci.image.config.v1+json", config), "layers": layers,
            ])
            let reply = try await registry.request(.PUT, "/v2/many/app/manifests/big",
                                                   headers: [("Content-Type", Fixtures.ociManifest)], body: manifest)
            #expect(reply.status == 400)
            #expect(reply.errorCode == "MANIFEST_BLOB_UNKNOWN")
        }
    }

    /// Idle sessions expire in the background; one that keeps receiving bytes stays.
    @Test func idleUploadSessionsExpire() async throws {
        let registry = try await TestRegistry.start { configuration in
            // Wide margins: the suite runs tests in parallel on small machines, where a sleep can overrun.
            configuration.uploadExpiry = .milliseconds(3000)
            configuration.uploadExpiryInterval = .milliseconds(200)
        }
        do {
            let idle = try await registry.request(.POST, "/v2/exp/app/blobs/uploads/")
            let active = try await registry.request(.POST, "/v2/exp/app/blobs/uploads/")
            guard let idleLocation = idle.header("Location"), var activeLocation = active.header("Location") else {
                throw FixtureError("no upload location")
            }
            var offset = 0
            for _ in 0..<10 {
                try await Task.sleep(for: .milliseconds(400))
                let chunk = Fixtures.random(10)
                let reply = try await registry.request(.PATCH, activeLocation, headers: [
                    ("Content-Range", "\(offset)-\(offset + 9)"), ("Content-Type", "application/octet-stream"),
                ], body: chunk)
                #expect(reply.status == 202)
                activeLocation = reply.header("Location") ?? activeLocation
                offset += 10
            }
            let expired = try await registry.request(.GET, idleLocation)
            #expect(expired.status == 404)
            #expect(expired.errorCode == "BLOB_UPLOAD_UNKNOWN")
            let kept = try await registry.request(.GET, activeLocation)
            #expect(kept.status == 204)
            let staged = try FileManager.default.contentsOfDirectory(atPath: registry.root + "/uploads")
            #expect(staged.count == 1)
        } catch {
            await registry.destroy()
            throw error
        }
        await registry.destroy()
    }
}
