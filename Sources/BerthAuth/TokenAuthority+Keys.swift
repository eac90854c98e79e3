import Foundation
import JWTKit
import Synchronization

/// Where a token authority's keys come from, and loading them afresh.
enum KeySource: Sendable {
    /// Berth's own ES256 keys, one PEM file each (`SigningKeys`); the newest signs.
    case folder(String)
    /// An external issuer's JWKS file, or its PEM public key or certificate.
    case external(jwks: String?, certificate: String?)

    func load() async throws -> KeySet {
        let collection = JWTKeyCollection()
        switch self {
        case .folder(let folder):
            let loaded = try SigningKeys.load(folder: folder)
            for key in loaded { await collection.add(ecdsa: key.key, kid: JWKIdentifier(string: key.kid)) }
            return KeySet(collection: collection, signingKID: loaded.last?.kid, kids: Set(loaded.map(\.kid)),
                          files: SigningKeys.fileNames(folder))
        case .external(let jwks, let certificate):
            var kids = Set<String>()
            if let jwks {
                let text = try String(contentsOfFile: jwks, encoding: .utf8)
                try await collection.add(jwksJSON: text)
                kids = Set((try? JSONDecoder().decode(JWKS.self, from: Data(text.utf8)))?.keys.compactMap { $0.keyIdentifier?.string } ?? [])
            }
            if let certificate {
                let pem = try String(contentsOfFile: certificate, encoding: .utf8)
                if let key = (try? ES256PublicKey(certificate: pem)) ?? (try? ES256PublicKey(pem: pem)) {
                    await collection.add(ecdsa: key)
                } else if let key = try? Insecure.RSA.PublicKey(certificatePEM: pem) {
                    await collection.add(rsa: key, digestAlgorithm: .sha256)
                } else {
                    await collection.add(rsa: try Insecure.RSA.PublicKey(pem: pem), digestAlgorithm: .sha256)
                }
            }
            return KeySet(collection: collection, signingKID: nil, kids: kids, files: [])
        }
    }
}

/// One generation of keys: replaced whole, never added to, so a key removed from its source stops verifying.
struct KeySet: Sendable {
    let collection: JWTKeyCollection
    let signingKID: String?
    /// The key ids loaded (an external JWKS's, or the folder's).
    let kids: Set<String>
    /// The key files loaded (folder source), to notice `berth key rotate` and removals cheaply.
    let files: [String]
}

extension TokenAuthority {
    /// Whether the keys are an external issuer's (verification only).
    public var isExternal: Bool {
        if case .external = source { return true }
        return false
    }

    /// Rebuilds the keys from their source (the folder, or the external issuer's files) and forgets every
    /// verified token, so a removed key's tokens are refused at once.
    public func reloadKeys() async throws {
        let fresh = try await source.load()
        keySet.withLock { $0 = fresh }
        verified.withLock { $0.removeAll() }
    }

    /// Reloads when the folder's key files changed since the last load (a key added or removed). Cheap: one
    /// folder listing. External keys reload on `reloadKeys()` (a schedule, SIGHUP) and on an unknown key id.
    public func reloadKeysIfChanged() async throws {
        guard case .folder(let folder) = source, keySet.withLock({ $0.files }) != SigningKeys.fileNames(folder) else { return }
        try await reloadKeys()
    }

    /// The claims of a token whose signature verifies. A token naming a key id this authority does not know
    /// reloads an external issuer's keys first (it may have rotated), at most once per `kidReloadEvery`.
    func claims(of token: String) async -> RegistryClaims? {
        if let claims = try? await keys.verify(token, as: RegistryClaims.self) { return claims }
        guard case .external = source, let kid = Self.keyID(of: token), !keySet.withLock({ $0.kids.contains(kid) }) else { return nil }
        let now = ContinuousClock.now
        let due = lastKidReload.withLock { last in
            guard last.map({ now - $0 >= Self.kidReloadEvery }) ?? true else { return false }
            last = now
            return true
        }
        guard due, (try? await reloadKeys()) != nil else { return nil }
        return try? await keys.verify(token, as: RegistryClaims.self)
    }

    /// The `kid` of a JWT's header, without verifying anything.
    static func keyID(of token: String) -> String? {
        guard let header = token.split(separator: ".", maxSplits: 1).first, header.utf8.count <= 4096 else { return nil }
        var text = header.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        text += String(repeating: "=", count: (4 - text.utf8.count % 4) % 4)
        struct Header: Decodable { var kid: String? }
        guard let data = Data(base64Encoded: text) else { return nil }
        return (try? JSONDecoder().decode(Header.self, from: data))?.kid
    }
}
