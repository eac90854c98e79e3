// Fuzzes BerthWire.Decimal64.scan/parse (the numbers of HTTP headers) and Pagination.pageSize (the `n` query
// parameter of listings) against a reference using Int64.init. Input: the number's text.
import BerthFuzzSupport
import BerthWire

@main enum FuzzDecimal {
    static func main() { FuzzDriver.run(harness) }

    static let maxima = [0, 1, 100, 1000, Int(Int32.max), Int.max]

    static func harness(_ input: UnsafeRawBufferPointer) {
        let text = input.text
        let scanned = Decimal64.scan(text)
        let expected: Decimal64.Result = switch referenceNumber(text) {
        case nil: .invalid
        case let (value, tooLarge)?: tooLarge ? .tooLarge : .value(value)
        }
        require(scanned == expected, "scan(\(text.debugDescription)) = \(scanned), expected \(expected)")
        require(Decimal64.scan(Substring(text)) == scanned, "String and Substring disagree on \(text.debugDescription)")
        let parsed = Decimal64.parse(text)
        if case .value(let v) = scanned { require(parsed == v && v >= 0, "parse(\(text.debugDescription)) = \(String(describing: parsed))") }
        else { require(parsed == nil, "parse(\(text.debugDescription)) = \(String(describing: parsed))") }

        for max in maxima {
            let size: Int?
            do {
                size = try Pagination.pageSize(text, max: max)
            } catch {
                // Like Distribution: not a number, or a number too large for an integer, is an error.
                require(parsed == nil && error.code == .paginationNumberInvalid && error.status == 400,
                        "pageSize(\(text.debugDescription), max: \(max)) threw \(error)")
                continue
            }
            let wanted = parsed.map { Int(min($0, Int64(max))) }
            require(wanted != nil && size == wanted && (0...max).contains(size!),
                    "pageSize(\(text.debugDescription), max: \(max)) = \(String(describing: size))")
        }
        require((try? Pagination.pageSize(String?.none, max: 100)) == .some(nil), "pageSize(nil)")
    }
}
