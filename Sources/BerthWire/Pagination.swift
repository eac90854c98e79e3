/// The `n` query parameter of paginated listings.
public enum Pagination {
    /// The requested page size, capped at `max`; nil when absent. Like Distribution, a number too large for
    /// an integer is an error, a large integer is capped.
    public static func pageSize(_ value: (some StringProtocol)?, max: Int) throws(APIError) -> Int? {
        guard let value else { return nil }
        guard let n = Decimal64.parse(value) else {
            throw APIError.badRequest(.paginationNumberInvalid, "invalid number of results requested")
        }
        return Int(Swift.min(n, Int64(max)))
    }
}
