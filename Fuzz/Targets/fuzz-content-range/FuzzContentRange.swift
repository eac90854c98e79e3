// Fuzzes BerthWire.ContentRange.chunkStart (the Content-Range of upload chunks) against a reference written on
// Characters with Int64.init. Input: the header, then optionally a newline and the Content-Length.
import BerthFuzzSupport
import BerthWire

@main enum FuzzContentRange {
    static func main() { FuzzDriver.run(harness) }

    static func harness(_ input: UnsafeRawBufferPointer) {
        let header: String, contentLength: String?
        if let (first, rest) = input.twoLines {
            (header, contentLength) = (first, rest)
        } else {
            (header, contentLength) = (input.text, nil)
        }
        let start: Int64?
        do {
            start = try ContentRange.chunkStart(header, contentLength: contentLength)
            require(start != nil, "no start for \(header.debugDescription)")
        } catch {
            require(error.status == 416 && error.code == .blobUploadInvalid, "\(error) for \(header.debugDescription)")
            start = nil
        }
        let expected = reference(header, contentLength: contentLength)
        require(start == expected, "chunkStart(\(header.debugDescription), \(String(describing: contentLength))) = \(String(describing: start)), expected \(String(describing: expected))")
        if let start { require(start >= 0, "negative start \(start) for \(header.debugDescription)") }
        require((try? ContentRange.chunkStart(nil, contentLength: contentLength)) == .some(nil), "no header")
    }

    /// The start, or nil where chunkStart throws.
    static func reference(_ header: String, contentLength: String?) -> Int64? {
        var value = Array(header)[...]
        for prefix in [Array("bytes="), Array("bytes ")] where value.starts(with: prefix) {
            value = value.dropFirst(prefix.count)
        }
        if let slash = value.firstIndex(of: "/") { value = value[..<slash] }
        guard let dash = value.firstIndex(of: "-"), !value[(dash + 1)...].contains("-"),
              let start = referenceNumber(String(value[..<dash])), !start.tooLarge,
              let end = referenceNumber(String(value[(dash + 1)...])), !end.tooLarge,
              end.value >= start.value, end.value - start.value < Int64.max
        else { return nil }
        if let contentLength {
            guard let declared = referenceNumber(contentLength), !declared.tooLarge,
                  declared.value == end.value - start.value + 1 else { return nil }
        }
        return start.value
    }
}
