import Foundation
import PostgresNIO

extension PostgresMetadataStore {
    /// Where the database is and how to use it, usually from a URL such as
    /// `postgres://user:pass@host:5432/berth?sslmode=disable`.
    public struct Configuration: Sendable {
        public var client: PostgresClient.Configuration
        /// Refuse to start when the server would acknowledge commits before they are on disk.
        public var durable: Bool
        /// A schema to keep Berth's tables in (created when missing); nil for the server's default search path.
        public var schema: String?
        /// Keep blob sizes in memory, coherent across instances (for servers; one-off commands need none).
        public var blobCache = false
        /// Limits every statement on every connection gets (startup parameters), so a stuck query or a lock
        /// that never comes back fails the request instead of holding a pooled connection forever.
        public private(set) var limits = Limits()
        /// Why the TLS settings do not protect the connection (nil when they do): `sslmode` below
        /// `verify-full` over TCP, which a server should warn about.
        public private(set) var tlsWeakness: String?

        /// `statement_timeout` and `lock_timeout` for ordinary work; `maintenance` replaces both for schema
        /// migrations and garbage collection's listings, which scan whole tables and may wait for another
        /// instance's migration. Zero means none, as in PostgreSQL.
        public struct Limits: Sendable, Equatable {
            public var statementTimeout: Duration = .seconds(60)
            public var lockTimeout: Duration = .seconds(10)
            public var maintenanceTimeout: Duration = .seconds(30 * 60)
            public init() {}
        }

        public init(client: PostgresClient.Configuration, durable: Bool = true, schema: String? = nil) throws {
            self.client = client
            self.durable = durable
            self.schema = nil
            try setSchema(schema)
            try setLimits(Limits())
        }

