import Foundation
import Synchronization

/// Collects figures per registry and round; prints JSON lines as they come and a table of medians at the end.
final class Report: Sendable {
    let labels: [String]
    let urls: [String]
    let jsonPath: String?
    private let rows = Mutex<[(label: String, round: Int, figure: Figure)]>([])

    init(labels: [String], urls: [String], jsonPath: String?) {
        self.labels = labels
        self.urls = urls
        self.jsonPath = jsonPath
    }

    func add(label: String, round: Int, _ figure: Figure) {
        rows.withLock { $0.append((label, round, figure)) }
        var object: [String: Any] = ["target": label, "url": urls[labels.firstIndex(of: label)!], "round": round,
                                     "figure": figure.name]
        for (key, value) in figure.values { object[key] = (value * 1000).rounded() / 1000 }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
        let line = String(decoding: data, as: UTF8.self)
        print(line)
        if let jsonPath, let handle = FileHandle(forWritingAtPath: jsonPath) ?? {
            FileManager.default.createFile(atPath: jsonPath, contents: nil)
            return FileHandle(forWritingAtPath: jsonPath)
        }() {
            handle.seekToEndOfFile()
            handle.write(Data((line + "\n").utf8))
            try? handle.close()
        }
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    func printTable(memory: [String]) {
        let all = rows.withLock { $0 }
        var names: [String] = []
        for row in all where !names.contains(row.figure.name) { names.append(row.figure.name) }
        print("")
        var header = "| figure | value |"
        for label in labels { header += " \(label) (median) |" }
        if labels.count == 2 { header += " A/B | A better by |" }
        print(header)
        print("|" + String(repeating: "---|", count: header.filter { $0 == "|" }.count - 1))
        for name in names {
            guard let sample = all.first(where: { $0.figure.name == name })?.figure else { continue }
            for (key, _) in sample.values {
                var line = "| \(name) | \(key) |"
                var medians: [Double] = []
                for label in labels {
                    let values = all.filter { $0.label == label && $0.figure.name == name }.compactMap { $0.figure.value(key) }
                    let m = Self.median(values)
                    medians.append(m)
                    line += " \(String(format: "%.1f", m)) |"
                }
                if medians.count == 2 {
                    let ratio = medians[1] == 0 ? 0 : medians[0] / medians[1]
                    var advantage = ""
                    if key == sample.primary, medians[0] > 0, medians[1] > 0 {
                        let better = sample.higherIsBetter ? medians[0] / medians[1] : medians[1] / medians[0]
                        advantage = String(format: "%.2f×", better)
                    }
                    line += " \(String(format: "%.2f", ratio)) | \(advantage) |"
                }
                print(line)
            }
        }
        for line in memory { print(line) }
    }
}

/// Samples the registries' resident memory while the benchmark runs.
final class MemoryWatch: Sendable {
    let pids: [Int32]
    private let idle = Mutex<[Int32: Double]>([:])
    private let peak = Mutex<[Int32: Double]>([:])

    init(pids: [Int32]) { self.pids = pids }

    func recordIdle() {
        for pid in pids {
            if let rss = ProcessMemory.rss(pid: pid) { idle.withLock { $0[pid] = rss.current } }
        }
    }

    func sample() async {
        while !Task.isCancelled {
            for pid in pids {
                if let rss = ProcessMemory.rss(pid: pid) { peak.withLock { $0[pid] = max($0[pid] ?? 0, rss.peak) } }
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
    }

    func summary(labels: [String]) -> [String] {
        zip(labels, pids).map { label, pid in
            let i = idle.withLock { $0[pid] } ?? 0, p = peak.withLock { $0[pid] } ?? 0
            return "RSS \(label) (pid \(pid)): idle \(String(format: "%.1f", i)) MiB, peak \(String(format: "%.1f", p)) MiB"
        }
    }
}
