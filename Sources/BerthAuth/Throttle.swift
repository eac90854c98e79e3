import Foundation
import Synchronization

/// Counts failed logins per key (a user, a client address) in a sliding window; past `attempts`, the key is
/// refused until the window passes. Bounded: the oldest keys go first when too many are tracked.
final class Throttle: Sendable {
    let attempts: Int
    let window: Duration
    private let failures = Mutex<[String: [ContinuousClock.Instant]]>([:])
    private static let maxKeys = 100_000

    init(attempts: Int, window: Duration) {
        self.attempts = attempts
        self.window = window
    }

    /// Seconds to wait before `key` may try again, or nil when it may try now.
    func retryAfter(_ key: String, now: ContinuousClock.Instant = .now) -> Int? {
        failures.withLock { all in
            guard var times = all[key] else { return nil }
            times.removeAll { now - $0 >= window }
            all[key] = times.isEmpty ? nil : times
            guard times.count >= attempts, let oldest = times.first else { return nil }
            let wait = window - (now - oldest)
            return max(1, Int(wait.components.seconds) + (wait.components.attoseconds > 0 ? 1 : 0))
        }
    }

    func fail(_ key: String, now: ContinuousClock.Instant = .now) {
        failures.withLock { all in
            if all[key] == nil, all.count >= Self.maxKeys { all.removeAll(keepingCapacity: true) }
            var times = all[key, default: []]
            times.removeAll { now - $0 >= window }
            times.append(now)
            if times.count > attempts { times.removeFirst(times.count - attempts) }
            all[key] = times
        }
    }

    func succeed(_ key: String) {
        failures.withLock { _ = $0.removeValue(forKey: key) }
    }
}
