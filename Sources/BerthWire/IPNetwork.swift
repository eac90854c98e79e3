import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 network (`10.0.0.0/8`, `::1/128`, or one address), for `http.trusted_proxies`.
public struct IPNetwork: Sendable, Equatable, CustomStringConvertible {
    /// The network's address bytes (4 or 16) and prefix length.
    let bytes: [UInt8]
    let prefix: Int
    public let description: String

    /// Nil when `text` is not an address with an optional `/prefix` in range.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let bytes = Self.address(String(parts[0])) else { return nil }
        var prefix = bytes.count * 8
        if parts.count == 2 {
            guard parts[1].utf8.count <= 3, let n = Int(parts[1]), (0...bytes.count * 8).contains(n) else { return nil }
            prefix = n
        }
        self.bytes = bytes
        self.prefix = prefix
        description = text
    }

    /// Whether `address` (textual) is in this network. An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) counts as
    /// its IPv4 address.
    public func contains(_ address: String) -> Bool {
        guard let other = Self.address(address) else { return false }
        return contains(bytes: other)
    }

    func contains(bytes other: [UInt8]) -> Bool {
        guard other.count == bytes.count else { return false }
        var left = prefix
        for i in 0..<bytes.count where left > 0 {
            let bits = min(8, left)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if bytes[i] & mask != other[i] & mask { return false }
            left -= bits
        }
        return true
    }

    /// An address's bytes (inet_pton), IPv4-mapped IPv6 addresses turned into IPv4.
    static func address(_ text: String) -> [UInt8]? {
        guard !text.isEmpty, text.utf8.count <= 64 else { return nil }
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF { return Array(bytes[12...]) }
        return bytes
    }
}

/// The client's address behind trusted proxies: the right-most address of `X-Forwarded-For` that is not a
/// trusted proxy, when the connection itself comes from one. The header is never believed otherwise: anyone
/// may send it.
public struct ForwardedFor: Sendable {
    public let trusted: [IPNetwork]

    public init(trusted: [IPNetwork]) { self.trusted = trusted }

    public func isTrusted(_ address: String) -> Bool {
        guard let bytes = IPNetwork.address(address) else { return false }
        return trusted.contains { $0.contains(bytes: bytes) }
    }

    /// The client address for a connection from `peer` carrying these `X-Forwarded-For` values (in order);
    /// nil to keep the peer's.
    public func client(peer: String, headers: [Substring]) -> String? {
        guard isTrusted(peer) else { return nil }
        let hops = headers.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
        guard hops.count <= 64 else { return nil }
        for hop in hops.reversed() {
            // A hop that is not an address cannot be attributed: keep the proxy's own address.
            guard IPNetwork.address(hop) != nil else { return nil }
            if !isTrusted(hop) { return hop }
        }
        return hops.first
    }
}
