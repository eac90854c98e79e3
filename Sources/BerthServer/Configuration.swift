import BerthCore
import BerthWire
import Foundation
import Logging
import Yams

/// Berth's settings: defaults, overridden by a YAML file, overridden by command-line flags.
public struct Configuration: Sendable, Equatable {
    public var host = "0.0.0.0"
    public var port = 5000
    public var root = "./berth-data"
    /// fsync blobs, folders and metadata commits before acknowledging writes.
    public var fsync = true
    public var manifestMaxBytes = 4 * 1024 * 1024
    public var logLevel: Logger.Level = .info
    public var accessLog = true
    /// A connection with no bytes moving for this long, mid-request or between requests, is closed.
    public var idleTimeout: Duration = .seconds(60)
    /// Connections beyond this wait in the listen backlog until others close.
    public var maxConnections = 2048
    /// Proxies (balancers) whose `X-Forwarded-For` names the client; nobody else's is believed.
    public var trustedProxies: [IPNetwork] = []
    /// Upload sessions idle for longer than this are removed, with their staged bytes.
    public var uploadExpiry: Duration = .seconds(24 * 3600)
    /// How often expired uploads are looked for.
    public var uploadExpiryInterval: Duration = .seconds(3600)
    /// How often lifecycle policies are applied (ECR: within 24 hours of a change).
    public var lifecycleInterval: Duration = .seconds(3600)
    /// How often garbage is collected; nil: only when asked (`berth gc`, the admin API).
    public var gcInterval: Duration? = .seconds(24 * 3600)
    /// What a collection removes (its upload expiry is `uploadExpiry`).
    public var gc = CollectionOptions()
    /// Authentication, authorization and TLS.
    public var auth = AuthConfiguration()
    /// The blob store's driver.
    public var blobStorage = BlobStorageConfiguration()
    /// The metadata store's driver.
    public var metadata = MetadataConfiguration()

    public init() {}