        /// Parses `postgres://` / `postgresql://` URLs. Query parameters: `sslmode` (`disable`, `allow`,
        /// `prefer`, `require`, `verify-ca`, `verify-full`), `sslrootcert` (a PEM file of CA certificates; else
        /// the system's), `sslcert` and `sslkey` (PEM files: a client certificate), `schema` (or
        /// `search_path`), `application_name`, `pool_size`, `connect_timeout` (seconds). `host` in the query
        /// (a directory) selects a Unix socket, as libpq does. `poolSize`, when given, wins over the URL's.
        public init(url text: String, poolSize: Int? = nil, durable: Bool = true) throws {
            guard let url = URLComponents(string: text), let scheme = url.scheme,
                  scheme == "postgres" || scheme == "postgresql" else {
                throw PostgresConfigurationError("not a postgres:// URL")
            }
            let query = Dictionary((url.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
            // URLComponents' user, password and path come percent-decoded already.
            let username = url.user ?? "postgres"
            let password = url.password
            let path = url.path.hasPrefix("/") ? String(url.path.dropFirst()) : url.path
            let database = path.isEmpty ? nil : path

            var client: PostgresClient.Configuration
            var weakness: String?
            if let socketDirectory = query["host"], socketDirectory.hasPrefix("/") {
                let port = url.port ?? 5432
                client = .init(unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: username,
                               password: password, database: database)
            } else {
                let mode = query["sslmode"] ?? "prefer"
                let tls: PostgresClient.Configuration.TLS
                switch mode {
                case "disable": tls = .disable
                case "allow", "prefer": tls = .prefer(try Self.tls(.none, query))
                case "require": tls = .require(try Self.tls(.none, query))
                case "verify-ca": tls = .require(try Self.tls(.noHostnameVerification, query))
                case "verify-full": tls = .require(try Self.tls(.fullVerification, query))
                case let other: throw PostgresConfigurationError("unknown sslmode \(other)")
                }
                let host = url.host ?? "localhost"
                client = .init(host: host, port: url.port ?? 5432, username: username,
                               password: password, database: database, tls: tls)
                weakness = Self.weakness(of: mode, host: host)
            }
            if let name = query["application_name"] {
                client.options.additionalStartupParameters.append(("application_name", name))
            }
            if let seconds = query["connect_timeout"] {
                guard let value = Int(seconds), value > 0 else { throw PostgresConfigurationError("bad connect_timeout") }
                client.options.connectTimeout = .seconds(value)
            }
            let size = try poolSize ?? query["pool_size"].map { text in
                guard let value = Int(text) else { throw PostgresConfigurationError("bad pool_size") }
                return value
            }
            if let size {
                guard size >= 2 else { throw PostgresConfigurationError("pool_size must be at least 2") }
                client.options.maximumConnections = size
            }
            try self.init(client: client, durable: durable, schema: query["schema"] ?? query["search_path"])
            tlsWeakness = weakness
        }

        /// As libpq: `prefer` and `require` encrypt without checking the certificate (anyone on the path can
        /// pose as the server), `verify-ca` checks it was issued by a trusted CA, `verify-full` also that it
        /// names the host (or its IP address). `sslrootcert` replaces the system's CAs, as a private CA needs.
        static func tls(_ verification: CertificateVerification, _ query: [String: String]) throws -> TLSConfiguration {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = verification
            if let path = query["sslrootcert"], path != "system" {
                guard FileManager.default.isReadableFile(atPath: path) else {
                    throw PostgresConfigurationError("sslrootcert \(path) is not a readable file")
                }
                tls.trustRoots = .file(path)
            }
            switch (query["sslcert"], query["sslkey"]) {
            case (nil, nil): break
            case let (certificate?, key?):
                do {
                    tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
                    tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
                } catch {
                    throw PostgresConfigurationError("cannot read sslcert/sslkey: \(error)")
                }
            default: throw PostgresConfigurationError("sslcert and sslkey go together")
            }
            return tls
        }

        /// What an operator should hear about a TCP connection's TLS mode (loopback needs no protection).
        static func weakness(of mode: String, host: String) -> String? {
            guard mode != "verify-full", !["localhost", "127.0.0.1", "::1", "[::1]"].contains(host) else { return nil }
            switch mode {
            case "disable": return "sslmode=disable: metadata and credentials cross the network unencrypted"
            case "verify-ca": return "sslmode=verify-ca checks the certificate's CA but not that it names \(host)"
            default: return "sslmode=\(mode) encrypts without checking the server's certificate; use sslmode=verify-full"
            }
        }

        /// Puts the limits on every connection as startup parameters: the server applies them before the first
        /// statement, and postgres-nio sends nothing that resets them (a live test reads them back).
        public mutating func setLimits(_ limits: Limits) throws {
            for (name, value) in [("statementTimeout", limits.statementTimeout), ("lockTimeout", limits.lockTimeout),
                                  ("maintenanceTimeout", limits.maintenanceTimeout)] {
                guard value >= .zero, value <= .seconds(Int32.max / 1000) else {
                    throw PostgresConfigurationError("\(name) must be between 0 and 24 days")
                }
            }
            self.limits = limits
            client.options.additionalStartupParameters.removeAll { $0.0 == "statement_timeout" || $0.0 == "lock_timeout" }
            client.options.additionalStartupParameters.append(("statement_timeout", String(Self.milliseconds(limits.statementTimeout))))
            client.options.additionalStartupParameters.append(("lock_timeout", String(Self.milliseconds(limits.lockTimeout))))
        }

        /// Whole milliseconds, as PostgreSQL's timeouts take them (checked in range by `setLimits`).
        static func milliseconds(_ duration: Duration) -> Int64 {
            let (seconds, attoseconds) = duration.components
            return seconds * 1000 + attoseconds / 1_000_000_000_000_000
        }

        /// Every connection gets the schema as its search path (a startup parameter, so pooled connections
        /// never run without it).
        mutating func setSchema(_ schema: String?) throws {
            client.options.additionalStartupParameters.removeAll { $0.0 == "search_path" }
            self.schema = schema
            guard let schema else { return }
            guard Self.isPlainIdentifier(schema) else {
                throw PostgresConfigurationError("schema must be lowercase letters, digits and _: \(schema)")
            }
            client.options.additionalStartupParameters.append(("search_path", schema))
        }

        /// Safe to put in SQL unquoted (it is also quoted there).
        static func isPlainIdentifier(_ name: String) -> Bool {
            guard let first = name.unicodeScalars.first, (1...63).contains(name.utf8.count),
                  first == "_" || ("a"..."z").contains(first) else { return false }
            return name.unicodeScalars.allSatisfy { $0 == "_" || ("a"..."z").contains($0) || ("0"..."9").contains($0) }
        }
    }
}

public struct PostgresConfigurationError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = "PostgreSQL configuration: \(description)" }
}

/// The server would not give the durability the configuration asks for.
public struct PostgresSettingsError: Error, CustomStringConvertible {
    public let synchronousCommit: String
    public let fsync: String

    public var description: String {
        "PostgreSQL runs with synchronous_commit=\(synchronousCommit) fsync=\(fsync); durable writes need both on"
    }
}
