import BerthAuth
import BerthServer
import Foundation
import Testing

/// External mode: Berth issues nothing and trusts only tokens from the configured issuer, for its service,
/// signed by the configured key, and only for what their `access` claim grants.
@Suite struct ExternalIssuerTests {
    @Test func tokensOfTheConfiguredIssuerOnly() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("berth-issuer-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let issuerSettings = TokenAuthority.Settings(issuer: "https://auth.test", service: "registry-x")
        let issuer = try await TokenAuthority.issuing(keysFolder: folder.path + "/keys", settings: issuerSettings)
        let publicKey = folder.path + "/issuer.pem"
        try SigningKeys.publicKeysPEM(folder: folder.path + "/keys")[0].pem.write(toFile: publicKey, atomically: true, encoding: .utf8)
        let registry = try await TestRegistry.start { configuration in
            configuration.auth.mode = .external
            configuration.auth.externalRealm = "https://auth.test/token"
            configuration.auth.externalService = "registry-x"
            configuration.auth.externalIssuer = "https://auth.test"
            configuration.auth.externalCertificate = publicKey
        }
        defer { Task { await registry.destroy() } }

        let ping = try await registry.request(.GET, "/v2/")
        #expect(ping.status == 401)
        #expect(ping.header("WWW-Authenticate") == "Bearer realm=\"https://auth.test/token\",service=\"registry-x\"")

        let grant = [GrantedAccess(type: "repository", name: "team/app", actions: ["pull", "push"])]
        let token = try await issuer.issue(subject: "ci", tokenID: nil, access: grant).token
        let bearer = [("Authorization", "Bearer \(token)")]
        let blob = Data("external".utf8)
        let digest = Fixtures.sha256(blob)
        let pushed = try await registry.request(.POST, "/v2/team/app/blobs/uploads/?digest=\(digest)", headers: bearer, body: blob)
        #expect(pushed.status == 201)
        #expect(try await registry.request(.GET, "/v2/team/app/blobs/\(digest)", headers: bearer).status == 200)
        let delete = try await registry.request(.DELETE, "/v2/team/app/blobs/\(digest)", headers: bearer)
        #expect(delete.status == 401)
        #expect(delete.header("WWW-Authenticate")?.contains("error=\"insufficient_scope\"") == true)
        #expect(try await registry.request(.GET, "/v2/team/other/blobs/\(digest)", headers: bearer).status == 401)

        // The same key under another issuer name, or for another service, is not trusted.
        for settings in [TokenAuthority.Settings(issuer: "https://evil.test", service: "registry-x"),
                         TokenAuthority.Settings(issuer: "https://auth.test", service: "other")] {
            let stranger = try await TokenAuthority.issuing(keysFolder: folder.path + "/keys", settings: settings)
            let forged = try await stranger.issue(subject: "ci", tokenID: nil, access: grant).token
            let reply = try await registry.request(.GET, "/v2/team/app/blobs/\(digest)", headers: [("Authorization", "Bearer \(forged)")])
            #expect(reply.status == 401)
            #expect(reply.header("WWW-Authenticate")?.contains("error=\"invalid_token\"") == true)
        }
        // Another key does not verify.
        let otherKeys = try await TokenAuthority.issuing(keysFolder: folder.path + "/other", settings: issuerSettings)
        let wrongKey = try await otherKeys.issue(subject: "ci", tokenID: nil, access: grant).token
        #expect(try await registry.request(.GET, "/v2/team/app/blobs/\(digest)", headers: [("Authorization", "Bearer \(wrongKey)")]).status == 401)
    }
}
