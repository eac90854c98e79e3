// Fuzzes BerthCore.RepositoryName(validating:) against a reference written differently (split into components,
// then into runs). Input: a repository name.
import BerthCore
import BerthFuzzSupport

@main enum FuzzRepositoryName {
    static func main() { FuzzDriver.run(harness) }

    static func harness(_ input: UnsafeRawBufferPointer) {
        let string = input.text
        let name = try? RepositoryName(validating: string)
        let expected = reference(Array(string.utf8))
        require((name != nil) == expected,
                "RepositoryName(validating: \(string.debugDescription)) is \(name == nil ? "invalid" : "valid"), the grammar says otherwise")
        let fromSubstring = try? RepositoryName(validating: Substring(string))
        require(fromSubstring == name, "String and Substring disagree on \(string.debugDescription)")
        if let name {
            require(name.value == string && name.description == string, "name changed: \(string.debugDescription)")
            // A valid name can never address a parent or the root folder.
            let components = name.value.split(separator: "/", omittingEmptySubsequences: false)
            require(components.allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." }, "unsafe path in \(string.debugDescription)")
        }
    }

    /// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`, at most 255 bytes.
    static func reference(_ bytes: [UInt8]) -> Bool {
        guard !bytes.isEmpty, bytes.count <= 255 else { return false }
        func alnum(_ c: UInt8) -> Bool { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) }
        for component in bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
            // Runs of alphanumerics and runs of anything else, alternating.
            var runs: [[UInt8]] = []
            for c in component {
                if let last = runs.last?.last, alnum(last) == alnum(c) {
                    runs[runs.count - 1].append(c)
                } else {
                    runs.append([c])
                }
            }
            guard let first = runs.first, let last = runs.last, alnum(first[0]), alnum(last[0]) else { return false }
            for run in runs where !alnum(run[0]) {
                let allowed = run == Array(".".utf8) || run == Array("_".utf8) || run == Array("__".utf8)
                    || run.allSatisfy { $0 == UInt8(ascii: "-") }
                guard allowed else { return false }
            }
        }
        return true
    }
}
