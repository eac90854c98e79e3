import BerthAuth
import BerthCore
@testable import BerthPostgres
import BerthSQLite
import Foundation
import PostgresNIO
import Testing

/// One behavioural contract for every metadata driver: each test runs against a fresh SQLite store, and against
/// a fresh PostgreSQL schema when `BERTH_TEST_POSTGRES_URL` is set (e.g.
/// `postgres://berth@127.0.0.1:15432/postgres?sslmode=disable`).
@Suite struct MetadataStoreBehaviourTests {
    enum Driver: String, Sendable, CustomTestStringConvertible {
        case sqlite, postgres
        var testDescription: String { rawValue }

        static var available: [Driver] { postgresURL == nil ? [.sqlite] : [.sqlite, .postgres] }
    }

    typealias Store = any MetadataStore & AccessStore

    static var postgresURL: String? { ProcessInfo.processInfo.environment["BERTH_TEST_POSTGRES_URL"] }

    /// Runs `body` with a fresh store of `driver`, removed afterwards.
    static func withStore(_ driver: Driver, _ body: (Store) async throws -> Void) async throws {
        switch driver {
        case .sqlite:
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("berth-meta-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            try await body(try SQLiteMetadataStore(path: folder.path + "/metadata.db", synchronous: false))
        case .postgres:
            try await withPostgres(count: 1) { try await body($0[0]) }
        }
    }

    /// `count` PostgreSQL stores (separate connection pools, as separate instances) over one fresh schema,
    /// dropped afterwards.
    static func withPostgres(count: Int, blobCache: Bool = false,
                             configure: (inout PostgresMetadataStore.Configuration) throws -> Void = { _ in },
                             _ body: ([PostgresMetadataStore]) async throws -> Void) async throws {
        let url = try #require(postgresURL)
        var configuration = try PostgresMetadataStore.Configuration(url: url, poolSize: 4)
        configuration.blobCache = blobCache
        try configure(&configuration)
        try configuration.setSchema("berth_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: ""))
        var logger = Logger(label: "berth.postgres.test")
        logger.logLevel = .error
        let stores = (0..<count).map { _ in PostgresMetadataStore(configuration: configuration, logger: logger) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for store in stores { group.addTask { await store.run() } }
            var failure: (any Error)?
            do {
                for store in stores { try await store.prepare() }
                try await body(stores)
            } catch {
                failure = error
            }
            _ = try? await stores[0].query("DROP SCHEMA IF EXISTS \(unescaped: configuration.schema!) CASCADE")
            group.cancelAll()
            if let failure { throw failure }
        }
    }

    static func repo(_ name: String) -> RepositoryName { try! RepositoryName(validating: name) }
    static func digest(_ text: String) -> Digest { Digest.of(Data(text.utf8)) }

    static func manifest(_ repository: RepositoryName, _ name: String, blobs: [Digest] = [], children: [Digest] = [],
                         subject: Digest? = nil, artifactType: String? = nil,
                         annotations: [String: String]? = nil) -> ManifestRecord {
        let content = Data("{\"name\":\"\(name)\"}".utf8)
        return ManifestRecord(repository: repository, digest: Digest.of(content),
                              mediaType: "application/vnd.oci.image.manifest.v1+json", content: content,
                              artifactType: artifactType, subject: subject, annotations: annotations, blobs: blobs,
                              children: children, pushedAt: Date(timeIntervalSince1970: 1_700_000_000), pushedBy: "ann")
    }

    // MARK: Blobs

    @Test(arguments: Driver.available) func blobsAreVisibleWhereAddedOrMounted(driver: Driver) async throws {
        try await Self.withStore(driver) { store in
            let app = Self.repo("team/app"), other = Self.repo("team/other"), third = Self.repo("zeta/app")
            let blob = Self.digest("layer")
            #expect(try await store.blobSize(blob, in: app) == nil)
            try await store.addBlob(blob, size: 5, to: app, completing: nil, by: "ann")
            try await store.addBlob(blob, size: 5, to: app, completing: nil, by: "ann")  // again: no error
            #expect(try await store.blobSize(blob, in: app) == 5)
            #expect(try await store.blobSize(blob, in: other) == nil)

            #expect(try await store.mountBlob(blob, from: other, to: third, by: "ann") == false)
            #expect(try await store.blobSize(blob, in: third) == nil)
            #expect(try await store.mountBlob(blob, from: app, to: other, by: "bob"))
            #expect(try await store.mountBlob(blob, from: app, to: other, by: "bob"))
            #expect(try await store.blobSize(blob, in: other) == 5)
            #expect(try await store.repositories(holding: blob, limit: 10) == [app, other])
            #expect(try await store.repositories(holding: blob, limit: 1) == [app])
            // A mount creates the target repository, as a push does.
            #expect(try await store.repositories(after: nil, limit: 10) == ["team/app", "team/other"])

            #expect(try await store.removeBlob(blob, from: app))
            #expect(try await store.removeBlob(blob, from: app) == false)
            #expect(try await store.blobSize(blob, in: app) == nil)
            #expect(try await store.blobSize(blob, in: other) == 5)
            #expect(try await store.repositories(holding: blob, limit: 10) == [other])
        }
    }

    @Test(arguments: Driver.available) func addingABlobCanCompleteItsUpload(driver: Driver) async throws {
        try await Self.withStore(driver) { store in
            let app = Self.repo("team/app"), id = UploadID()
            try await store.createUpload(id, in: app, by: "ann")
            try await store.addBlob(Self.digest("x"), size: 1, to: app, completing: id, by: "ann")
            #expect(try await store.uploadSession(id) == nil)
            #expect(try await store.blobSize(Self.digest("x"), in: app) == 1)
        }
    }

    // MARK: Manifests

    @Test(arguments: Driver.available) func manifestWithMissingReferencesStoresNothing(driver: Driver) async throws {
        try await Self.withStore(driver) { store in
            let app = Self.repo("team/app"), present = Self.digest("config"), absent = Self.digest("layer")
            try await store.addBlob(present, size: 3, to: app, completing: nil, by: "ann")
            let child = Self.manifest(app, "child")
            let index = Self.manifest(app, "index", blobs: [present, absent], children: [child.digest])
            await #expect(throws: StorageError.missingReferences(blobs: [absent], manifests: [child.digest])) {
                try await store.putManifest(index, tags: ["latest"])
            }
            #expect(try await store.manifest(.digest(index.digest), in: app) == nil)
            #expect(try await store.manifest(.tag("latest"), in: app) == nil)
            #expect(try await store.tags(in: app, after: nil, limit: 10) == [])

            // The same blob visible in another repository does not count.
            let elsewhere = Self.repo("team/other")
            await #expect(throws: StorageError.missingReferences(blobs: [present], manifests: [])) {
                try await store.putManifest(Self.manifest(elsewhere, "m", blobs: [present]), tags: [])
            }

            try await store.addBlob(absent, size: 4, to: app, completing: nil, by: "ann")
            try await store.putManifest(child, tags: [])
            try await store.putManifest(index, tags: ["latest"])
            let stored = try #require(try await store.manifest(.tag("latest"), in: app))
            #expect(stored.digest == index.digest)
            #expect(stored.content == index.content)
            #expect(stored.mediaType == index.mediaType)
            #expect(stored.pushedBy == "ann")
            #expect(stored.pushedAt == index.pushedAt)
            try await store.putManifest(index, tags: ["latest"])  // again: no error
        }
    }

