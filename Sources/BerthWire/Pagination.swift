/// The `n` query parameter of paginated listings.
public enum Pagination {
    /// The requested page size, capped at `max`; nil when absent.
    public static func pageSize(_ value: (some StringProtocol)?, max: Int) throws(APIError) -> Int? {
        guard let value else { return nil }
        switch Decimal64.scan(value) {
        case .value(let n): return Int(Swift.min(n, Int64(max)))
        case .tooLarge: return max
        case .invalid: throw APIError.badRequest(.paginationNumberInvalid, "invalid number of results requested")
        }
    }
}
