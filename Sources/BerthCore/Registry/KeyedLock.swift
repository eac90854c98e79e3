import Synchronization

/// An async mutual-exclusion lock per key: callers with the same key run one at a time, in arrival order.
final class KeyedLock<Key: Hashable & Sendable>: Sendable {
    private struct Entry {
        var held = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let entries = Mutex<[Key: Entry]>([:])

    func withLock<T: Sendable>(_ key: Key, _ body: () async throws -> T) async throws -> T {
        await acquire(key)
        defer { release(key) }
        return try await body()
    }

    private func acquire(_ key: Key) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let granted = entries.withLock { entries -> Bool in
                var entry = entries[key] ?? Entry()
                if entry.held {
                    entry.waiters.append(continuation)
                    entries[key] = entry
                    return false
                }
                entry.held = true
                entries[key] = entry
                return true
            }
            if granted { continuation.resume() }
        }
    }

    private func release(_ key: Key) {
        let next = entries.withLock { entries -> CheckedContinuation<Void, Never>? in
            guard var entry = entries[key] else { return nil }
            if entry.waiters.isEmpty {
                entries[key] = nil
                return nil
            }
            let next = entry.waiters.removeFirst()
            entries[key] = entry
            return next
        }
        next?.resume()
    }
}
