/// Strict parsing of the non-negative decimal numbers HTTP carries (`1*DIGIT` in RFC 9110): no sign, no
/// spaces. Swift's `Int64("+5")` accepts a sign, and arithmetic on what a client sent can trap on overflow.
public enum Decimal64 {
    public enum Result: Equatable {
        case value(Int64)
        /// Only digits, but more than Int64 holds.
        case tooLarge
        case invalid
    }

    /// One or more ASCII digits (leading zeros allowed).
    public static func scan(_ text: some StringProtocol) -> Result {
        var value: Int64 = 0
        var any = false, overflow = false
        for c in text.utf8 {
            guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else { return .invalid }
            any = true
            if overflow { continue }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(Int64(c - UInt8(ascii: "0")))
            overflow = o1 || o2
            value = sum
        }
        guard any else { return .invalid }
        return overflow ? .tooLarge : .value(value)
    }

    /// The value when `text` is digits that fit in Int64.
    public static func parse(_ text: some StringProtocol) -> Int64? {
        if case .value(let v) = scan(text) { return v }
        return nil
    }
}
