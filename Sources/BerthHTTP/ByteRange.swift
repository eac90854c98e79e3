import Foundation

/// A single-range `Range: bytes=…` request header, resolved against a blob size (RFC 9110 §14.1.2).
enum ByteRange {
    enum Resolution: Equatable {
        /// Serve the whole blob: no Range header, or one the server may ignore (malformed or multi-range).
        case whole
        case partial(ClosedRange<Int64>)
        case unsatisfiable
    }

    static func resolve(_ header: String?, size: Int64) -> Resolution {
        guard let header, header.hasPrefix("bytes=") else { return .whole }
        let spec = header.dropFirst(6).trimmingCharacters(in: .whitespaces)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return .whole }
        let first = spec[..<dash], last = spec[spec.index(after: dash)...]
        if first.isEmpty {
            // Suffix range: the last N bytes.
            guard let n = Int64(last), n >= 0 else { return .whole }
            guard n > 0, size > 0 else { return .unsatisfiable }
            return .partial(max(0, size - n)...(size - 1))
        }
        guard let start = Int64(first), start >= 0 else { return .whole }
        let end: Int64
        if last.isEmpty {
            end = size - 1
        } else {
            guard let e = Int64(last) else { return .whole }
            // RFC 9110 lets a server ignore an inverted range; answering 416 tells the client plainly.
            guard e >= start else { return .unsatisfiable }
            end = min(e, size - 1)
        }
        guard start < size else { return .unsatisfiable }
        return .partial(start...end)
    }
}
