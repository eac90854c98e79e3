/// The `Content-Range: <start>-<end>` of an upload chunk (the spec's form; `bytes ` and `bytes=` prefixes and a
/// `/total` suffix are tolerated, as clients send them).
public enum ContentRange {
    /// The chunk's first byte offset, checked against Content-Length when that is present.
    /// Nil without a header.
    public static func chunkStart(_ header: String?, contentLength: String?) throws(APIError) -> Int64? {
        guard let header else { return nil }
        var value = Substring(header)
        for prefix in ["bytes=", "bytes "] where value.hasPrefix(prefix) {
            value = value.dropFirst(prefix.count)
        }
        if let slash = value.firstIndex(of: "/") { value = value[..<slash] }
        let bounds = value.split(separator: "-", maxSplits: 2, omittingEmptySubsequences: false)
        guard bounds.count == 2, let start = Decimal64.parse(bounds[0]), let end = Decimal64.parse(bounds[1]),
              end >= start
        else {
            throw APIError.rangeInvalid("invalid Content-Range")
        }
        // end - start cannot overflow (both non-negative); the + 1 can, at Int64.max.
        let (length, overflow) = (end - start).addingReportingOverflow(1)
        guard !overflow else { throw APIError.rangeInvalid("Content-Range is too large") }
        if let contentLength {
            guard let declared = Decimal64.parse(contentLength), declared == length else {
                throw APIError.rangeInvalid("Content-Range does not match Content-Length")
            }
        }
        return start
    }
}
