import CBerthFuzz
import Foundation

/// Runs one fuzz harness.
///
/// Built by `scripts/fuzz.sh` (`-sanitize=fuzzer,address -D BERTH_FUZZING`), a harness executable is a libFuzzer
/// binary: its `main` hands the harness to `LLVMFuzzerRunDriver`, so it takes libFuzzer's usual arguments. SwiftPM
/// links every executable with `--defsym main=<module>_main`, so the harness keeps its own `@main` rather than
/// using libFuzzer's `main` and `LLVMFuzzerTestOneInput`.
///
/// Built plainly (`swift build`), it replays the inputs named on its command line (files, or folders of files)
/// through the harness, without libFuzzer: a crash found by the fuzzer reproduces in a debugger with
/// `.build/debug/fuzz-route crash-…`.
public enum FuzzDriver {
    nonisolated(unsafe) private static var harness: (UnsafeRawBufferPointer) -> Void = { _ in }

    public static func run(_ body: @escaping (UnsafeRawBufferPointer) -> Void) -> Never {
        harness = body
        #if BERTH_FUZZING
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            FuzzDriver.harness(UnsafeRawBufferPointer(start: data, count: size))
            return 0
        })
        #else
        replay(Array(CommandLine.arguments.dropFirst()))
        #endif
    }

    private static func replay(_ paths: [String]) -> Never {
        let name = CommandLine.arguments.first.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "harness"
        guard !paths.isEmpty else {
            print("usage: \(name) INPUT... (files or folders)")
            print("Built without libFuzzer: replays the inputs. scripts/fuzz.sh builds the fuzzing binary.")
            exit(64)
        }
        var files: [URL] = []
        for path in paths {
            let url = URL(fileURLWithPath: path)
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
                print("\(name): no such input \(path)")
                exit(66)
            }
            if isFolder.boolValue {
                let entries = (try? FileManager.default.contentsOfDirectory(at: url, includingPropertiesForKeys: nil)) ?? []
                files += entries.filter { !$0.hasDirectoryPath }.sorted { $0.path < $1.path }
            } else {
                files.append(url)
            }
        }
        for file in files {
            guard let data = try? Data(contentsOf: file) else {
                print("\(name): cannot read \(file.path)")
                exit(66)
            }
            data.withUnsafeBytes { harness($0) }
        }
        print("\(name): replayed \(files.count) inputs")
        exit(0)
    }
}

/// Checks an invariant of a parser; a violation traps, so libFuzzer reports it as a crash and keeps the input.
public func require(_ condition: Bool, _ message: @autoclosure () -> String,
                    file: StaticString = #fileID, line: UInt = #line) {
    if !condition {
        fatalError("invariant violated: \(message())", file: file, line: line)
    }
}

extension UnsafeRawBufferPointer {
    /// The input as text, invalid UTF-8 repaired (as a String from an HTTP request would be).
    public var text: String { String(decoding: self, as: UTF8.self) }

    /// The input split at its first newline: the first line and the rest, or nil when there is no newline.
    public var twoLines: (first: String, rest: String)? {
        guard let newline = firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        return (String(decoding: self[..<newline], as: UTF8.self),
                String(decoding: self[(newline + 1)...], as: UTF8.self))
    }
}

/// `1*DIGIT` as an Int64, nil when not only ASCII digits; values past Int64 saturate to `Int64.max`.
/// A reference for the wire parsers, written differently from `Decimal64` (it leans on `Int64.init`).
public func referenceNumber(_ text: some StringProtocol) -> (value: Int64, tooLarge: Bool)? {
    guard !text.utf8.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
        return nil
    }
    if let value = Int64(String(text)) { return (value, false) }
    return (.max, true)
}
