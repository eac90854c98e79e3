// Fuzzes BerthCore.ManifestReference(parsing:): a tag or a digest, as in /v2/<name>/manifests/<reference>.
// Input: a reference.
import BerthCore
import BerthFuzzSupport

@main enum FuzzManifestReference {
    static func main() { FuzzDriver.run(harness) }

    static func harness(_ input: UnsafeRawBufferPointer) {
        let string = input.text
        let looksLikeDigest = string.contains(":")
        do {
            let reference = try ManifestReference(parsing: string)
            require(Array(reference.description.utf8) == Array(string.utf8), "\(string.debugDescription) became \(reference)")
            switch reference {
            case .tag(let tag):
                require(!looksLikeDigest && Tag.isValid(tag) && tag == string, "tag \(tag.debugDescription) from \(string.debugDescription)")
            case .digest(let digest):
                require(looksLikeDigest && (try? Digest(parsing: string)) == digest, "digest \(digest) from \(string.debugDescription)")
            }
            require((try? ManifestReference(parsing: reference.description)) == reference, "\(string.debugDescription) does not re-parse")
        } catch {
            if looksLikeDigest {
                require(error.kind == .digestInvalid && (try? Digest(parsing: string)) == nil, "\(error) for \(string.debugDescription)")
            } else {
                require(error.kind == .manifestInvalid && !Tag.isValid(string), "\(error) for \(string.debugDescription)")
            }
        }
    }
}
