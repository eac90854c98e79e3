import Crypto
import Foundation

/// AWS Signature Version 4: canonical request, string to sign, signing key, the Authorization header and
/// presigned query-string URLs. Pure functions of their inputs (the time is a parameter), so the published
/// AWS examples can be checked exactly.
public struct SigV4Signer: Sendable {
    public var accessKey: String
    public var secretKey: String
    public var sessionToken: String?
    public var region: String
    public var service: String

    public static let algorithm = "AWS4-HMAC-SHA256"
    /// The payload hash for a body that is not hashed before sending (S3 accepts it over any transport).
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"
    /// SHA-256 of no bytes: the payload hash of GET, HEAD and DELETE.
    public static let emptyPayloadSHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    public init(accessKey: String, secretKey: String, sessionToken: String? = nil, region: String,
                service: String = "s3") {
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.sessionToken = sessionToken
        self.region = region
        self.service = service
    }

    // MARK: Encoding

    /// URI-encodes per AWS rules: every byte but A-Z a-z 0-9 - . _ ~ becomes %XX (upper-case hex); '/' is
    /// kept when `encodeSlash` is false (object key paths). S3 paths are encoded once, never twice.
    public static func uriEncode(_ string: some StringProtocol, encodeSlash: Bool = true) -> String {
        var out = [UInt8]()
        out.reserveCapacity(string.utf8.count)
        let hex = Array("0123456789ABCDEF".utf8)
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                 UInt8(ascii: "~"):
                out.append(byte)
            case UInt8(ascii: "/") where !encodeSlash:
                out.append(byte)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0f)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The canonical query string: each name and value encoded, sorted by encoded name then value, a bare
    /// name given an empty value (`lifecycle` → `lifecycle=`).
    public static func canonicalQuery(_ query: [(String, String)]) -> String {
        query.map { (uriEncode($0.0), uriEncode($0.1)) }
            .sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }

    /// Canonical headers and the signed-header list: names lower-cased and sorted, values trimmed with inner
    /// runs of spaces collapsed, repeated names joined by commas.
    public static func canonicalHeaders(_ headers: [(String, String)]) -> (canonical: String, signed: String) {
        var merged: [String: [String]] = [:]
        for (name, value) in headers {
            merged[name.lowercased(), default: []].append(normalize(value))
        }
        let names = merged.keys.sorted()
        let canonical = names.map { "\($0):\(merged[$0]!.joined(separator: ","))\n" }.joined()
        return (canonical, names.joined(separator: ";"))
    }

    private static func normalize(_ value: String) -> String {
        var out = ""
        var lastSpace = false
        for ch in value.trimmingCharacters(in: .whitespaces) {
            if ch == " " || ch == "\t" {
                if !lastSpace { out.append(" ") }
                lastSpace = true
            } else {
                out.append(ch)
                lastSpace = false
            }
        }
        return out
    }

    // MARK: Signing steps

    /// The canonical request. `path` is the already encoded canonical URI (e.g. `/bucket/key%24`).
    public static func canonicalRequest(method: String, path: String, query: [(String, String)],
                                        headers: [(String, String)], payloadHash: String) -> String {
        let (canonical, signed) = canonicalHeaders(headers)
        return [method, path.isEmpty ? "/" : path, canonicalQuery(query), canonical, signed, payloadHash]
            .joined(separator: "\n")
    }

    public func scope(_ date: Date) -> String {
        "\(Self.dateStamp(date))/\(region)/\(service)/aws4_request"
    }

    public func stringToSign(canonicalRequest: String, date: Date) -> String {
        [Self.algorithm, Self.timestamp(date), scope(date), Self.sha256Hex(Data(canonicalRequest.utf8))]
            .joined(separator: "\n")
    }

    public func signingKey(_ date: Date) -> SymmetricKey {
        var key = SymmetricKey(data: Data("AWS4\(secretKey)".utf8))
        for part in [Self.dateStamp(date), region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        return key
    }

    public func signature(stringToSign: String, date: Date) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: signingKey(date))
        return Self.hex(mac)
    }

    /// The Authorization header value for a request whose headers (including host and x-amz-date) are given.
    public func authorization(method: String, path: String, query: [(String, String)], headers: [(String, String)],
                              payloadHash: String, date: Date) -> String {
        let request = Self.canonicalRequest(method: method, path: path, query: query, headers: headers,
                                            payloadHash: payloadHash)
        let signed = Self.canonicalHeaders(headers).signed
        let signature = signature(stringToSign: stringToSign(canonicalRequest: request, date: date), date: date)
        return "\(Self.algorithm) Credential=\(accessKey)/\(scope(date)), SignedHeaders=\(signed), Signature=\(signature)"
    }

    /// Adds x-amz-date, x-amz-content-sha256, x-amz-security-token (with a session token) and Authorization to
    /// `headers`, which must already hold `host` and every other header to sign.
    public func sign(method: String, path: String, query: [(String, String)], headers: inout [(String, String)],
                     payloadHash: String, date: Date = Date()) {
        headers.append(("x-amz-date", Self.timestamp(date)))
        headers.append(("x-amz-content-sha256", payloadHash))
        if let sessionToken { headers.append(("x-amz-security-token", sessionToken)) }
        let value = authorization(method: method, path: path, query: query, headers: headers,
                                  payloadHash: payloadHash, date: date)
        headers.append(("Authorization", value))
    }

    /// The query string of a presigned URL (only `host` signed, payload unsigned), ending in X-Amz-Signature.
    public func presignedQuery(method: String, host: String, path: String, query: [(String, String)] = [],
                               expires: Int, date: Date = Date(),
                               payloadHash: String = SigV4Signer.unsignedPayload) -> String {
        var params = query
        params.append(("X-Amz-Algorithm", Self.algorithm))
        params.append(("X-Amz-Credential", "\(accessKey)/\(scope(date))"))
        params.append(("X-Amz-Date", Self.timestamp(date)))
        params.append(("X-Amz-Expires", String(expires)))
        if let sessionToken { params.append(("X-Amz-Security-Token", sessionToken)) }
        params.append(("X-Amz-SignedHeaders", "host"))
        let request = Self.canonicalRequest(method: method, path: path, query: params, headers: [("host", host)],
                                            payloadHash: payloadHash)
        let signature = signature(stringToSign: stringToSign(canonicalRequest: request, date: date), date: date)
        return Self.canonicalQuery(params) + "&X-Amz-Signature=" + signature
    }

    // MARK: Helpers

    /// `yyyyMMdd'T'HHmmss'Z'` in UTC.
    public static func timestamp(_ date: Date) -> String {
        let c = utc(date)
        return pad(c.year, 4) + pad(c.month, 2) + pad(c.day, 2) + "T" + pad(c.hour, 2) + pad(c.minute, 2)
            + pad(c.second, 2) + "Z"
    }

    /// `yyyyMMdd` in UTC.
    public static func dateStamp(_ date: Date) -> String {
        let c = utc(date)
        return pad(c.year, 4) + pad(c.month, 2) + pad(c.day, 2)
    }

    private static func utc(_ date: Date) -> (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        // Civil-from-days (Howard Hinnant's algorithm): no Calendar or formatter state to share between tasks.
        let seconds = Int(date.timeIntervalSince1970.rounded(.down))
        let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let rest = seconds - days * 86400
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day, rest / 3600, rest % 3600 / 60, rest % 60)
    }

    private static func pad(_ n: Int, _ width: Int) -> String {
        let s = String(n)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }

    public static func sha256Hex(_ data: some DataProtocol) -> String { hex(SHA256.hash(data: data)) }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
