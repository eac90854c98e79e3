// Fuzzes BerthCore.Digest(parsing:) against a reference on bytes, and checks that a parsed digest keeps its text
// and re-parses to itself. Input: a digest string.
import BerthCore
import BerthFuzzSupport

@main enum FuzzDigest {
    static func main() { FuzzDriver.run(harness) }

    static func harness(_ input: UnsafeRawBufferPointer) {
        let string = input.text
        let digest: Digest?
        do {
            digest = try Digest(parsing: string)
        } catch {
            require(error.kind == .digestInvalid, "Digest(parsing:) threw \(error)")
            digest = nil
        }
        require((digest != nil) == reference(Array(string.utf8)),
                "Digest(parsing: \(string.debugDescription)) is \(digest == nil ? "invalid" : "valid"), the grammar says otherwise")
        require((try? Digest(parsing: Substring(string))) == digest, "String and Substring disagree on \(string.debugDescription)")
        guard let digest else { return }
        require(Array(digest.description.utf8) == Array(string.utf8), "description \(digest.description.debugDescription) of \(string.debugDescription)")
        require(digest.description == "\(digest.algorithm.rawValue):\(digest.encoded)", "parts of \(string.debugDescription)")
        require((try? Digest(parsing: digest.description)) == digest, "\(string.debugDescription) does not re-parse")
        require(Digest(algorithm: digest.algorithm, encoded: digest.encoded) == digest, "rebuilt \(string.debugDescription) differs")
        require(Digest.looksLikeDigest(string), "a digest that does not look like one: \(string.debugDescription)")
    }

    /// `sha256:` and 64, or `sha512:` and 128, lowercase hex digits.
    static func reference(_ bytes: [UInt8]) -> Bool {
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")) else { return false }
        let hexLength: Int
        switch String(decoding: bytes[..<colon], as: UTF8.self) {
        case "sha256": hexLength = 64
        case "sha512": hexLength = 128
        default: return false
        }
        let encoded = bytes[(colon + 1)...]
        return encoded.count == hexLength && encoded.allSatisfy { Array("0123456789abcdef".utf8).contains($0) }
    }
}
