// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "berth",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "berth", targets: ["berth"]),
        .executable(name: "berth-bench", targets: ["berth-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.0"..<"5.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.0"),
    ],
    targets: [
        // The domain: names, digests, manifests, tags, referrers, and the storage protocols.
        .target(
            name: "BerthCore",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Who may do what: users, namespaces, roles, access tokens, the Docker token service's JWTs, audit.
        // Knows no HTTP; its store is a protocol the metadata drivers implement.
        .target(
            name: "BerthAuth",
            dependencies: [
                "BerthCore", "BerthFilesystem",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // Linux calls Swift's Glibc module does not expose.
        .target(name: "CBerthSystem"),
        // BlobStore driver: content-addressed blobs on the local filesystem.
        .target(
            name: "BerthFilesystem",
            dependencies: [
                "BerthCore", "CBerthSystem",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // MetadataStore driver: SQLite through GRDB.
        .target(
            name: "BerthSQLite",
            dependencies: [
                "BerthCore", "BerthAuth",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        // BlobStore driver: any S3-compatible object store (SigV4 signing, async-http-client transport).
        .target(
            name: "BerthS3",
            dependencies: [
                "BerthCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // Its tests reach internals (`@testable`), also in the release build scripts/test makes.
            swiftSettings: [.unsafeFlags(["-enable-testing"])]
        ),
        // MetadataStore and AccessStore driver: PostgreSQL through postgres-nio, for several instances.
        .target(
            name: "BerthPostgres",
            dependencies: [
                "BerthCore", "BerthAuth",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // Its tests reach internals (`@testable`), also in the release build scripts/test makes.
            swiftSettings: [.unsafeFlags(["-enable-testing"])]
        ),
        // The API's wire values without a server: routes, ranges, numbers, spec error codes. Kept free of
        // Hummingbird so the fuzzers build quickly.
        .target(name: "BerthWire", dependencies: ["BerthCore"]),
        // The OCI Distribution HTTP API over the registry service.
        .target(
            name: "BerthHTTP",
            dependencies: [
                "BerthCore", "BerthWire", "BerthAuth",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Configuration and wiring of drivers, service and server.
        .target(
            name: "BerthServer",
            dependencies: [
                "BerthCore", "BerthWire", "BerthFilesystem", "BerthSQLite", "BerthHTTP", "BerthAuth",
                "BerthS3", "BerthPostgres",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "berth",
            dependencies: [
                "BerthServer", "BerthAuth", "BerthWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // The benchmark: drives one registry, or two side by side.
        .executableTarget(
            name: "berth-bench",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "BerthTests",
            dependencies: [
                "BerthCore", "BerthServer", "BerthSQLite", "BerthAuth", "BerthWire", "BerthS3", "BerthPostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // libFuzzer harnesses, one per wire or model parser (Fuzz/, run by scripts/fuzz.sh). Built plainly they replay
        // inputs given as arguments; scripts/fuzz.sh builds them with -sanitize=fuzzer,address -D BERTH_FUZZING.
        .target(name: "CBerthFuzz", path: "Fuzz/CBerthFuzz"),
        .target(name: "BerthFuzzSupport", dependencies: ["CBerthFuzz"], path: "Fuzz/BerthFuzzSupport"),
        .executableTarget(name: "fuzz-route", dependencies: ["BerthCore", "BerthWire", "BerthFuzzSupport"], path: "Fuzz/Targets/fuzz-route"),
        .executableTarget(name: "fuzz-repository-name", dependencies: ["BerthCore", "BerthWire", "BerthFuzzSupport"], path: "Fuzz/Targets/fuzz-repository-name"),
        .executableTarget(name: "fuzz-digest", dependencies: ["BerthCore", "BerthWire", "BerthFuzzSupport"], path: "Fuzz/Targets/fuzz-digest"),
        .executableTarget(name: "fuzz-tag", dependencies: ["BerthCore", "BerthWire", "BerthFuzzSupport"], path: "Fuzz/Targets/fuzz-tag"),
        .executableTarget(name: "fuzz-manifest-reference", dependencies: ["BerthCore", "BerthWire", "BerthFuzzSupport"], path: "Fuzz/Targets/fuzz-manifest-reference"),
        .executableTarget(name: "fuzz-byte-range", dependencies: ["BerthCore", "BerthWire", "BerthFuzzSupport"], path: "Fuzz/Targets/fuzz-byte-range"),
        .executableTarget(name: "fuzz-content-range", dependencies: ["BerthCore", "BerthWire", "BerthFuzzSupport"], path: "Fuzz/Targets/fuzz-content-range"),
        .executableTarget(name: "fuzz-decimal", dependencies: ["BerthCore", "BerthWire", "BerthFuzzSupport"], path: "Fuzz/Targets/fuzz-decimal"),
        .executableTarget(name: "fuzz-manifest", dependencies: ["BerthCore", "BerthWire", "BerthFuzzSupport"], path: "Fuzz/Targets/fuzz-manifest"),
    ]
)
