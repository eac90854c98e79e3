import Crypto
import Foundation

/// A content digest, `algorithm:encoded`, as defined by the OCI image-spec descriptor grammar.
/// Only sha256 and sha512 are supported; other grammatically valid algorithms are rejected as unsupported.
public struct Digest: Hashable, Sendable, CustomStringConvertible, Comparable {
    public enum Algorithm: String, Sendable, CaseIterable {
        case sha256, sha512

        /// Length of the lowercase hex encoding.
        var hexLength: Int { self == .sha256 ? 64 : 128 }
    }

    public let algorithm: Algorithm
    public let encoded: String
    /// `algorithm:encoded`, kept rather than rebuilt: it is used several times per request.
    public let description: String

    /// Parses and validates a digest string. Throws `DIGEST_INVALID` on anything else.
    /// Works on UTF-8 bytes: it runs on every blob and manifest request.
    public init(parsing string: some StringProtocol) throws(RegistryError) {
        let bytes = string.utf8
        let algorithm: Algorithm
        if bytes.starts(with: "sha256:".utf8) {
            algorithm = .sha256
        } else if bytes.starts(with: "sha512:".utf8) {
            algorithm = .sha512
        } else {
            throw Self.invalid(string)
        }
        let prefix = algorithm.rawValue.utf8.count + 1
        guard bytes.count == prefix + algorithm.hexLength,
              bytes.dropFirst(prefix).allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) })
        else {
            throw RegistryError(.digestInvalid, "invalid \(algorithm.rawValue) digest")
        }
        let text = String(string)
        self.algorithm = algorithm
        self.description = text
        self.encoded = String(text.utf8.dropFirst(prefix))!
    }

    /// The error for a string without a supported algorithm prefix, saying which part is wrong.
    private static func invalid(_ string: some StringProtocol) -> RegistryError {
        guard let colon = string.firstIndex(of: ":") else {
            return RegistryError(.digestInvalid, "invalid digest \(String(string.prefix(200)))")
        }
        return RegistryError(.digestInvalid, "unsupported digest algorithm \(String(string[..<colon].prefix(64)))")
    }

    public init(algorithm: Algorithm, encoded: String) {
        self.algorithm = algorithm
        self.encoded = encoded
        self.description = "\(algorithm.rawValue):\(encoded)"
    }

    /// True when `string` looks like a digest (contains a colon) rather than a tag.
    public static func looksLikeDigest(_ string: some StringProtocol) -> Bool {
        string.contains(":")
    }

    public static func < (lhs: Digest, rhs: Digest) -> Bool { lhs.description < rhs.description }

    /// Digest of a complete byte buffer.
    public static func of(_ bytes: some DataProtocol & Sendable, algorithm: Algorithm = .sha256) -> Digest {
        var hasher = DigestHasher(algorithm)
        hasher.update(bytes)
        return hasher.finalize()
    }
}

/// An incremental hasher producing a `Digest`, for streaming uploads.
public struct DigestHasher: Sendable {
    private enum State: Sendable {
        case sha256(SHA256)
        case sha512(SHA512)
    }

    private var state: State
    public let algorithm: Digest.Algorithm

    public init(_ algorithm: Digest.Algorithm) {
        self.algorithm = algorithm
        switch algorithm {
        case .sha256: state = .sha256(SHA256())
        case .sha512: state = .sha512(SHA512())
        }
    }

    public mutating func update(_ bytes: some DataProtocol) {
        switch state {
        case .sha256(var h):
            h.update(data: bytes)
            state = .sha256(h)
        case .sha512(var h):
            h.update(data: bytes)
            state = .sha512(h)
        }
    }

    public mutating func update(bufferPointer: UnsafeRawBufferPointer) {
        switch state {
        case .sha256(var h):
            h.update(bufferPointer: bufferPointer)
            state = .sha256(h)
        case .sha512(var h):
            h.update(bufferPointer: bufferPointer)
            state = .sha512(h)
        }
    }

    public func finalize() -> Digest {
        let bytes: [UInt8]
        switch state {
        case .sha256(let h): bytes = Array(h.finalize())
        case .sha512(let h): bytes = Array(h.finalize())
        }
        return Digest(algorithm: algorithm, encoded: Self.hex(bytes))
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    static func hex(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(hexDigits[Int(b >> 4)])
            out.append(hexDigits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