    @Test(arguments: Driver.available) func tagsAndRepositoriesListInByteOrderWithPagination(driver: Driver) async throws {
        try await Self.withStore(driver) { store in
            let app = Self.repo("team/app")
            #expect(try await store.tags(in: app, after: nil, limit: 10) == nil)
            let one = Self.manifest(app, "one"), two = Self.manifest(app, "two")
            try await store.putManifest(one, tags: ["b", "latest", "A"])
            try await store.putManifest(two, tags: ["a", "v1.0", "Z", "v1.0-rc"])
            let all = ["A", "Z", "a", "b", "latest", "v1.0", "v1.0-rc"]
            #expect(try await store.tags(in: app, after: nil, limit: 100) == all)
            #expect(try await store.tags(in: app, after: nil, limit: 2) == ["A", "Z"])
            #expect(try await store.tags(in: app, after: "Z", limit: 2) == ["a", "b"])
            #expect(try await store.tags(in: app, after: "latest", limit: 10) == ["v1.0", "v1.0-rc"])
            #expect(try await store.tags(in: app, after: "v1.0-rc", limit: 10) == [])
            // A tag moves to the manifest pushed last with it.
            try await store.putManifest(two, tags: ["latest"])
            #expect(try await store.manifest(.tag("latest"), in: app)?.digest == two.digest)

            for name in ["team/app", "team/x", "a/b", "team/app-2", "team/app/sub", "b"] {
                try await store.putManifest(Self.manifest(Self.repo(name), "r"), tags: [])
            }
            let names = ["a/b", "b", "team/app", "team/app-2", "team/app/sub", "team/x"]
            #expect(try await store.repositories(after: nil, limit: 100) == names)
            #expect(try await store.repositories(after: "b", limit: 2) == ["team/app", "team/app-2"])
            #expect(try await store.repositories(after: "team/app/sub", limit: 5) == ["team/x"])
        }
    }

