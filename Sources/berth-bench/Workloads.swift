import Foundation
import NIOCore
import NIOHTTP1

struct BenchOptions: Sendable {
    var concurrency = 8
    var blobs = 64
    var blobSize = 16 << 20
    var chunkedBlobs = 32
    var chunkSize = 4 << 20
    var manifests = 2000
    var duration = 10.0
    var tags = 1000
    var repositories = 200
    var listings = 10
    var gcBlobs = 20_000
    var gcStray = 0
    var figures: Set<String> = Workloads.allFigures
}

/// The benchmark's workloads against one registry. Each round writes under its own repository prefix.
struct Workloads: Sendable {
    static let allFigures: Set<String> = ["push-mono", "push-chunked", "push-manifest", "pull-blob", "pull-manifest",
                                          "head-blob", "tags-list", "catalog", "mixed"]
    /// Figures for growth runs (a page from the middle of a large listing); not part of the default set.
    static let growthFigures: Set<String> = ["tags-page", "catalog-page"]
    /// Berth's own figures (its admin API): asked for by name only.
    static let berthFigures: Set<String> = ["gc"]
    static let ociManifest = "application/vnd.oci.image.manifest.v1+json"

    let client: BenchClient
    let options: BenchOptions
    let seed: UInt64
    /// The registry's process, when given: figures that watch its memory need it.
    var pid: Int32? = nil
    var prefix: String { "bench/s\(seed)" }

    struct Blob: Sendable {
        var digest: String
        var size: Int
    }

    func blobs(_ count: Int, size: Int, salt: UInt64) -> [(ByteBuffer, String)] {
        (0..<count).map { i in
            let buffer = Payload.random(size, seed: seed &* 1_000_003 &+ salt &* 10_007 &+ UInt64(i))
            return (buffer, Payload.digest(buffer))
        }
    }

    // MARK: Pushes

    func pushMono() async -> (Figure, [Blob]) {
        let content = blobs(options.blobs, size: options.blobSize, salt: 1)
        let repository = "\(prefix)/mono"
        let client = self.client
        let samples = await Measure.each(count: content.count, workers: options.concurrency) { i in
            let (body, digest) = content[i]
            try await client.pushBlob(repository, body, digest: digest)
            return body.readableBytes
        }
        let figure = Figure(name: "push-mono", values: [
            ("MB/s", samples.megabytesPerSecond), ("blobs/s", samples.perSecond),
            ("p50 ms", samples.percentile(0.5)), ("p99 ms", samples.percentile(0.99)), ("errors", Double(samples.errors)),
        ], primary: "MB/s", higherIsBetter: true)
        return (figure, content.map { Blob(digest: $0.1, size: $0.0.readableBytes) })
    }

    func pushChunked() async -> Figure {
        let content = blobs(options.chunkedBlobs, size: options.blobSize, salt: 2)
        let repository = "\(prefix)/chunked", chunk = options.chunkSize, client = self.client
        let samples = await Measure.each(count: content.count, workers: options.concurrency) { i in
            let (body, digest) = content[i]
            var location = try await client.startUpload(repository)
            var offset = 0
            while offset < body.readableBytes {
                let length = min(chunk, body.readableBytes - offset)
                let head = try await client.send(.PATCH, location, body: body.getSlice(at: offset, length: length)!, headers: [
                    ("Content-Type", "application/octet-stream"), ("Content-Range", "\(offset)-\(offset + length - 1)"),
                ], expect: 202)
                if let next = head.headers.first(name: "Location") { location = client.url(next) }
                offset += length
            }
            try await client.send(.PUT, BenchClient.appending("digest=\(digest)", to: location), expect: 201)
            return body.readableBytes
        }
        return Figure(name: "push-chunked", values: [
            ("MB/s", samples.megabytesPerSecond), ("p50 ms", samples.percentile(0.5)),
            ("p99 ms", samples.percentile(0.99)), ("errors", Double(samples.errors)),
        ], primary: "MB/s", higherIsBetter: true)
    }

    /// Pushes a config and a layer, then `manifests` distinct manifests by tag. Returns their digests.
    func pushManifests() async throws -> (Figure, [String]) {
        let repository = "\(prefix)/manifests"
        let (layers, config) = try await pushImageBlobs(repository)
        let bodies = (0..<options.manifests).map { i in manifestBody(config: config, layers: layers, note: "m\(i)") }
        let client = self.client
        let samples = await Measure.each(count: bodies.count, workers: options.concurrency) { i in
            try await client.send(.PUT, "/v2/\(repository)/manifests/m\(i)", body: bodies[i],
                                  headers: [("Content-Type", Self.ociManifest)], expect: 201)
            return bodies[i].readableBytes
        }
        let figure = Figure(name: "push-manifest", values: [
            ("manifests/s", samples.perSecond), ("p50 ms", samples.percentile(0.5)),
            ("p99 ms", samples.percentile(0.99)), ("errors", Double(samples.errors)),
        ], primary: "manifests/s", higherIsBetter: true)
        return (figure, bodies.map(Payload.digest))
    }

