import Foundation

/// Where blobs go: the local filesystem (the embedded default) or an S3-compatible object store.
public struct BlobStorageConfiguration: Sendable, Equatable {
    public enum Driver: String, Sendable { case filesystem, s3 }
    public var driver: Driver = .filesystem
    public var s3 = S3Settings()
    public init() {}
}

/// The S3 driver's settings. Credentials left out come from the standard `AWS_*` environment variables.
public struct S3Settings: Sendable, Equatable {
    public var endpoint: String?
    public var region: String?
    public var bucket = ""
    public var prefix = ""
    public var pathStyle = true
    public var accessKey: String?
    public var secretKey: String?
    public var sessionToken: String?
    /// Bytes gathered before one part of a multipart upload (at least 5 MiB, S3's smallest part).
    public var partSize: Int?
    /// Answer blob GETs with a redirect to a presigned URL, so bytes flow from the store to the client.
    public var redirect = false
    /// `AES256` or `aws:kms` (with `kmsKeyID`): server-side encryption of what Berth writes.
    public var encryption: String?
    public var kmsKeyID: String?
    /// Attempts per S3 request, the first included (1 to 10; 1 never retries); nil: AWS_MAX_ATTEMPTS, else 3.
    public var maxAttempts: Int?
    /// The most bytes all upload buffers hold together; nil: 256 MiB.
    public var uploadBufferMemory: Int?
    public init() {}
}

/// Where metadata goes: SQLite under the root (the embedded default) or a shared PostgreSQL database.
public struct MetadataConfiguration: Sendable, Equatable {
    public enum Driver: String, Sendable { case sqlite, postgres }
    public var driver: Driver = .sqlite
    /// `postgres://user:password@host:port/database?sslmode=disable`; `BERTH_POSTGRES_URL` when left out.
    public var postgresURL: String?
    public var postgresPoolSize = 20
    /// Servers keep blob sizes in memory, invalidated across instances before a removal is acknowledged.
    public var postgresBlobCache = true
    /// `statement_timeout` and `lock_timeout` of every connection; `maintenance_timeout` replaces both for
    /// migrations and garbage collection's listings. Zero: no limit.
    public var postgresStatementTimeout: Duration = .seconds(60)
    public var postgresLockTimeout: Duration = .seconds(10)
    public var postgresMaintenanceTimeout: Duration = .seconds(30 * 60)
    public init() {}
}

extension ConfigFile {
    struct S3: Decodable {
        var endpoint: String?
        var region: String?
        var bucket: String?
        var prefix: String?
        var pathStyle: Bool?
        var accessKey: String?
        var secretKey: String?
        var sessionToken: String?
        var partSize: Int?
        var redirect: Bool?
        var encryption: String?
        var kmsKeyID: String?
        var maxAttempts: Int?
        var uploadBufferMemory: Int?
        enum CodingKeys: String, CodingKey {
            case endpoint, region, bucket, prefix, redirect, encryption
            case pathStyle = "path_style", accessKey = "access_key", secretKey = "secret_key"
            case sessionToken = "session_token", partSize = "part_size", kmsKeyID = "kms_key_id"
            case maxAttempts = "max_attempts", uploadBufferMemory = "upload_buffer_memory"
        }
    }

    struct Metadata: Decodable {
        struct Postgres: Decodable {
            var url: String?
            var poolSize: Int?
            var blobCache: Bool?
            var statementTimeout: String?
            var lockTimeout: String?
            var maintenanceTimeout: String?
            enum CodingKeys: String, CodingKey {
                case url, poolSize = "pool_size", blobCache = "blob_cache", statementTimeout = "statement_timeout"
                case lockTimeout = "lock_timeout", maintenanceTimeout = "maintenance_timeout"
            }
        }
        var driver: String?
        var postgres: Postgres?
    }

