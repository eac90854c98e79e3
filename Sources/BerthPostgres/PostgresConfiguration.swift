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

        public init(client: PostgresClient.Configuration, durable: Bool = true, schema: String? = nil) throws {
            self.client = client
            self.durable = durable
            self.schema = nil
            try setSchema(schema)
        }

        /// Parses `postgres://` / `postgresql://` URLs. Query parameters: `sslmode` (`disable`, `prefer`,
        /// `require`, `verify-full`), `schema` (or `search_path`), `application_name`, `pool_size`,
        /// `connect_timeout` (seconds). `host` in the query (a directory) selects a Unix socket, as libpq does.
        /// `poolSize`, when given, wins over the URL's.
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
            if let socketDirectory = query["host"], socketDirectory.hasPrefix("/") {
                let port = url.port ?? 5432
                client = .init(unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: username,
                               password: password, database: database)
            } else {
                let tls: PostgresClient.Configuration.TLS
                switch query["sslmode"] ?? "prefer" {
                case "disable": tls = .disable
                case "allow", "prefer": tls = .prefer(Self.tls(verifying: false))
                case "require": tls = .require(Self.tls(verifying: false))
                case "verify-ca", "verify-full": tls = .require(Self.tls(verifying: true))
                case let other: throw PostgresConfigurationError("unknown sslmode \(other)")
                }
                client = .init(host: url.host ?? "localhost", port: url.port ?? 5432, username: username,
                               password: password, database: database, tls: tls)
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
        }

        /// libpq's `require` encrypts without checking the certificate; `verify-*` checks it.
        static func tls(verifying: Bool) -> TLSConfiguration {
            var tls = TLSConfiguration.makeClientConfiguration()
            if !verifying { tls.certificateVerification = .none }
            return tls
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