    func pushImageBlobs(_ repository: String) async throws -> (layers: [Blob], config: Blob) {
        var pushed: [Blob] = []
        for (i, size) in [1200, 3 << 20].enumerated() {
            let body = Payload.random(size, seed: seed &+ 77 &+ UInt64(i))
            let digest = Payload.digest(body)
            try await client.pushBlob(repository, body, digest: digest)
            pushed.append(Blob(digest: digest, size: size))
        }
        return ([pushed[1]], pushed[0])
    }

    func manifestBody(config: Blob, layers: [Blob], note: String) -> ByteBuffer {
        let layerJSON = layers.map {
            #"{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"\#($0.digest)","size":\#($0.size)}"#
        }.joined(separator: ",")
        return ByteBuffer(string: """
            {"schemaVersion":2,"mediaType":"\(Self.ociManifest)",\
            "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\(config.digest)","size":\(config.size)},\
            "layers":[\(layerJSON)],"annotations":{"bench":"\(note)"}}
            """)
    }

    // MARK: Pulls

    func pullBlobs(_ pushed: [Blob]) async -> Figure {
        let repository = "\(prefix)/mono", client = self.client
        let samples = await Measure.each(count: pushed.count, workers: options.concurrency) { i in
            let (digest, size) = try await client.fetchDigest("/v2/\(repository)/blobs/\(pushed[i].digest)")
            guard digest == pushed[i].digest else { throw BenchClient.Failure(description: "digest mismatch") }
            return size
        }
        return Figure(name: "pull-blob", values: [
            ("MB/s", samples.megabytesPerSecond), ("p50 ms", samples.percentile(0.5)),
            ("p99 ms", samples.percentile(0.99)), ("errors", Double(samples.errors)),
        ], primary: "MB/s", higherIsBetter: true)
    }

    func pullManifests(_ digests: [String]) async -> Figure {
        let repository = "\(prefix)/manifests", client = self.client
        let samples = await Measure.during(options.duration, workers: options.concurrency) { i in
            let n = i % digests.count
            let (digest, size) = try await client.fetchDigest("/v2/\(repository)/manifests/m\(n)", accept: Self.ociManifest)
            guard digest == digests[n] else { throw BenchClient.Failure(description: "manifest digest mismatch") }
            return size
        }
        return rate("pull-manifest", samples)
    }

    func headBlobs(_ pushed: [Blob]) async -> Figure {
        let repository = "\(prefix)/mono", client = self.client
        let samples = await Measure.during(options.duration, workers: options.concurrency) { i in
            try await client.send(.HEAD, "/v2/\(repository)/blobs/\(pushed[i % pushed.count].digest)", expect: 200)
            return 0
        }
        return rate("head-blob", samples)
    }

    func rate(_ name: String, _ samples: Samples) -> Figure {
        Figure(name: name, values: [
            ("req/s", samples.perSecond), ("p50 ms", samples.percentile(0.5)),
            ("p99 ms", samples.percentile(0.99)), ("errors", Double(samples.errors)),
        ], primary: "req/s", higherIsBetter: true)
    }

    // MARK: Mixed

    /// 80% manifest GET, 15% small-blob GET, 5% small-blob push.
    func mixed(_ manifestDigests: [String]) async throws -> Figure {
        let repository = "\(prefix)/manifests", client = self.client, seed = self.seed
        var small: [Blob] = []
        for i in 0..<100 {
            let body = Payload.random(4096 + i * 600, seed: seed &+ 5000 &+ UInt64(i))
            let digest = Payload.digest(body)
            try await client.pushBlob(repository, body, digest: digest)
            small.append(Blob(digest: digest, size: body.readableBytes))
        }
        let blobs = small
        let samples = await Measure.during(options.duration, workers: options.concurrency) { i in
            switch i % 100 {
            case 0..<80:
                let n = i % manifestDigests.count
                let (digest, size) = try await client.fetchDigest("/v2/\(repository)/manifests/m\(n)", accept: Self.ociManifest)
                guard digest == manifestDigests[n] else { throw BenchClient.Failure(description: "manifest digest mismatch") }
                return size
            case 80..<95:
                let blob = blobs[i % blobs.count]
                let (digest, size) = try await client.fetchDigest("/v2/\(repository)/blobs/\(blob.digest)")
                guard digest == blob.digest else { throw BenchClient.Failure(description: "blob digest mismatch") }
                return size
            default:
                let body = Payload.random(16384, seed: seed &* 31 &+ UInt64(i) &+ 1_000_000)
                try await client.pushBlob(repository, body, digest: Payload.digest(body))
                return body.readableBytes
            }
        }
        return Figure(name: "mixed", values: [
            ("ops/s", samples.perSecond), ("p50 ms", samples.percentile(0.5)), ("p99 ms", samples.percentile(0.99)),
            ("errors", Double(samples.errors)),
        ], primary: "ops/s", higherIsBetter: true)
    }
}
