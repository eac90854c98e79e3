import BerthCore
@testable import BerthPostgres
import BerthServer
import Foundation
import PostgresNIO
import Testing

/// PostgreSQL connections carry a statement and a lock timeout (read back from the server: a library could
/// reset what the configuration asks for), the maintenance work lifts them, and the TLS modes say what they
/// protect.
extension MetadataStoreBehaviourTests {
    @Test(.enabled(if: postgresURL != nil)) func postgresConnectionsCarryTheirLimits() async throws {
        try await Self.withPostgres(count: 1) { stores in
            let store = stores[0]
            // Every pooled connection, not only the first: four held at once (the pool's size).
            let seen = try await withThrowingTaskGroup(of: [String].self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        try await store.client.withConnection { connection in
                            let statement = try await connection.rows("SHOW statement_timeout", store.logger)[0].decode(String.self)
                            let lock = try await connection.rows("SHOW lock_timeout", store.logger)[0].decode(String.self)
                            try await Task.sleep(for: .milliseconds(200))
                            return [statement, lock]
                        }
                    }
                }
                return try await group.reduce(into: Set<[String]>()) { $0.insert($1) }
            }
            #expect(seen == [["1min", "10s"]])
            // Migrations and garbage collection's listings run under the maintenance limit, for their
            // transaction only.
            let lifted = try await store.maintenance { try await $0.rows("SHOW statement_timeout", store.logger)[0].decode(String.self) }
            #expect(lifted == "30min")
            #expect(try await store.query("SHOW statement_timeout")[0].decode(String.self) == "1min")
        }
    }

    @Test(.enabled(if: postgresURL != nil)) func aLockHeldTooLongFailsTheWriteInsteadOfHangingIt() async throws {
        try await Self.withPostgres(count: 1, configure: { configuration in
            var limits = PostgresMetadataStore.Configuration.Limits()
            limits.statementTimeout = .seconds(30)
            limits.lockTimeout = .milliseconds(500)
            try configuration.setLimits(limits)
        }) { stores in
            let store = stores[0], repo = Self.repo("team/app"), image = Self.manifest(repo, "image")
            try await store.putManifest(image, tags: ["v1"])
            #expect(try await store.query("SHOW lock_timeout")[0].decode(String.self) == "500ms")
            try await store.client.withConnection { holder in
                try await holder.query("BEGIN", logger: store.logger)
                try await holder.query("""
                    SELECT 1 FROM manifests WHERE repository = \(repo.value) AND digest = \(image.digest.description) FOR UPDATE
                    """, logger: store.logger)
                let started = ContinuousClock.now
                var state: String?
                do {
                    _ = try await store.deleteManifest(image.digest, in: repo)
                } catch let error as PSQLError {
                    state = error.serverInfo?[.sqlState]
                }
                try await holder.query("ROLLBACK", logger: store.logger)
                #expect(state == "55P03")  // lock_not_available
                #expect(ContinuousClock.now - started < .seconds(10))
            }
            #expect(try await store.manifest(.tag("v1"), in: repo)?.digest == image.digest)
        }
    }

    @Test func limitsAreConfigurable() throws {
        var configuration = Configuration()
        try configuration.apply(yaml: """
            metadata:
              driver: postgres
              postgres:
                url: postgres://berth@db.internal/berth?sslmode=verify-full
                statement_timeout: 90s
                lock_timeout: 0s
                maintenance_timeout: 2h
            """)
        #expect(configuration.metadata.postgresStatementTimeout == .seconds(90))
        #expect(configuration.metadata.postgresLockTimeout == .zero)
        #expect(configuration.metadata.postgresMaintenanceTimeout == .seconds(7200))
        #expect(throws: ConfigurationError.self) {
            var bad = Configuration()
            try bad.apply(yaml: "metadata:\n  postgres:\n    statement_timeout: soon\n")
        }
        var settings = try PostgresMetadataStore.Configuration(url: "postgres://berth@db.internal/berth")
        let startup = { Dictionary(settings.client.options.additionalStartupParameters, uniquingKeysWith: { $1 }) }
        #expect(startup()["statement_timeout"] == "60000" && startup()["lock_timeout"] == "10000")
        var limits = PostgresMetadataStore.Configuration.Limits()
        limits.statementTimeout = .milliseconds(1500)
        try settings.setLimits(limits)
        #expect(startup()["statement_timeout"] == "1500")
        #expect(settings.client.options.additionalStartupParameters.filter { $0.0 == "statement_timeout" }.count == 1)
        limits.lockTimeout = .seconds(-1)
        #expect(throws: PostgresConfigurationError.self) { try settings.setLimits(limits) }
    }

    @Test func tlsModesSayWhatTheyProtect() throws {
        func weakness(_ url: String) throws -> String? { try PostgresMetadataStore.Configuration(url: url).tlsWeakness }
        #expect(try weakness("postgres://berth@db.internal/berth?sslmode=verify-full") == nil)
        #expect(try weakness("postgres://berth@db.internal/berth")?.contains("verify-full") == true)  // prefer
        #expect(try weakness("postgres://berth@db.internal/berth?sslmode=require")?.contains("without checking") == true)
        #expect(try weakness("postgres://berth@db.internal/berth?sslmode=verify-ca")?.contains("db.internal") == true)
        #expect(try weakness("postgres://berth@db.internal/berth?sslmode=disable")?.contains("unencrypted") == true)
        #expect(try weakness("postgres://berth@127.0.0.1/berth?sslmode=disable") == nil)
        #expect(try weakness("postgres://berth@localhost/berth?host=/run/postgresql") == nil)
        #expect(throws: PostgresConfigurationError.self) {
            try PostgresMetadataStore.Configuration(url: "postgres://berth@db.internal/berth?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem")
        }
        #expect(throws: PostgresConfigurationError.self) {
            try PostgresMetadataStore.Configuration(url: "postgres://berth@db.internal/berth?sslmode=verify-full&sslcert=/tmp/c.pem")
        }
    }
}
