import Foundation

/// An Apache htpasswd file as `registry:2` reads it: `name:hash` lines, bcrypt hashes only.
public enum Htpasswd {
    /// The lowest bcrypt cost accepted.
    public static let minimumCost = 10

    /// Users and hashes; `problems` lists lines skipped (not bcrypt, or a cost below 10), by line number.
    public static func parse(_ text: String) -> (users: [String: String], problems: [String]) {
        var users: [String: String] = [:]
        var problems: [String] = []
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            guard let colon = line.firstIndex(of: ":") else {
                problems.append("line \(number + 1): no name:hash")
                continue
            }
            let name = String(line[..<colon]), hash = String(line[line.index(after: colon)...])
            guard let cost = bcryptCost(hash) else {
                problems.append("line \(number + 1) (\(name)): not a bcrypt hash (use htpasswd -B)")
                continue
            }
            guard cost >= minimumCost else {
                problems.append("line \(number + 1) (\(name)): bcrypt cost \(cost) is below \(minimumCost)")
                continue
            }
            users[name] = hash
        }
        return (users, problems)
    }

    /// The cost of a `$2a$`/`$2b$`/`$2y$` hash.
    static func bcryptCost(_ hash: String) -> Int? {
        let parts = hash.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0].isEmpty, ["2a", "2b", "2y"].contains(parts[1]), parts[3].count == 53
        else { return nil }
        return Int(parts[2])
    }
}
