import BerthCore
import Foundation
import Testing

/// Sizes and quotas as people and clients write them: never a trap on overflow, always a clear refusal.
@Suite struct QuotaTests {
    @Test func sizesParseWithUnits() throws {
        #expect(try ByteSize.parse("1048576") == 1_048_576)
        #expect(try ByteSize.parse("500MB") == 500_000_000)
        #expect(try ByteSize.parse("10GiB") == 10 << 30)
        #expect(try ByteSize.parse("2 tb") == 2_000_000_000_000)
        #expect(try ByteSize.parse("7bytes") == 7)
        #expect(try ByteSize.parse("9223372036854775807") == Int64.max)
    }

    @Test(arguments: ["", "GiB", "-5", "5.5GiB", "10 parsecs", "0x10", "9999999999999999999GiB",
                      "9223372036854775808", "99999999999999999999999999999", "8EiB", "9000PiB"])
    func badSizesAreRefused(text: String) {
        #expect(throws: QuotaError.self) { try ByteSize.parse(text) }
    }

    @Test func quotasAreBounded() throws {
        #expect(throws: QuotaError.self) { try NamespaceQuota(storageBytes: nil, repositories: nil) }
        #expect(throws: QuotaError.self) { try NamespaceQuota(storageBytes: -1, repositories: nil) }
        #expect(throws: QuotaError.self) { try NamespaceQuota(storageBytes: Int64.max, repositories: nil) }
        #expect(throws: QuotaError.self) { try NamespaceQuota(storageBytes: nil, repositories: -3) }
        let quota = try NamespaceQuota(storageBytes: 10 << 30, repositories: 0)
        #expect(quota.summary == "storage 10 GiB (10737418240 bytes), 0 repositories")
        let json = try JSONEncoder().encode(quota)
        #expect(try JSONDecoder().decode(NamespaceQuota.self, from: json) == quota)
        #expect(throws: QuotaError.self) { try JSONDecoder().decode(NamespaceQuota.self, from: Data(#"{"storageBytes":-1}"#.utf8)) }
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(NamespaceQuota.self, from: Data(#"{"storageBytes":1e30}"#.utf8))
        }
    }
}
