import BerthAuth
import Foundation
import JWTKit
import Testing

/// Removing a key stops its tokens at once, even tokens verified (and cached) before; an external issuer's JWKS
/// is read again on a schedule and on an unknown key id (at most once per interval).
@Suite struct KeyReloadTests {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("berth-keys-\(UUID().uuidString)").path
    let grant = [GrantedAccess(type: "repository", name: "team/app", actions: ["pull"])]

    @Test func aRemovedSigningKeyNoLongerVerifies() async throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let authority = try await TokenAuthority.issuing(keysFolder: folder + "/keys", settings: .init())
        let old = try await authority.issue(subject: "ci", tokenID: nil, access: grant).token
        #expect(await authority.verify(old) != nil)  // verified, and now cached
        _ = try SigningKeys.rotate(folder: folder + "/keys")
        try await authority.reloadKeysIfChanged()
        let new = try await authority.issue(subject: "ci", tokenID: nil, access: grant).token
        #expect(await authority.verify(old) != nil, "a rotated-out key verifies while its file stays")
        #expect(await authority.verify(new) != nil)
        let oldFile = try #require(try FileManager.default.contentsOfDirectory(atPath: folder + "/keys").sorted().first)
        try FileManager.default.removeItem(atPath: folder + "/keys/" + oldFile)
        try await authority.reloadKeysIfChanged()
        #expect(await authority.verify(old) == nil, "the removed key's token is refused, cached or not")
        #expect(await authority.verify(new) != nil)
    }

    @Test func anExternalJWKSIsReloaded() async throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let settings = TokenAuthority.Settings(issuer: "https://auth.test", service: "registry-x")
        let issuers = try await (1...3).asyncMap { try await TokenAuthority.issuing(keysFolder: folder + "/k\($0)", settings: settings) }
        let tokens = try await issuers.asyncMap { try await $0.issue(subject: "ci", tokenID: nil, access: grant).token }
        let jwks = folder + "/jwks.json"
        try write(jwks, keys: [folder + "/k1"])

        let scheduled = try await TokenAuthority.external(jwks: jwks, certificate: nil, settings: settings)
        #expect(await scheduled.verify(tokens[0]) != nil)
        try write(jwks, keys: [folder + "/k2"])
        try await scheduled.reloadKeys()  // what the schedule and SIGHUP do
        #expect(await scheduled.verify(tokens[0]) == nil, "a key gone from the JWKS is refused after a reload")
        #expect(await scheduled.verify(tokens[1]) != nil)

        // An unknown key id makes a fresh authority read the JWKS again, once per interval.
        try write(jwks, keys: [folder + "/k1"])
        let onDemand = try await TokenAuthority.external(jwks: jwks, certificate: nil, settings: settings)
        try write(jwks, keys: [folder + "/k1", folder + "/k2", folder + "/k3"])
        #expect(await onDemand.verify(tokens[1]) != nil, "an unknown kid reloads the JWKS")
        try write(jwks, keys: [folder + "/k1"])
        let onDemand2 = try await TokenAuthority.external(jwks: jwks, certificate: nil, settings: settings)
        #expect(await onDemand2.verify(tokens[0]) != nil)
        try write(jwks, keys: [folder + "/k2"])
        #expect(await onDemand2.verify(tokens[2]) == nil, "k3 is in no JWKS read (this read loads k2, drops k1)")
        #expect(await onDemand2.verify(tokens[1]) != nil)
        #expect(await onDemand2.verify(tokens[0]) == nil)
        try write(jwks, keys: [folder + "/k3"])
        #expect(await onDemand2.verify(tokens[2]) == nil, "a second unknown kid within the interval reads nothing")
    }

    /// A JWKS of the folders' public keys (EC P-256, with their kids).
    private func write(_ path: String, keys folders: [String]) throws {
        let keys = try folders.flatMap { try SigningKeys.publicKeysPEM(folder: $0) }.map { kid, pem in
            let parameters = try #require(try ES256PublicKey(pem: pem).parameters)
            return ["kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid, "x": parameters.x, "y": parameters.y]
        }
        try JSONSerialization.data(withJSONObject: ["keys": keys]).write(to: URL(fileURLWithPath: path))
    }
}

extension Sequence {
    fileprivate func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for element in self { out.append(try await transform(element)) }
        return out
    }
}