    @Test(arguments: Driver.available) func deletingManifestsAndTags(driver: Driver) async throws {
        try await Self.withStore(driver) { store in
            let app = Self.repo("team/app")
            let one = Self.manifest(app, "one"), two = Self.manifest(app, "two")
            try await store.putManifest(one, tags: ["latest", "v1"])
            try await store.putManifest(two, tags: ["v2"])
            #expect(try await store.deleteTag("v1", in: app))
            #expect(try await store.deleteTag("v1", in: app) == false)
            #expect(try await store.manifest(.digest(one.digest), in: app) != nil)
            #expect(try await store.deleteManifest(one.digest, in: app))
            #expect(try await store.deleteManifest(one.digest, in: app) == false)
            #expect(try await store.manifest(.digest(one.digest), in: app) == nil)
            #expect(try await store.manifest(.tag("latest"), in: app) == nil)
            #expect(try await store.tags(in: app, after: nil, limit: 10) == ["v2"])
            // The repository stays known (its tag list is empty, not absent).
            #expect(try await store.deleteManifest(two.digest, in: app))
            #expect(try await store.tags(in: app, after: nil, limit: 10) == [])
        }
    }

    @Test(arguments: Driver.available) func referrersFilterBySubjectAndArtifactType(driver: Driver) async throws {
        try await Self.withStore(driver) { store in
            let app = Self.repo("team/app"), other = Self.repo("team/other")
            let image = Self.manifest(app, "image")
            try await store.putManifest(image, tags: [])
            let signature = Self.manifest(app, "sig", subject: image.digest, artifactType: "application/vnd.sig",
                                          annotations: ["org.example.b": "2", "org.example.a": "1"])
            let sbom = Self.manifest(app, "sbom", subject: image.digest, artifactType: "application/spdx+json")
            let unrelated = Self.manifest(app, "unrelated", artifactType: "application/vnd.sig")
            let foreign = Self.manifest(other, "foreign", subject: image.digest, artifactType: "application/vnd.sig")
            for m in [signature, sbom, unrelated, foreign] { try await store.putManifest(m, tags: []) }

            let all = try await store.referrers(of: image.digest, in: app, artifactType: nil)
            #expect(all.map(\.digest) == [signature.digest, sbom.digest].map(\.description).sorted())
            let signatures = try await store.referrers(of: image.digest, in: app, artifactType: "application/vnd.sig")
            #expect(signatures.count == 1)
            let found = try #require(signatures.first)
            #expect(found.digest == signature.digest.description)
            #expect(found.size == Int64(signature.content.count))
            #expect(found.mediaType == signature.mediaType)
            #expect(found.artifactType == "application/vnd.sig")
            #expect(found.annotations == ["org.example.a": "1", "org.example.b": "2"])
            #expect(try await store.referrers(of: image.digest, in: app, artifactType: "none/such").isEmpty)
            #expect(try await store.referrers(of: signature.digest, in: app, artifactType: nil).isEmpty)
        }
    }

    // MARK: Access

