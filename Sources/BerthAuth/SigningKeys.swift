#if canImport(Glibc)
import Glibc
#endif
import BerthFilesystem
import Crypto
import Foundation
import JWTKit

/// The token service's ES256 signing keys, one PEM file each under a folder readable by its owner only.
/// The newest key signs; every key in the folder verifies, so a rotated-out key's tokens stay valid until
/// they expire or its file is removed.
public enum SigningKeys {
    public struct Key: Sendable {
        public var kid: String
        public var key: ES256PrivateKey
    }

    /// Loads the folder's keys, oldest first, making the folder and a first key when there are none.
    public static func load(folder: String) throws -> [Key] {
        try prepare(folder)
        var keys = try read(folder)
        if keys.isEmpty {
            _ = try rotate(folder: folder)
            keys = try read(folder)
        }
        return keys
    }

    /// The public halves of the folder's keys, PEM, for verifiers elsewhere (an external-mode Berth, say).
    public static func publicKeysPEM(folder: String) throws -> [(kid: String, pem: String)] {
        try read(folder).map { ($0.kid, $0.key.publicKey.pemRepresentation) }
    }

    /// Adds a new signing key and returns its kid.
    public static func rotate(folder: String) throws -> String {
        try prepare(folder)
        let key = ES256PrivateKey()
        let kid = try kid(of: key)
        let stamp = String(Int64(Date().timeIntervalSince1970 * 1000))
        let name = "es256-\(String(repeating: "0", count: max(0, 15 - stamp.count)) + stamp)-\(kid).pem"
        try writeDurably(Data(key.pemRepresentation.utf8), to: folder + "/" + name, mode: 0o600)
        return kid
    }

    /// The key files, in signing order (the last signs).
    static func fileNames(_ folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
            .filter { $0.hasPrefix("es256-") && $0.hasSuffix(".pem") }.sorted()
    }

    private static func read(_ folder: String) throws -> [Key] {
        let names = fileNames(folder)
        return try names.map { name in
            let key = try ES256PrivateKey(pem: String(contentsOfFile: folder + "/" + name, encoding: .utf8))
            return Key(kid: try kid(of: key), key: key)
        }
    }

    /// A key id from the public key: the first 12 bytes of its SHA-256, in hex (24 characters). Kept at 12:
    /// a longer id would rename every key already in use, and tokens name their key by it.
    static func kid(of key: ES256PrivateKey) throws -> String {
        let pem = key.publicKey.pemRepresentation
        return Secrets.hex(SHA256.hash(data: Data(pem.utf8)).prefix(12))
    }

    private static func prepare(_ folder: String) throws {
        // Missing ancestors too (a `auth.token.keys` outside the root): the keys must survive a power loss.
        try DurableFolders.make(folder, mode: 0o700)
    }

    /// Writes through a temporary file, synced, renamed into place, with the folder synced.
    public static func writeDurably(_ data: Data, to path: String, mode: mode_t) throws {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        defer { close(fd) }
        try data.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                guard n > 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
                offset += n
            }
        }
        guard fsync(fd) == 0, rename(temporary, path) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        try syncFolder((path as NSString).deletingLastPathComponent)
    }

    private static func syncFolder(_ path: String) throws {
        let fd = open(path.isEmpty ? "." : path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
    }
}
