/// A duration as settings and the admin API write it: a positive number and a unit, `500ms`, `30s`, `15m`,
/// `24h`, `7d`.
public enum Durations {
    /// `allowZero`: "0s" is a duration too (a garbage collection's grace).
    public static func parse(_ text: String, _ key: String, allowZero: Bool = false) throws(DurationError) -> Duration {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        for (unit, seconds) in units where text.hasSuffix(unit) {
            let number = text.dropLast(unit.count)
            if let value = Double(number), value > 0 || (allowZero && value == 0), value * seconds <= 1e9, number.allSatisfy({ $0.isNumber || $0 == "." }) {
                return .milliseconds(Int64((value * seconds * 1000).rounded()))
            }
        }
        throw DurationError(description: "\(key) must be a \(allowZero ? "" : "positive ")duration such as 30s, 15m or 24h, got \(text.prefix(40))")
    }
}

public struct DurationError: Error, CustomStringConvertible {
    public let description: String
}
