import Foundation
import Synchronization

/// One benchmark figure: named values (MB/s, req/s, p50 ms, …) and which value decides comparisons.
struct Figure: Sendable {
    var name: String
    var values: [(String, Double)]
    var primary: String
    var higherIsBetter: Bool

    func value(_ key: String) -> Double? { values.first { $0.0 == key }?.1 }
}

/// Latencies and failures gathered by concurrent workers.
struct Samples: Sendable {
    var latencies: [Double] = []
    var errors = 0
    var bytes = 0
    var elapsed: Double = 0

    mutating func merge(_ other: Samples) {
        latencies += other.latencies
        errors += other.errors
        bytes += other.bytes
    }

    func percentile(_ p: Double) -> Double {
        guard !latencies.isEmpty else { return 0 }
        let sorted = latencies.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p))] * 1000
    }

    var count: Int { latencies.count }
    var perSecond: Double { elapsed > 0 ? Double(count) / elapsed : 0 }
    var megabytesPerSecond: Double { elapsed > 0 ? Double(bytes) / 1_000_000 / elapsed : 0 }
}

enum Measure {
    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// Runs `count` operations on `workers` concurrent tasks. `operation` returns bytes moved.
    static func each(count: Int, workers: Int, _ operation: @escaping @Sendable (Int) async throws -> Int) async -> Samples {
        await run(workers: workers, while: { i in i < count }, operation)
    }

    /// Runs operations on `workers` concurrent tasks for `duration` seconds (and at most `limit` operations).
    static func during(_ duration: Double, workers: Int, limit: Int = 5_000_000,
                       _ operation: @escaping @Sendable (Int) async throws -> Int) async -> Samples {
        let deadline = ContinuousClock.now + .milliseconds(Int(duration * 1000))
        return await run(workers: workers, while: { i in i < limit && ContinuousClock.now < deadline }, operation)
    }

    /// Workers take operation numbers in turn until `proceed` says no; each operation's latency is recorded.
    private static func run(workers: Int, while proceed: @escaping @Sendable (Int) -> Bool,
                            _ operation: @escaping @Sendable (Int) async throws -> Int) async -> Samples {
        let next = Counter()
        let start = ContinuousClock.now
        var total = await withTaskGroup(of: Samples.self) { group in
            for _ in 0..<workers {
                group.addTask {
                    var samples = Samples()
                    while true {
                        let i = next.take()
                        guard proceed(i) else { break }
                        let t = ContinuousClock.now
                        do {
                            samples.bytes += try await operation(i)
                            samples.latencies.append(seconds(since: t))
                        } catch {
                            samples.errors += 1
                            if samples.errors == 1 { FileHandle.standardError.write(Data("error: \(error)\n".utf8)) }
                        }
                    }
                    return samples
                }
            }
            var total = Samples()
            for await samples in group { total.merge(samples) }
            return total
        }
        total.elapsed = seconds(since: start)
        return total
    }
}

/// Resident memory of a process, from /proc: current and peak, in MiB.
enum ProcessMemory {
    static func rss(pid: Int32) -> (current: Double, peak: Double)? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        func field(_ name: String) -> Double? {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return nil }
            return line.split(separator: " ").compactMap { Double($0) }.first.map { $0 / 1024 }
        }
        guard let current = field("VmRSS"), let peak = field("VmHWM") else { return nil }
        return (current, peak)
    }
}

/// Hands out operation numbers to concurrent workers.
final class Counter: Sendable {
    private let value = Mutex<Int>(0)

    func take() -> Int {
        value.withLock { v in
            defer { v += 1 }
            return v
        }
    }
}