    @Test(arguments: Driver.available) func accessChangesBumpTheGeneration(driver: Driver) async throws {
        try await Self.withStore(driver) { store in
            var generation = try await store.accessGeneration()
            func bumped() async throws -> Bool {
                let now = try await store.accessGeneration()
                defer { generation = now }
                return now > generation
            }
            #expect(try await store.addUser(UserRecord(name: "ann", passwordHash: "h1", admin: false)))
            #expect(try await bumped())
            #expect(try await store.addUser(UserRecord(name: "ann", passwordHash: "h2", admin: true)) == false)
            #expect(try await store.addUser(UserRecord(name: "root", passwordHash: "h3", admin: true)))
            #expect(try await store.addNamespace("team", visibility: .private))
            #expect(try await store.addNamespace("team", visibility: .public) == false)
            #expect(try await store.setVisibility("team", .public))
            #expect(try await store.setVisibility("ghost", .public) == false)
            #expect(try await store.setRole(.writer, of: "ann", in: "team"))
            #expect(try await store.setRole(.maintainer, of: "ann", in: "team"))
            #expect(try await bumped())

            let now = Date()
            let token = AccessTokenRecord(id: "t1", user: "ann", scopes: [try TokenScope(parsing: "namespace:team:pull")],
                                          createdAt: now, expiresAt: now.addingTimeInterval(3600), secretHash: "s1")
            let older = AccessTokenRecord(id: "t0", user: "root", scopes: [], createdAt: now.addingTimeInterval(-60),
                                          expiresAt: now.addingTimeInterval(3600), secretHash: "s0")
            try await store.addAccessToken(token)
            try await store.addAccessToken(older)
            #expect(try await bumped())
            #expect(try await store.accessTokens(of: nil).map(\.id) == ["t1", "t0"])
            #expect(try await store.accessTokens(of: "ann").map(\.id) == ["t1"])

            var data = try await store.loadAccess()
            #expect(data.generation == generation)
            #expect(data.users["ann"] == UserRecord(name: "ann", passwordHash: "h1", admin: false))
            #expect(data.users["root"]?.admin == true)
            #expect(data.namespaces == ["team": .public])
            #expect(data.members == ["team": ["ann": .maintainer]])
            #expect(Set(data.tokens.keys) == ["t1", "t0"])
            #expect(data.tokens["t1"]?.scopes.map(\.description) == ["namespace:team:pull"])

            #expect(try await store.revokeAccessToken("t1"))
            #expect(try await store.revokeAccessToken("t1") == false)
            #expect(try await bumped())
            #expect(try await store.loadAccess().tokens.keys.sorted() == ["t0"])

            try await store.addRefreshToken(RefreshTokenRecord(id: "r1", user: "ann", secretHash: "rs",
                                                               expiresAt: now.addingTimeInterval(60)))
            #expect(try await store.refreshToken("r1")?.user == "ann")
            #expect(try await store.setPassword("ann", hash: "h9"))
            #expect(try await store.setPassword("ghost", hash: "h9") == false)
            #expect(try await store.refreshToken("r1") == nil)

            #expect(try await store.setRole(nil, of: "ann", in: "team"))
            #expect(try await store.setRole(nil, of: "ann", in: "team") == false)
            #expect(try await store.setRole(.reader, of: "root", in: "team"))
            #expect(try await store.removeUser("root"))
            #expect(try await store.removeUser("root") == false)
            #expect(try await bumped())
            data = try await store.loadAccess()
            #expect(data.users.keys.sorted() == ["ann"])
            #expect(data.users["ann"]?.passwordHash == "h9")
            #expect(data.members.isEmpty)
            #expect(data.tokens.isEmpty)  // root's token was revoked with them
        }
    }

    @Test(arguments: Driver.available) func auditEventsPageNewestFirst(driver: Driver) async throws {
        try await Self.withStore(driver) { store in
            let base = Date(timeIntervalSince1970: 1_700_000_000)
            try await store.appendAudit((0..<5).map { n in
                AuditEvent(at: base.addingTimeInterval(Double(n)), actor: "ann", tokenID: n == 0 ? "t" : nil,
                           action: "push", target: "team/app:\(n)", address: "127.0.0.1", detail: nil)
            })
            let page = try await store.auditEvents(limit: 2, before: nil)
            #expect(page.map(\.target) == ["team/app:4", "team/app:3"])
            let next = try await store.auditEvents(limit: 10, before: try #require(page.last?.id))
            #expect(next.map(\.target) == ["team/app:2", "team/app:1", "team/app:0"])
            #expect(next.last?.tokenID == "t")
            #expect(next.last?.at == base)
            #expect(try await store.auditEvents(limit: 10, before: 999_999).count == 5)
        }
    }
}
