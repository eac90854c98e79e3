import Crypto
import Foundation

/// Random identifiers and secrets, and their stored form.
enum Secrets {
    static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    /// A 256-bit secret, base64url without padding.
    static func secret() -> String {
        Data(randomBytes(32)).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func id() -> String { hex(randomBytes(8)) }

    /// What is stored of a secret: its SHA-256, hex. Secrets are random 256-bit values, so a fast hash suffices.
    static func hash(_ secret: String) -> String { hex(SHA256.hash(data: Data(secret.utf8))) }

    /// Compares two strings in time independent of where they differ.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for i in x.indices { difference |= x[i] ^ y[i] }
        return difference == 0
    }

    /// `berth_<id>_<secret>` for access tokens, `berthr_<id>_<secret>` for refresh tokens.
    static func compose(_ prefix: String, id: String, secret: String) -> String { "\(prefix)_\(id)_\(secret)" }

    static func parse(_ prefix: String, _ token: String) -> (id: String, secret: String)? {
        guard token.hasPrefix(prefix + "_") else { return nil }
        let rest = token.dropFirst(prefix.count + 1)
        guard let underscore = rest.firstIndex(of: "_") else { return nil }
        let id = String(rest[..<underscore]), secret = String(rest[rest.index(after: underscore)...])
        guard id.count == 16, !secret.isEmpty, secret.count <= 64 else { return nil }
        return (id, secret)
    }
}
