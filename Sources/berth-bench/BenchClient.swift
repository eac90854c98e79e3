import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1

/// The HTTP side of the benchmark: one pooled client per target, every status checked.
struct BenchClient: Sendable {
    let base: String
    let http: HTTPClient
    let auth: Authenticator

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    init(base: String, concurrency: Int, credentials: Credentials? = nil) {
        self.base = base.hasSuffix("/") ? String(base.dropLast()) : base
        auth = Authenticator(credentials: credentials)
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(concurrency, 1)
        configuration.decompression = .disabled
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    func shutdown() async throws { try await http.shutdown() }

    func url(_ pathOrURL: String) -> String {
        pathOrURL.hasPrefix("http") ? pathOrURL : base + pathOrURL
    }

    /// Sends a request and drains the body; throws unless the status is `expect`.
    @discardableResult
    func send(_ method: HTTPMethod, _ path: String, body: ByteBuffer? = nil, headers: [(String, String)] = [],
              expect: Int) async throws -> HTTPClientResponse.Head {
        var request = HTTPClientRequest(url: url(path))
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(body) }
        let response = try await execute(request)
        for try await _ in response.body {}
        guard Int(response.status.code) == expect else {
            throw Failure(description: "\(method) \(path): \(response.status.code), expected \(expect)")
        }
        return HTTPClientResponse.Head(status: response.status, headers: response.headers)
    }

    /// GETs a body, hashing it on the fly; returns its digest and size.
    func fetchDigest(_ path: String, accept: String? = nil) async throws -> (String, Int) {
        var request = HTTPClientRequest(url: url(path))
        if let accept { request.headers.add(name: "Accept", value: accept) }
        let response = try await execute(request)
        var hasher = SHA256()
        var size = 0
        for try await chunk in response.body {
            size += chunk.readableBytes
            chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
        }
        guard response.status == .ok else { throw Failure(description: "GET \(path): \(response.status.code)") }
        return (Payload.hex(hasher.finalize()), size)
    }

    /// Starts an upload session; returns its absolute Location.
    func startUpload(_ repository: String) async throws -> String {
        let head = try await send(.POST, "/v2/\(repository)/blobs/uploads/", expect: 202)
        guard let location = head.headers.first(name: "Location") else {
            throw Failure(description: "upload without Location")
        }
        return location.hasPrefix("http") ? location : base + location
    }

    /// Pushes a whole blob the way every registry supports: `POST` a session, then `PUT ?digest=` with the bytes.
    func pushBlob(_ repository: String, _ body: ByteBuffer, digest: String) async throws {
        let location = try await startUpload(repository)
        try await send(.PUT, Self.appending("digest=\(digest)", to: location), body: body,
                       headers: [("Content-Type", "application/octet-stream")], expect: 201)
    }

    static func appending(_ query: String, to location: String) -> String {
        location + (location.contains("?") ? "&" : "?") + query
    }
}

extension HTTPClientResponse {
    struct Head {
        var status: HTTPResponseStatus
        var headers: HTTPHeaders
    }
}

/// Random, incompressible test content and its digests.
enum Payload {
    /// Fast deterministic pseudo-random bytes (splitmix64), so generation does not dominate setup.
    static func random(_ count: Int, seed: UInt64) -> ByteBuffer {
        var state = seed &+ 0x9E37_79B9_7F4A_7C15
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { raw in
            let words = count / 8
            let p = raw.baseAddress!
            for i in 0..<words {
                state = state &+ 0x9E37_79B9_7F4A_7C15
                var z = state
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                z ^= z >> 31
                p.storeBytes(of: z, toByteOffset: i * 8, as: UInt64.self)
            }
            for i in (words * 8)..<count { p.storeBytes(of: UInt8(truncatingIfNeeded: state >> (i % 8)), toByteOffset: i, as: UInt8.self) }
            return count
        }
        return buffer
    }

    static func digest(_ buffer: ByteBuffer) -> String {
        var hasher = SHA256()
        buffer.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
        return hex(hasher.finalize())
    }

    static func hex(_ digest: SHA256.Digest) -> String {
        "sha256:" + digest.map { String(format: "%02x", $0) }.joined()
    }
}
