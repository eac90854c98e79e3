import Synchronization

/// An async mutual-exclusion lock per key: callers with the same key run one at a time, in arrival order.
/// A waiting caller whose task is cancelled stops waiting (CancellationError) without taking the lock.
final class KeyedLock<Key: Hashable & Sendable>: Sendable {
    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct Entry {
        var held = false
        var waiters: [Waiter] = []
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    private enum Outcome { case granted, queued, cancelled }

    func withLock<T: Sendable>(_ key: Key, _ body: () async throws -> T) async throws -> T {
        try await acquire(key)
        defer { release(key) }
        return try await body()
    }

    /// True when someone holds the lock for `key` (for housekeeping that should leave busy keys alone).
    func isHeld(_ key: Key) -> Bool {
        state.withLock { $0.entries[key]?.held ?? false }
    }

    private func acquire(_ key: Key) async throws {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                // Checking cancellation under the mutex closes the race with the handler below: either it ran
                // first (and the flag is set here) or it will find this waiter queued.
                let outcome = state.withLock { state -> Outcome in
                    var entry = state.entries[key] ?? Entry()
                    if !entry.held {
                        entry.held = true
                        state.entries[key] = entry
                        return .granted
                    }
                    if Task.isCancelled { return .cancelled }
                    entry.waiters.append(Waiter(id: id, continuation: continuation))
                    state.entries[key] = entry
                    return .queued
                }
                switch outcome {
                case .granted: continuation.resume()
                case .cancelled: continuation.resume(throwing: CancellationError())
                case .queued: break
                }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                guard var entry = state.entries[key],
                      let index = entry.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                let waiter = entry.waiters.remove(at: index)
                state.entries[key] = entry
                return waiter
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    private func release(_ key: Key) {
        let next = state.withLock { state -> Waiter? in
            guard var entry = state.entries[key] else { return nil }
            if entry.waiters.isEmpty {
                state.entries[key] = nil
                return nil
            }
            let next = entry.waiters.removeFirst()
            state.entries[key] = entry
            return next
        }
        next?.continuation.resume()
    }
}
