import BerthAuth
import BerthCore
import BerthSQLite
import Foundation
import Testing

/// Access control below HTTP: scopes, roles, access tokens, throttling, htpasswd and signed tokens.
@Suite struct AccessTests {
    struct Fixture {
        let folder: URL
        let store: SQLiteMetadataStore
        let access: AccessControl

        static func make(_ configure: (inout AccessSettings) -> Void = { _ in }) async throws -> Fixture {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("berth-access-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let store = try SQLiteMetadataStore(path: folder.path + "/metadata.db", synchronous: false)
            var settings = AccessSettings()
            configure(&settings)
            return Fixture(folder: folder, store: store, access: try await AccessControl(store: store, settings: settings))
        }

        func remove() { try? FileManager.default.removeItem(at: folder) }
    }

    static let cli = AccessControl.commandLine
    static func repo(_ name: String) -> RepositoryName { try! RepositoryName(validating: name) }

    @Test func scopesFollowTheTokenSpecGrammar() throws {
        let withPort = try ResourceScope(parsing: "repository:localhost:5000/team/app:pull,push")
        #expect(withPort.type == "repository")
        #expect(withPort.name == "localhost:5000/team/app")
        #expect(withPort.actions == ["pull", "push"])
        #expect(try ResourceScope(parsing: "repository(plugin):team/app:pull").type == "repository")
        #expect(try ResourceScope(parsing: "registry:catalog:*") == .catalog)
        for bad in ["pull", "repository:app", "repository::pull", "repository:app:pu ll", ":app:pull", "repository:app:pull,"] {
            #expect(throws: AccessError.self, "\(bad)") { try ResourceScope(parsing: bad) }
        }
        #expect(try TokenScope(parsing: "namespace:team:*").actions == Set(Action.allCases))
        #expect(throws: AccessError.self) { try TokenScope(parsing: "namespace:team/app:pull") }
        #expect(throws: AccessError.self) { try TokenScope(parsing: "repository:team/app:fly") }
    }