    static let storageKeys: [String: Set<String>] = [
        "storage": ["fsync", "driver", "s3"],
        "storage.s3": ["endpoint", "region", "bucket", "prefix", "path_style", "access_key", "secret_key",
                       "session_token", "part_size", "redirect", "encryption", "kms_key_id", "max_attempts",
                       "upload_buffer_memory"],
        "metadata": ["driver", "postgres"],
        "metadata.postgres": ["url", "pool_size", "blob_cache", "statement_timeout", "lock_timeout", "maintenance_timeout"],
    ]
}

extension Configuration {
    mutating func applyStorage(_ storage: ConfigFile.Storage?, _ metadata: ConfigFile.Metadata?) throws {
        if let name = storage?.driver {
            guard let driver = BlobStorageConfiguration.Driver(rawValue: name) else {
                throw ConfigurationError("storage.driver must be filesystem or s3, got \(name)")
            }
            blobStorage.driver = driver
        }
        if let s3 = storage?.s3 {
            var settings = S3Settings()
            settings.endpoint = s3.endpoint
            settings.region = s3.region
            settings.bucket = s3.bucket ?? ""
            settings.prefix = s3.prefix ?? ""
            settings.pathStyle = s3.pathStyle ?? true
            settings.accessKey = s3.accessKey
            settings.secretKey = s3.secretKey
            settings.sessionToken = s3.sessionToken
            if let size = s3.partSize {
                guard size >= 5 * 1024 * 1024, size <= 5 * 1024 * 1024 * 1024 else {
                    throw ConfigurationError("storage.s3.part_size must be between 5 MiB and 5 GiB")
                }
                settings.partSize = size
            }
            settings.redirect = s3.redirect ?? false
            if let encryption = s3.encryption, encryption != "AES256", encryption != "aws:kms" {
                throw ConfigurationError("storage.s3.encryption must be AES256 or aws:kms")
            }
            settings.encryption = s3.encryption
            settings.kmsKeyID = s3.kmsKeyID
            if let attempts = s3.maxAttempts {
                guard (1...10).contains(attempts) else {
                    throw ConfigurationError("storage.s3.max_attempts must be between 1 and 10")
                }
                settings.maxAttempts = attempts
            }
            if let memory = s3.uploadBufferMemory {
                // At least one part must fit; 1 TiB bounds it well before any arithmetic could overflow.
                let part = settings.partSize ?? 8 * 1024 * 1024
                guard memory >= part, memory <= 1 << 40 else {
                    throw ConfigurationError("storage.s3.upload_buffer_memory must be between part_size and 1 TiB")
                }
                settings.uploadBufferMemory = memory
            }
            blobStorage.s3 = settings
        }
        if blobStorage.driver == .s3, blobStorage.s3.bucket.isEmpty {
            throw ConfigurationError("storage.s3.bucket is required with storage.driver s3")
        }
        if let name = metadata?.driver {
            guard let driver = MetadataConfiguration.Driver(rawValue: name) else {
                throw ConfigurationError("metadata.driver must be sqlite or postgres, got \(name)")
            }
            self.metadata.driver = driver
        }
        if let url = metadata?.postgres?.url { self.metadata.postgresURL = url }
        if let size = metadata?.postgres?.poolSize {
            guard size > 0 else { throw ConfigurationError("metadata.postgres.pool_size must be positive") }
            self.metadata.postgresPoolSize = size
        }
        if let cache = metadata?.postgres?.blobCache { self.metadata.postgresBlobCache = cache }
        if let text = metadata?.postgres?.statementTimeout {
            self.metadata.postgresStatementTimeout = try Self.duration(text, "metadata.postgres.statement_timeout", allowZero: true)
        }
        if let text = metadata?.postgres?.lockTimeout {
            self.metadata.postgresLockTimeout = try Self.duration(text, "metadata.postgres.lock_timeout", allowZero: true)
        }
        if let text = metadata?.postgres?.maintenanceTimeout {
            self.metadata.postgresMaintenanceTimeout = try Self.duration(text, "metadata.postgres.maintenance_timeout", allowZero: true)
        }
    }
}
