// Fuzzes BerthWire.ByteRange.resolve (the Range request header of blob GETs) against a reference written on
// Characters with Int64.init. Input: the blob size on a first line, then the header (`100\nbytes=0-10`);
// without a newline, the whole input is the header of a 1000-byte blob.
import BerthFuzzSupport
import BerthWire

@main enum FuzzByteRange {
    static func main() { FuzzDriver.run(harness) }

    static func harness(_ input: UnsafeRawBufferPointer) {
        let size: Int64, header: String
        if let (first, rest) = input.twoLines {
            size = Int64(first) ?? Int64(first.utf8.count)
            header = rest
        } else {
            size = 1000
            header = input.text
        }
        let resolution = ByteRange.resolve(header, size: size)
        let expected = reference(header, size: size)
        require(resolution == expected, "resolve(\(header.debugDescription), size: \(size)) = \(resolution), expected \(expected)")
        if case .partial(let range) = resolution {
            require(range.lowerBound >= 0 && range.upperBound < size, "\(range) outside 0..<\(size) for \(header.debugDescription)")
        }
        require(ByteRange.resolve(nil, size: size) == .whole, "no header, size \(size)")
    }

    static func reference(_ header: String, size: Int64) -> ByteRange.Resolution {
        let characters = Array(header)
        let prefix = Array("bytes=")
        guard size >= 0, characters.starts(with: prefix) else { return .whole }
        let spec = characters[prefix.count...]
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return .whole }
        let first = String(spec[..<dash]), last = String(spec[(dash + 1)...])
        if first.isEmpty {
            guard let suffix = referenceNumber(last)?.value else { return .whole }
            guard suffix > 0, size > 0 else { return .unsatisfiable }
            return .partial(max(0, size - suffix)...(size - 1))
        }
        guard let start = referenceNumber(first)?.value else { return .whole }
        var end = size - 1
        if !last.isEmpty {
            guard let requested = referenceNumber(last)?.value else { return .whole }
            if requested < start { return .unsatisfiable }
            end = min(end, requested)
        }
        return start < size ? .partial(start...end) : .unsatisfiable
    }
}
