/// A single-range `Range: bytes=…` request header, resolved against a blob size (RFC 9110 §14.1.2).
public enum ByteRange {
    public enum Resolution: Equatable {
        /// Serve the whole blob: no Range header, or one the server may ignore (malformed or multi-range).
        case whole
        case partial(ClosedRange<Int64>)
        case unsatisfiable
    }

    /// Positions past Int64 are still valid syntax: they behave as "beyond any blob".
    private static func position(_ s: Substring) -> Int64? {
        switch Decimal64.scan(s) {
        case .value(let v): v
        case .tooLarge: .max
        case .invalid: nil
        }
    }

    public static func resolve(_ header: String?, size: Int64) -> Resolution {
        guard let header, header.hasPrefix("bytes="), size >= 0 else { return .whole }
        let spec = Substring(header.dropFirst(6))
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return .whole }
        let first = spec[..<dash], last = spec[spec.index(after: dash)...]
        if first.isEmpty {
            // Suffix range: the last N bytes.
            guard let n = position(last) else { return .whole }
            guard n > 0, size > 0 else { return .unsatisfiable }
            return .partial((n >= size ? 0 : size - n)...(size - 1))
        }
        guard let start = position(first) else { return .whole }
        let end: Int64
        if last.isEmpty {
            end = size - 1
        } else {
            guard let e = position(last) else { return .whole }
            // RFC 9110 lets a server ignore an inverted range; answering 416 tells the client plainly.
            guard e >= start else { return .unsatisfiable }
            end = min(e, size - 1)
        }
        guard start < size else { return .unsatisfiable }
        return .partial(start...end)
    }
}
