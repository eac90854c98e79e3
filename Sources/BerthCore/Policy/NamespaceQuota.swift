import Foundation

/// A namespace's quota: how many bytes its repositories may hold (each distinct blob once, plus manifests) and
/// how many repositories it may have. Either limit may be absent.
public struct NamespaceQuota: Sendable, Hashable, Codable {
    public var storageBytes: Int64?
    public var repositories: Int?

    /// Bounds that keep every sum with a client's declared length checkable (and mean something).
    public static let maxStorageBytes: Int64 = 1 << 60  // 1 EiB
    public static let maxRepositories = Int(Int32.max)

    /// A validated quota: at least one limit, each within bounds (0 is allowed: nothing more may be added).
    public init(storageBytes: Int64?, repositories: Int?) throws(QuotaError) {
        guard storageBytes != nil || repositories != nil else {
            throw QuotaError("a quota needs a storage limit or a repository limit (to remove one, clear it)")
        }
        if let storageBytes, !(0...Self.maxStorageBytes).contains(storageBytes) {
            throw QuotaError("storage limit \(storageBytes) is out of range: 0 to \(Self.maxStorageBytes) bytes (1 EiB)")
        }
        if let repositories, !(0...Self.maxRepositories).contains(repositories) {
            throw QuotaError("repository limit \(repositories) is out of range: 0 to \(Self.maxRepositories)")
        }
        self.storageBytes = storageBytes
        self.repositories = repositories
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(storageBytes: try container.decodeIfPresent(Int64.self, forKey: .storageBytes),
                      repositories: try container.decodeIfPresent(Int.self, forKey: .repositories))
    }

    /// The quota in words, for the CLI and the audit log: `storage 10 GiB (10737418240 bytes), 5 repositories`.
    public var summary: String {
        var parts: [String] = []
        if let storageBytes { parts.append("storage \(ByteSize.describe(storageBytes))") }
        if let repositories { parts.append("\(repositories) repositories") }
        return parts.joined(separator: ", ")
    }
}

/// A quota refused as invalid (out of range, unparsable size).
public struct QuotaError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Byte sizes as people write them: `1048576`, `500MB`, `10GiB`, `2 TB` (decimal and binary units, any case).
public enum ByteSize {
    static let units: [(String, Int64)] = [
        ("kib", 1 << 10), ("mib", 1 << 20), ("gib", 1 << 30), ("tib", 1 << 40), ("pib", 1 << 50),
        ("kb", 1_000), ("mb", 1_000_000), ("gb", 1_000_000_000), ("tb", 1_000_000_000_000),
        ("pb", 1_000_000_000_000_000), ("b", 1), ("bytes", 1),
    ]

    /// Parses without ever trapping: too large a number or product is an error, not an overflow.
    public static func parse(_ text: String) throws(QuotaError) -> Int64 {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let digits = trimmed.prefix { $0.isASCII && $0.isNumber }
        let unitText = trimmed.dropFirst(digits.count).trimmingCharacters(in: .whitespaces).lowercased()
        guard !digits.isEmpty else {
            throw QuotaError("invalid size \(text.prefix(40)): a whole number of bytes, or with a unit (500MB, 10GiB)")
        }
        var value: Int64 = 0
        for c in digits.utf8 {
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(Int64(c - UInt8(ascii: "0")))
            guard !o1, !o2 else { throw QuotaError("size \(text.prefix(40)) is too large") }
            value = sum
        }
        let multiplier: Int64
        if unitText.isEmpty {
            multiplier = 1
        } else if let unit = units.first(where: { $0.0 == unitText }) {
            multiplier = unit.1
        } else {
            throw QuotaError("unknown size unit \(unitText.prefix(20)) (B, KB, MB, GB, TB, PB, KiB, MiB, GiB, TiB, PiB)")
        }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { throw QuotaError("size \(text.prefix(40)) is too large") }
        return bytes
    }

    /// `10 GiB (10737418240 bytes)`, or `512 bytes`.
    public static func describe(_ bytes: Int64) -> String {
        let binary: [(String, Int64)] = [("PiB", 1 << 50), ("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
        guard let (name, size) = binary.first(where: { bytes >= $0.1 }) else { return "\(bytes) bytes" }
        let scaled = Double(bytes) / Double(size)
        let text = scaled == scaled.rounded() ? String(Int64(scaled)) : String(format: "%.2f", scaled)
        return "\(text) \(name) (\(bytes) bytes)"
    }
}
