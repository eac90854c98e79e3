import BerthCore
@testable import BerthPostgres
import Foundation
import PostgresNIO
import Testing

/// The shared driver suite, continued: upload sessions and background jobs.
extension MetadataStoreBehaviourTests {
    // MARK: Upload sessions

    @Test(arguments: Driver.available) func uploadSessionsAdvanceByCompareAndSet(driver: Driver) async throws {
        try await Self.withStore(driver) { store in
            let app = Self.repo("team/app"), id = UploadID()
            #expect(try await store.uploadSession(id) == nil)
            try await store.createUpload(id, in: app, by: "ann")
            let fresh = try #require(try await store.uploadSession(id))
            #expect(fresh.repository == app)
            #expect(fresh.size == 0)
            #expect(fresh.segments.isEmpty)

            let first = UploadSegment(start: 0, end: 10, name: "a")
            #expect(try await store.advanceUpload(id, from: 0, adding: first))
            // A second request that staged bytes at the same offset loses.
            #expect(try await store.advanceUpload(id, from: 0, adding: UploadSegment(start: 0, end: 7, name: "b")) == false)
            let second = UploadSegment(start: 10, end: 25, name: "")
            #expect(try await store.advanceUpload(id, from: 10, adding: second))
            let advanced = try #require(try await store.uploadSession(id))
            #expect(advanced.size == 25)
            #expect(advanced.segments == [first, second])
            #expect(try await store.advanceUpload(UploadID(), from: 0, adding: first) == false)

            // Of many concurrent advances from one size, exactly one wins.
            let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
                for n in 0..<8 {
                    group.addTask {
                        try await store.advanceUpload(id, from: 25, adding: UploadSegment(start: 25, end: 30 + Int64(n), name: "c\(n)"))
                    }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(wins == 1)
            let raced = try #require(try await store.uploadSession(id))
            #expect(raced.segments.count == 3)
            #expect(raced.size == raced.segments.last?.end)

            try await store.deleteUpload(id)
            #expect(try await store.uploadSession(id) == nil)
            try await store.deleteUpload(id)  // again: no error
        }
    }

    @Test(arguments: Driver.available) func idleUploadsAreThoseThatDidNotMove(driver: Driver) async throws {
        try await Self.withStore(driver) { store in
            let app = Self.repo("team/app"), quiet = UploadID(), busy = UploadID()
            try await store.createUpload(quiet, in: app, by: "ann")
            try await store.createUpload(busy, in: app, by: "ann")
            #expect(Set(try await store.uploadIDs()) == [quiet, busy])
            #expect(try await store.uploadIDs(idleSince: Date(timeIntervalSinceNow: -3600)).isEmpty)
            try await Task.sleep(for: .milliseconds(20))
            let cutoff = Date()
            try await Task.sleep(for: .milliseconds(20))
            #expect(try await store.advanceUpload(busy, from: 0, adding: UploadSegment(start: 0, end: 1, name: "")))
            #expect(try await store.uploadIDs(idleSince: cutoff) == [quiet])
            #expect(Set(try await store.uploadIDs(idleSince: Date(timeIntervalSinceNow: 3600))) == [quiet, busy])
        }
    }

    // MARK: Operations

    @Test(arguments: Driver.available) func jobsRunOneAtATime(driver: Driver) async throws {
        try await Self.withStore(driver) { store in
            try await store.checkHealth()
            let outer = try await store.exclusively("gc") {
                let inner = try await store.exclusively("gc") { 1 }
                let other = try await store.exclusively("expire-uploads") { 2 }
                return [inner, other]
            }
            #expect(outer == [nil, 2])
            #expect(try await store.exclusively("gc") { 3 } == 3)  // released
            await #expect(throws: CancellationError.self) {
                try await store.exclusively("gc") { () throws -> Int in throw CancellationError() }
            }
            #expect(try await store.exclusively("gc") { 4 } == 4)  // released after a throw too
        }
    }

    @Test(.enabled(if: postgresURL != nil)) func postgresJobsAreExclusiveAcrossInstances() async throws {
        try await Self.withPostgres(count: 2) { stores in
            let (first, second) = (stores[0], stores[1])
            let result = try await first.exclusively("gc") {
                try await second.exclusively("gc") { "ran" }
            }
            #expect(result == .some(nil))
            #expect(try await second.exclusively("gc") { "ran" } == "ran")
            // Migrations ran twice (each prepare) and each applied once.
            #expect(try await first.query("SELECT count(*) FROM schema_migrations").first?.decode(Int.self)
                    == PostgresSchema.migrations.count)
            let settings = try await first.effectiveSettings()
            #expect(settings.synchronousCommit != "off")
        }
    }

    @Test func postgresURLsParse() throws {
        let c = try PostgresMetadataStore.Configuration(
            url: "postgres://us%40er:p%3Ass@db.example:6543/reg?sslmode=disable&schema=berth&pool_size=7")
        #expect(c.client.username == "us@er")
        #expect(c.client.password == "p:ss")
        #expect(c.client.host == "db.example")
        #expect(c.client.port == 6543)
        #expect(c.client.database == "reg")
        #expect(c.client.options.maximumConnections == 7)
        #expect(c.schema == "berth")
        #expect(throws: (any Error).self) { try PostgresMetadataStore.Configuration(url: "mysql://x/y") }
        #expect(throws: (any Error).self) { try PostgresMetadataStore.Configuration(url: "postgres://x/y?schema=Bad;") }
    }
}
