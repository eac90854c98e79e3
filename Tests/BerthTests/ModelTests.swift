import BerthCore
import BerthServer
import Foundation
import Testing

@Suite struct ModelTests {
    /// FIPS 180-2 test vectors for "abc".
    @Test func digestsMatchPublishedVectors() throws {
        let abc = Data("abc".utf8)
        #expect(Digest.of(abc).description == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Digest.of(abc, algorithm: .sha512).description ==
            "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f")
        #expect(throws: RegistryError.self) { try Digest(parsing: "sha256:ABC") }
        #expect(throws: RegistryError.self) { try Digest(parsing: "sha384:" + String(repeating: "a", count: 96)) }
    }

    @Test func repositoryNameGrammar() {
        for valid in ["a", "library/ubuntu", "team/app/api", "a.b_c__d---e", "0", "x/y-1"] {
            #expect((try? RepositoryName(validating: valid)) != nil, "\(valid)")
        }
        for invalid in ["", "A", "a/", "/a", "a//b", "..", "a/../b", "a___b", "a.", "-a", "a/.b", "a b",
                        String(repeating: "a", count: 256)] {
            #expect((try? RepositoryName(validating: invalid)) == nil, "\(invalid)")
        }
    }

    @Test func tagGrammar() {
        #expect(Tag.isValid("v1.0_rc-1"))
        #expect(Tag.isValid("_x"))
        #expect(!Tag.isValid(".x"))
        #expect(!Tag.isValid("-x"))
        #expect(!Tag.isValid(String(repeating: "a", count: 129)))
    }

    @Test func configurationLayersAndValidation() throws {
        var configuration = Configuration()
        try configuration.apply(yaml: """
            address: 127.0.0.1:6000
            root: /var/lib/berth
            storage:
              fsync: false
            limits:
              manifest_max_bytes: 1024
            log:
              level: debug
            """)
        #expect(configuration.host == "127.0.0.1" && configuration.port == 6000)
        #expect(configuration.root == "/var/lib/berth")
        #expect(configuration.fsync == false)
        #expect(configuration.manifestMaxBytes == 1024)
        #expect(throws: ConfigurationError.self) { try Configuration().applying("storage:\n  fsynk: true\n") }
        #expect(throws: ConfigurationError.self) { try Configuration().applying("address: nowhere\n") }
        #expect(throws: ConfigurationError.self) { try Configuration().applying("log:\n  level: loud\n") }
    }
}

extension Configuration {
    func applying(_ yaml: String) throws -> Configuration {
        var copy = self
        try copy.apply(yaml: yaml)
        return copy
    }
}
