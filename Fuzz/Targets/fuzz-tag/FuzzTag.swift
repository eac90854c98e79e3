// Fuzzes BerthCore.Tag.isValid against a reference on Unicode scalars. Input: a tag.
import BerthCore
import BerthFuzzSupport

@main enum FuzzTag {
    static func main() { FuzzDriver.run(harness) }

    static func harness(_ input: UnsafeRawBufferPointer) {
        let string = input.text
        let valid = Tag.isValid(string)
        require(valid == reference(string), "Tag.isValid(\(string.debugDescription)) is \(valid), the grammar says otherwise")
        require(Tag.isValid(Substring(string)) == valid, "String and Substring disagree on \(string.debugDescription)")
        if valid {
            // A valid tag is a tag reference, never a digest, and never a path.
            require((try? ManifestReference(parsing: string)) == .tag(string), "tag \(string.debugDescription) is no tag reference")
            require(!string.contains("/") && !Digest.looksLikeDigest(string), "tag \(string.debugDescription)")
        }
    }

    /// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
    static func reference(_ string: String) -> Bool {
        let scalars = Array(string.unicodeScalars)
        func word(_ s: Unicode.Scalar) -> Bool { s.isASCII && (s.properties.isAlphabetic || s.properties.numericType != nil || s == "_") }
        guard let first = scalars.first, (1...128).contains(scalars.count), word(first) else { return false }
        return scalars.allSatisfy { word($0) || $0 == "." || $0 == "-" }
    }
}