    @Test func rolesVisibilityAndTokensDecideActions() async throws {
        let f = try await Fixture.make()
        defer { f.remove() }
        let access = f.access
        try await access.addUser("ann", password: "ann-password", admin: false, by: Self.cli, address: nil)
        try await access.addUser("root", password: "root-password", admin: true, by: Self.cli, address: nil)
        try await access.createNamespace("team", visibility: .private, by: Self.cli, address: nil)
        try await access.createNamespace("open", visibility: .public, by: Self.cli, address: nil)
        let app = Self.repo("team/app"), pub = Self.repo("open/app"), nowhere = Self.repo("ghost/app")
        let ann = try await access.authenticate(username: "ann", password: "ann-password", address: nil)
        #expect(access.actions(ann, on: app).isEmpty)
        #expect(access.actions(.anonymous, on: pub) == [.pull])
        #expect(access.actions(.anonymous, on: app).isEmpty)
        for (role, expected) in [(Role.reader, Set<Action>([.pull])), (.writer, [.pull, .push]), (.maintainer, Set(Action.allCases))] {
            try await access.grant(role, to: "ann", in: "team", by: Self.cli, address: nil)
            #expect(access.actions(ann, on: app) == expected, "\(role)")
        }
        let root = try await access.authenticate(username: "root", password: "root-password", address: nil)
        #expect(access.actions(root, on: nowhere) == Set(Action.allCases))
        #expect(access.actions(ann, on: nowhere).isEmpty)
        // A token: its scopes intersected with the user's current rights.
        let issued = try await access.createAccessToken(
            for: "ann", scopes: [try TokenScope(parsing: "repository:team/app:pull,push")], expiresIn: .seconds(60),
            by: Self.cli, address: nil)
        let viaToken = try await access.authenticate(username: "ci", password: issued.token, address: nil)
        #expect(viaToken.tokenID == issued.record.id)
        #expect(access.actions(viaToken, on: app) == [.pull, .push])
        #expect(access.actions(viaToken, on: Self.repo("team/other")).isEmpty)
        try await access.grant(.reader, to: "ann", in: "team", by: Self.cli, address: nil)
        #expect(access.actions(viaToken, on: app) == [.pull])
        // The token service grants the intersection of what is asked and what is allowed, never an error.
        let granted = access.grantedAccess(viaToken, for: [try ResourceScope(parsing: "repository:team/app:pull,push,delete"),
                                                           try ResourceScope(parsing: "repository:ghost/app:pull")])
        #expect(granted.map(\.actions) == [["pull"], []])
        // Revoked and wrong tokens fail, at once.
        try await access.revokeAccessToken(issued.record.id, by: Self.cli, address: nil)
        await #expect(throws: AccessError.unauthenticated("invalid username or password")) {
            try await access.authenticate(username: "ci", password: issued.token, address: nil)
        }
        #expect(access.principal(subject: "ann", tokenID: issued.record.id) == nil)
        await #expect(throws: AccessError.self) {
            try await access.authenticate(username: "ann", password: "wrong-password", address: nil)
        }
        // Non-administrators cannot administer.
        await #expect(throws: AccessError.self) {
            try await access.addUser("eve", password: "eve-password", admin: true, by: ann, address: nil)
        }
        await #expect(throws: AccessError.self) { try await access.grant(.admin, to: "ann", in: "team", by: ann, address: nil) }
    }

    @Test func repeatedFailuresAreThrottledEvenWithTheRightPassword() async throws {
        let f = try await Fixture.make { $0.lockoutAttempts = 3; $0.lockoutWindow = .seconds(30) }
        defer { f.remove() }
        try await f.access.addUser("ann", password: "ann-password", admin: false, by: Self.cli, address: nil)
        for _ in 0..<3 {
            let failed = (try? await f.access.authenticate(username: "ann", password: "guess", address: "10.0.0.1")) == nil
            #expect(failed)
        }
        let outcome: Result<Principal, AccessError>
        do {
            outcome = .success(try await f.access.authenticate(username: "ann", password: "ann-password", address: "10.0.0.1"))
        } catch {
            outcome = .failure(error)
        }
        var wait = 0
        if case .failure(.throttled(let seconds)) = outcome { wait = seconds }
        #expect((1...30).contains(wait), "a locked user must get 429, got \(outcome)")
        // Failures count per user and address: nobody locks ann out from elsewhere.
        _ = try await f.access.authenticate(username: "ann", password: "ann-password", address: "10.0.0.2")
        // Another user from a fresh address is not affected.
        try await f.access.addUser("bob", password: "bob-password", admin: false, by: Self.cli, address: nil)
        _ = try await f.access.authenticate(username: "bob", password: "bob-password", address: "10.0.0.3")
    }

    @Test func htpasswdUsersWithBcryptCostTenOrMore() async throws {
        let seed = try await Fixture.make()
        try await seed.access.addUser("x", password: "from-htpasswd", admin: false, by: Self.cli, address: nil)
        let hash = try await seed.store.loadAccess().users["x"]!.passwordHash
        seed.remove()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("htpasswd-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        let weak = "$2y$05$" + String(hash.dropFirst(7))
        try "hal:\(hash)\nweak:\(weak)\nplain:{SHA}abc\n".write(to: file, atomically: true, encoding: .utf8)
        let f = try await Fixture.make { $0.htpasswdPath = file.path; $0.htpasswdAdmins = ["hal"] }
        defer { f.remove() }
        let hal = try await f.access.authenticate(username: "hal", password: "from-htpasswd", address: nil)
        #expect(hal.isAdmin)
        await #expect(throws: AccessError.self) { try await f.access.authenticate(username: "weak", password: "from-htpasswd", address: nil) }
        await #expect(throws: AccessError.self) { try await f.access.authenticate(username: "plain", password: "abc", address: nil) }
    }

    @Test func refreshTokensEndWithAnHtpasswdPasswordChange() async throws {
        let seed = try await Fixture.make()
        for (name, password) in [("one", "first-password"), ("two", "second-password")] {
            try await seed.access.addUser(name, password: password, admin: false, by: Self.cli, address: nil)
        }
        let users = try await seed.store.loadAccess().users
        seed.remove()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("htpasswd-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        try "hal:\(users["one"]!.passwordHash)\n".write(to: file, atomically: true, encoding: .utf8)
        let f = try await Fixture.make { $0.htpasswdPath = file.path }
        defer { f.remove() }
        let hal = try await f.access.authenticate(username: "hal", password: "first-password", address: nil)
        let refresh = try #require(try await f.access.issueRefreshToken(for: hal, expiresIn: .seconds(3600)))
        #expect(try await f.access.redeemRefreshToken(refresh, address: nil).user == "hal")
        // The file edited by hand (a new password), then reloaded (SIGHUP): the refresh token is dead.
        try "hal:\(users["two"]!.passwordHash)\n".write(to: file, atomically: true, encoding: .utf8)
        try await f.access.reload()
        await #expect(throws: AccessError.self) { try await f.access.redeemRefreshToken(refresh, address: nil) }
        _ = try await f.access.authenticate(username: "hal", password: "second-password", address: nil)
        // Neither an access token nor a refresh-token login gets a refresh token of its own.
        let issued = try await f.access.createAccessToken(for: "hal", scopes: [try TokenScope(parsing: "namespace:team:pull")],
                                                          expiresIn: .seconds(60), by: Self.cli, address: nil)
        let viaToken = try await f.access.authenticate(username: "hal", password: issued.token, address: nil)
        #expect(try await f.access.issueRefreshToken(for: viaToken, expiresIn: .seconds(60)) == nil)
    }

    @Test func adminScopesAreTheirOwn() async throws {
        let f = try await Fixture.make()
        defer { f.remove() }
        let access = f.access
        try await access.addUser("root", password: "root-password", admin: true, by: Self.cli, address: nil)
        try await access.createNamespace("team", visibility: .private, by: Self.cli, address: nil)
        func token(_ scopes: String...) async throws -> Principal {
            let issued = try await access.createAccessToken(for: "root", scopes: try scopes.map { try TokenScope(parsing: $0) },
                                                            expiresIn: .seconds(60), by: Self.cli, address: nil)
            return try await access.authenticate(username: "root", password: issued.token, address: nil)
        }
        let pull = try await token("repository:team/app:pull")
        await #expect(throws: AccessError.denied("this credential's scopes do not include admin:users")) {
            try await access.addUser("mallory", password: "mallory-pw", admin: true, by: pull, address: nil)
        }
        await #expect(throws: AccessError.self) {
            _ = try await access.createAccessToken(for: nil, scopes: [try TokenScope(parsing: "repository:team/app:pull,push")],
                                                   expiresIn: .seconds(30), by: pull, address: nil)
        }
        let users = try await token("admin:users")
        try await access.addUser("ok", password: "ok-password", admin: false, by: users, address: nil)
        #expect(throws: AccessError.self) { try access.requireAdmin(users, .audit) }
        let spaces = try await token("admin:namespaces")
        try access.requireMaintainer(spaces, of: "team")
        #expect(throws: AccessError.self) { try access.requireAdmin(spaces, .users) }
        #expect(try TokenScope(parsing: "admin:namespace:team").description == "admin:namespace:team")
        for bad in ["admin:everything", "admin:namespace:a/b", "admin:", "admin:namespace:"] {
            #expect(throws: AccessError.self, "\(bad)") { try TokenScope(parsing: bad) }
        }
        // A password login is limited only by its user's rights.
        let root = try await access.authenticate(username: "root", password: "root-password", address: nil)
        try access.requireAdmin(root, .gc)
    }

    @Test func signedTokensVerifyAcrossKeyRotationAndRejectTampering() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("berth-keys-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let authority = try await TokenAuthority.issuing(keysFolder: folder.path, settings: .init(service: "reg"))
        let mode = try FileManager.default.attributesOfItem(atPath: folder.path)[.posixPermissions] as? Int
        #expect(mode == 0o700)
        let access = [GrantedAccess(type: "repository", name: "team/app", actions: ["pull"])]
        let first = try await authority.issue(subject: "ann", tokenID: nil, access: access).token
        let verified = try #require(await authority.verify(first))
        #expect(verified.subject == "ann")
        #expect(verified.repositories["team/app"] == [.pull])
        _ = try SigningKeys.rotate(folder: folder.path)
        try await authority.reloadKeysIfChanged()
        let second = try await authority.issue(subject: "ann", tokenID: nil, access: access).token
        #expect(Self.header(first)["kid"] != Self.header(second)["kid"])
        #expect(await authority.verify(second) != nil)
        #expect(await authority.verify(first) != nil)
        // A payload changed after signing, or a token for another service, does not verify.
        var parts = second.split(separator: ".").map(String.init)
        // One character in the middle changed (a replacement of every "A" was a no-op when the payload had none).
        var payload = Array(parts[1])
        payload[payload.count / 2] = payload[payload.count / 2] == "A" ? "B" : "A"
        parts[1] = String(payload)
        #expect(await authority.verify(parts.joined(separator: ".")) == nil)
        let other = try await TokenAuthority.issuing(keysFolder: folder.path, settings: .init(service: "elsewhere"))
        #expect(await authority.verify(try await other.issue(subject: "ann", tokenID: nil, access: access).token) == nil)
    }

    static func header(_ token: String) -> [String: String] {
        var text = String(token.split(separator: ".")[0]).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text += "=" }
        return (try? JSONDecoder().decode([String: String].self, from: Data(base64Encoded: text) ?? Data())) ?? [:]
    }
}