    /// The settings of a YAML file applied over the defaults.
    public static func load(file path: String) throws -> Configuration {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError("cannot read \(path): \(error.localizedDescription)")
        }
        var configuration = Configuration()
        try configuration.apply(yaml: text)
        return configuration
    }

    /// Applies the settings of a YAML document; unknown keys and bad values are errors.
    public mutating func apply(yaml text: String) throws {
        let file: ConfigFile
        do {
            try ConfigFile.checkKeys(Yams.load(yaml: text))
            file = try YAMLDecoder().decode(ConfigFile.self, from: text.isEmpty ? "{}" : text)
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw ConfigurationError("invalid configuration: \(error)")
        }
        if let address = file.address { try setAddress(address) }
        if let root = file.root { self.root = root }
        if let fsync = file.storage?.fsync { self.fsync = fsync }
        if let bytes = file.limits?.manifestMaxBytes {
            guard bytes > 0 else { throw ConfigurationError("limits.manifest_max_bytes must be positive") }
            manifestMaxBytes = bytes
        }
        if let level = file.log?.level {
            guard let parsed = Logger.Level(rawValue: level) else {
                throw ConfigurationError("log.level must be one of \(Logger.Level.allCases.map(\.rawValue))")
            }
            logLevel = parsed
        }
        if let access = file.log?.access { accessLog = access }
        if let text = file.http?.idleTimeout { idleTimeout = try Self.duration(text, "http.idle_timeout") }
        if let count = file.http?.maxConnections {
            guard count > 0 else { throw ConfigurationError("http.max_connections must be positive") }
            maxConnections = count
        }
        if let proxies = file.http?.trustedProxies {
            trustedProxies = try proxies.map { text in
                guard let network = IPNetwork(text) else {
                    throw ConfigurationError("http.trusted_proxies: \(text) is not an address or CIDR network")
                }
                return network
            }
        }
        if let text = file.uploads?.expireAfter { uploadExpiry = try Self.duration(text, "uploads.expire_after") }
        if let text = file.uploads?.checkEvery { uploadExpiryInterval = try Self.duration(text, "uploads.check_every") }
        if let text = file.lifecycle?.checkEvery { lifecycleInterval = try Self.duration(text, "lifecycle.check_every") }
        if let text = file.gc?.every { gcInterval = text == "off" ? nil : try Self.duration(text, "gc.every") }
        if let text = file.gc?.grace { gc.grace = try Self.duration(text, "gc.grace", allowZero: true) }
        if let untagged = file.gc?.untagged { gc.untagged = untagged }
        gc.uploadExpiry = uploadExpiry
        try auth.apply(file.auth, tls: file.tls)
        try applyStorage(file.storage, file.metadata)
    }

    static func duration(_ text: String, _ key: String, allowZero: Bool = false) throws -> Duration {
        do {
            return try Durations.parse(text, key, allowZero: allowZero)
        } catch {
            throw ConfigurationError(error.description)
        }
    }

    /// `host:port`, `[v6]:port` or `:port`.
    public mutating func setAddress(_ address: String) throws {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
              (0...65535).contains(port)
        else {
            throw ConfigurationError("address must be host:port, got \(address)")
        }
        var host = String(address[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        self.host = host.isEmpty ? "0.0.0.0" : host
        self.port = port
    }
}

public struct ConfigurationError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The YAML file's shape.
struct ConfigFile: Decodable {
    struct Storage: Decodable {
        var fsync: Bool?
        var driver: String?
        var s3: S3?
    }

    struct Limits: Decodable {
        var manifestMaxBytes: Int?
        enum CodingKeys: String, CodingKey { case manifestMaxBytes = "manifest_max_bytes" }
    }

    struct Log: Decodable {
        var level: String?
        var access: Bool?
    }

    struct HTTP: Decodable {
        var idleTimeout: String?
        var maxConnections: Int?
        var trustedProxies: [String]?
        enum CodingKeys: String, CodingKey {
            case idleTimeout = "idle_timeout", maxConnections = "max_connections", trustedProxies = "trusted_proxies"
        }
    }

    struct Lifecycle: Decodable {
        var checkEvery: String?
        enum CodingKeys: String, CodingKey { case checkEvery = "check_every" }
    }

    struct GC: Decodable {
        var every: String?
        var grace: String?
        var untagged: Bool?
    }

    struct Uploads: Decodable {
        var expireAfter: String?
        var checkEvery: String?
        enum CodingKeys: String, CodingKey { case expireAfter = "expire_after", checkEvery = "check_every" }
    }

    var address: String?
    var root: String?
    var storage: Storage?
    var limits: Limits?
    var log: Log?
    var http: HTTP?
    var uploads: Uploads?
    var lifecycle: Lifecycle?
    var gc: GC?
    var auth: Auth?
    var tls: TLS?
    var metadata: Metadata?

    static let knownKeys: [String: Set<String>] = [
        "": ["address", "root", "storage", "metadata", "limits", "log", "http", "uploads", "lifecycle", "gc", "auth", "tls"],
        "auth": ["mode", "realm", "htpasswd", "admins", "token", "external", "lockout", "retention"],
        "auth.retention": ["audit", "tokens"],
        "auth.token": ["service", "issuer", "realm", "keys", "expires_in", "refresh_expires_in"],
        "auth.external": ["realm", "service", "issuer", "jwks", "certificate", "leeway"],
        "auth.lockout": ["attempts", "window", "address_attempts"],
        "tls": ["certificate", "key"],
        "http": ["idle_timeout", "max_connections", "trusted_proxies"],
        "uploads": ["expire_after", "check_every"],
        "lifecycle": ["check_every"],
        "gc": ["every", "grace", "untagged"],
        "limits": ["manifest_max_bytes"],
        "log": ["level", "access"],
    ].merging(storageKeys) { a, _ in a }

    /// Rejects keys Berth does not know, so a typo is not silently ignored.
    static func checkKeys(_ document: Any?, section: String = "") throws {
        guard let document else { return }
        guard let mapping = document as? [String: Any] else {
            throw ConfigurationError(section.isEmpty ? "the configuration must be a mapping" : "\(section) must be a mapping")
        }
        for (key, value) in mapping {
            let path = section.isEmpty ? key : section + "." + key
            guard knownKeys[section]!.contains(key) else { throw ConfigurationError("unknown setting \(path)") }
            if knownKeys[path] != nil { try checkKeys(value, section: path) }
        }
    }
}
