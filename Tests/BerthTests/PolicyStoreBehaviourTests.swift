import BerthCore
import Foundation
import Testing

/// Repository policies in the metadata drivers (the shared suite's drivers), and tag patterns.
extension MetadataStoreBehaviourTests {
    @Test(arguments: Driver.available) func policiesAreSetPerKindAndScope(driver: Driver) async throws {
        try await Self.withStore(driver) { store in
            try await store.setPolicy("immutability", scope: "team", document: Data("{\"immutable\":true}".utf8), by: "ann")
            try await store.setPolicy("immutability", scope: "team/app", document: Data("{\"immutable\":false}".utf8), by: "ann")
            try await store.setPolicy("lifecycle", scope: "team", document: Data("{}".utf8), by: "ann")
            let found = try await store.policies("immutability", scopes: ["team/app", "team", "other"])
            #expect(found.mapValues { String(decoding: $0, as: UTF8.self) }
                    == ["team": "{\"immutable\":true}", "team/app": "{\"immutable\":false}"])
            try await store.setPolicy("immutability", scope: "team", document: Data("{\"immutable\":false}".utf8), by: "bob")
            try await store.setPolicy("immutability", scope: "team/app", document: nil, by: "bob")
            #expect(try await store.policies("immutability").mapValues { String(decoding: $0, as: UTF8.self) }
                    == ["team": "{\"immutable\":false}"])
            #expect(try await store.policies("lifecycle").keys.sorted() == ["team"])
        }
    }

    @Test(arguments: Driver.available) func protectedTagsHoldInTheTransaction(driver: Driver) async throws {
        try await Self.withStore(driver) { store in
            let repo = Self.repo("team/app")
            let first = Self.manifest(repo, "first"), second = Self.manifest(repo, "second")
            let all: @Sendable (String) -> Bool = { _ in true }
            try await store.putManifest(first, tags: ["v1"], protected: all)
            await #expect(throws: StorageError.protectedTag("v1")) {
                try await store.putManifest(second, tags: ["v2", "v1"], protected: all)
            }
            // Refused as a whole: neither the manifest nor its other tag was stored.
            #expect(try await store.manifest(.digest(second.digest), in: repo) == nil)
            #expect(try await store.manifest(.tag("v2"), in: repo) == nil)
            try await store.putManifest(first, tags: ["v1"], protected: all)  // the same manifest again
            try await store.putManifest(second, tags: ["latest"], protected: { $0 != "latest" })
            try await store.putManifest(first, tags: ["latest"], protected: { $0 != "latest" })
            #expect(try await store.manifest(.tag("latest"), in: repo)?.digest == first.digest)
            await #expect(throws: StorageError.protectedTag("v1")) {
                _ = try await store.deleteManifest(first.digest, in: repo, protected: { $0 == "v1" })
            }
            #expect(try await store.manifest(.tag("v1"), in: repo)?.digest == first.digest)
            #expect(try await store.deleteManifest(second.digest, in: repo, protected: all))
            #expect(try await store.deleteManifest(first.digest, in: repo, protected: { _ in false }))
        }
    }
}

@Suite struct TagPatternTests {
    @Test func wildcardsMatchWholeTags() throws {
        let cases: [(String, String, Bool)] = [
            ("latest", "latest", true), ("latest", "latest2", false), ("dev-*", "dev-", true), ("dev-*", "dev-42", true),
            ("dev-*", "prod-dev-1", false), ("*-rc*", "1.0-rc2", true), ("*-rc*", "1.0", false), ("*", "anything", true),
            ("v*.*", "v1.2", true), ("v*.*", "v12", false), ("a*b*c", "abc", true), ("a*b*c", "acb", false),
            ("*prod", "prod", true), ("*prod", "preprod", true), ("*prod", "prods", false),
        ]
        for (pattern, tag, expected) in cases {
            #expect(try TagPattern(validating: pattern).matches(tag) == expected, "\(pattern) ~ \(tag)")
        }
    }

    @Test func invalidPatternsAreRefused() {
        for bad in ["", "has space", "a/b", "*****", String(repeating: "a", count: 129), "tag?"] {
            #expect(throws: RegistryError.self) { try TagPattern(validating: bad) }
        }
        let rule = TagImmutability(immutable: true, exclusions: [try! TagPattern(validating: "latest")])
        #expect(rule.protects("v1") && !rule.protects("latest"))
        #expect(!TagImmutability(immutable: false).protects("v1"))
    }
}

extension MetadataStoreBehaviourTests {
    @Test(arguments: Driver.available) func pullTimesKeepTheLatestAndListWithManifests(driver: Driver) async throws {
        try await Self.withStore(driver) { store in
            let repo = Self.repo("team/app")
            let pulled = Self.manifest(repo, "pulled"), never = Self.manifest(repo, "never")
            try await store.putManifest(pulled, tags: ["v1"])
            try await store.putManifest(never, tags: [])
            let early = Date(timeIntervalSince1970: 1_700_000_100), late = Date(timeIntervalSince1970: 1_700_000_200)
            try await store.recordPulls([ManifestPull(repository: repo, digest: pulled.digest, at: late),
                                         ManifestPull(repository: repo, digest: Self.digest("unknown"), at: late)])
            try await store.recordPulls([ManifestPull(repository: repo, digest: pulled.digest, at: early)])
            let entries = Dictionary(uniqueKeysWithValues: try await store.manifestEntries(in: repo).map { ($0.digest, $0) })
            #expect(entries[pulled.digest]?.lastPulledAt == late)
            #expect(entries[pulled.digest]?.tags == ["v1"])
            #expect(entries[never.digest]?.lastPulledAt == nil)
            #expect(entries[never.digest]?.listed == false)
        }
    }
}
