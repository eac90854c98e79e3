import Foundation
import NIOCore

/// `gc`: one garbage collection (`POST /api/v1/gc`, a dry run, so the data stays for the next round) over a
/// registry holding `gcBlobs` blobs: how long it takes, and how far the registry's resident memory rises
/// meanwhile. Berth's online collection walks storage and metadata a page at a time, so the rise should stay
/// flat from a thousand blobs to a million (issue 22, item 13). Berth only: other registries have no such API.
extension Workloads {
    static let collectionRepository = "bench-gc/blobs"

    /// Blob `i` of the collection's set (negative: the stray ones): 64 bytes fixed by `i` alone, so later runs
    /// find them already there.
    static func collectionBlob(_ i: Int) -> (ByteBuffer, String) {
        let buffer = Payload.random(64, seed: 0x6763_0000_0000 &+ UInt64(bitPattern: Int64(i)))
        return (buffer, Payload.digest(buffer))
    }

    /// Pushes the collection's blobs (single-request monolithic uploads), unless the last one is there.
    func prepareCollection() async throws {
        let repository = Self.collectionRepository, client = self.client
        let last = Self.collectionBlob(options.gcBlobs - 1).1
        if (try? await client.send(.HEAD, "/v2/\(repository)/blobs/\(last)", expect: 200)) != nil { return }
        let started = ContinuousClock.now
        let samples = await Measure.each(count: options.gcBlobs, workers: options.concurrency) { i in
            let (body, digest) = Self.collectionBlob(i)
            try await client.send(.POST, "/v2/\(repository)/blobs/uploads/?digest=\(digest)", body: body,
                                  headers: [("Content-Type", "application/octet-stream")], expect: 201)
            return 0
        }
        guard samples.errors == 0 else { throw BenchClient.Failure(description: "pushing the collection's blobs failed") }
        print(String(format: "  pushed %d blobs in %.0f s", options.gcBlobs, Measure.seconds(since: started)))
    }

    /// Writes `gcStray` blobs' bytes straight into a Berth filesystem root (`blobs/sha256/<2 hex>/<hex>`), with
    /// no metadata row: what writers that died before recording their blobs leave, and what a collection must
    /// walk and judge. A million of these take a minute; a million pushes, half an hour.
    func prepareStrayBlobs(root: String) throws {
        let last = Self.collectionBlob(-options.gcStray).1
        guard options.gcStray > 0, !FileManager.default.fileExists(atPath: Self.blobPath(root, last)) else { return }
        let started = ContinuousClock.now
        var folders = Set<String>()
        for i in 1...options.gcStray {
            let (body, digest) = Self.collectionBlob(-i)
            let path = Self.blobPath(root, digest), folder = String(path[..<path.lastIndex(of: "/")!])
            if folders.insert(folder).inserted {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            }
            guard FileManager.default.createFile(atPath: path, contents: Data(body.readableBytesView)) else {
                throw BenchClient.Failure(description: "cannot write \(path)")
            }
        }
        print(String(format: "  wrote %d stray blobs in %.0f s", options.gcStray, Measure.seconds(since: started)))
    }

    private static func blobPath(_ root: String, _ digest: String) -> String {
        let hex = digest.dropFirst("sha256:".count)
        return "\(root)/blobs/sha256/\(hex.prefix(2))/\(hex)"
    }

    func collection() async -> Figure {
        let client = self.client, pid = self.pid
        let before = pid.flatMap { ProcessMemory.rss(pid: $0)?.current } ?? 0
        // VmHWM covers the process's whole life (the pushes included): sample VmRSS during the collection instead.
        let sampler = Task { () -> Double in
            var highest = before
            while !Task.isCancelled {
                if let pid, let rss = ProcessMemory.rss(pid: pid) { highest = max(highest, rss.current) }
                try? await Task.sleep(for: .milliseconds(10))
            }
            return highest
        }
        let samples = await Measure.each(count: 1, workers: 1) { _ in
            try await client.send(.POST, "/api/v1/gc", body: ByteBuffer(string: #"{"dryRun":true,"grace":"0s"}"#),
                                  headers: [("Content-Type", "application/json")], expect: 200)
            return 0
        }
        sampler.cancel()
        let highest = await sampler.value
        return Figure(name: "gc", values: [
            ("s", samples.elapsed), ("RSS rise MiB", pid == nil ? 0 : highest - before), ("RSS MiB", highest),
            ("errors", Double(samples.errors)),
        ], primary: "RSS rise MiB", higherIsBetter: false)
    }
}
