import AsyncHTTPClient
import BerthServer
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle

/// A real Berth serving on a loopback port from a temporary root, driven over HTTP.
final class TestRegistry: Sendable {
    let root: String
    let port: Int
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    var base: String { "http://127.0.0.1:\(port)" }

    /// Starts Berth on `root` (a new temporary folder when nil).
    static func start(root: String? = nil, configure: (inout Configuration) -> Void = { _ in }) async throws -> TestRegistry {
        let root = root ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("berth-test-\(UUID().uuidString)").path
        var configuration = Configuration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.root = root
        configuration.logLevel = .warning
        configure(&configuration)
        let (stream, continuation) = AsyncStream<Int>.makeStream()
        let app = try await BerthServer.makeApplication(configuration) { port in continuation.yield(port) }
        let group = ServiceGroup(configuration: .init(services: [app], logger: Logger(label: "berth.test")))
        let task = Task { try await group.run() }
        var iterator = stream.makeAsyncIterator()
        guard let port = await iterator.next() else { throw CancellationError() }
        return TestRegistry(root: root, port: port, group: group, task: task)
    }

    private init(root: String, port: Int, group: ServiceGroup, task: Task<Void, any Error>) {
        self.root = root
        self.port = port
        self.group = group
        self.task = task
    }

    /// Shuts the server down gracefully, as SIGTERM does, keeping its data.
    func stop() async {
        await group.triggerGracefulShutdown()
        _ = await task.result
    }

    /// Stops the server and deletes its data.
    func destroy() async {
        await stop()
        try? FileManager.default.removeItem(atPath: root)
    }

    // MARK: HTTP

    struct Reply {
        var status: Int
        var headers: HTTPHeaders
        var body: Data

        func header(_ name: String) -> String? { headers.first(name: name) }
        var json: [String: Any]? { try? JSONSerialization.jsonObject(with: body) as? [String: Any] }
        /// The first error code of a spec error body.
        var errorCode: String? { ((json?["errors"] as? [[String: Any]])?.first?["code"]) as? String }
    }

    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        configuration.decompression = .disabled
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    func request(_ method: HTTPMethod, _ path: String, headers: [(String, String)] = [],
                 body: Data? = nil) async throws -> Reply {
        var request = HTTPClientRequest(url: path.hasPrefix("http") ? path : base + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await Self.client.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 256 << 20)
        return Reply(status: Int(response.status.code), headers: response.headers, body: Data(buffer: bytes))
    }
}
