import BerthAuth
import BerthCore
import BerthWire
import Foundation
import Hummingbird

/// `POST /api/v1/gc`: one garbage collection, for administrators, answered when it is finished with what it
/// removed. The body may override the server's settings: `{"dryRun": true, "grace": "0s", "untagged": true}`.
extension AdminAPI {
    private struct CollectionRequest: Decodable {
        var dryRun: Bool?
        var grace: String?
        var untagged: Bool?
    }

    func collectGarbage(_ request: Request, _ context: Context, _ actor: Principal) async throws -> Response {
        try access.requireAdmin(actor, .gc)
        var options = registry.options.collection
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: 64 * 1024)
        } catch {
            throw AccessError.invalid("request body over 64 KiB")
        }
        if buffer.readableBytes > 0 {
            let body = try JSONDecoder().decode(CollectionRequest.self, from: Data(buffer: buffer))
            if let dryRun = body.dryRun { options.dryRun = dryRun }
            if let grace = body.grace { options.grace = try Durations.parse(grace, "grace", allowZero: true) }
            if let untagged = body.untagged { options.untagged = untagged }
        }
        guard let report = try await registry.collectGarbage(options, by: actor.caller(address: context.remoteAddress)) else {
            throw AccessError.conflict("a garbage collection is already running")
        }
        return try Self.json(report)
    }
}
