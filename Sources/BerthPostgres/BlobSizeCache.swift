import Synchronization

/// Blob sizes by repository and digest, so that a blob HEAD or GET needs no database round trip. Only positive
/// answers are kept: a blob linked on another instance must be visible at once, and a link can disappear only
/// through a removal that announces itself (`PostgresMetadataStore+Invalidation`). Entries are used only
/// until `validUntil`, which this instance's lease renewals push forward; a lapsed lease means an announcement
/// may have been missed, so the cache then answers nothing until it is renewed and emptied.
final class BlobSizeCache: Sendable {
    private struct State {
        var entries: [String: Int64] = [:]
        /// Bumped by every eviction: a read that began before one does not store what it read.
        var epoch: UInt64 = 0
        var validUntil: ContinuousClock.Instant?
    }

    /// What a read holds while it asks the database: the epoch it began in.
    struct Ticket { fileprivate let epoch: UInt64 }

    private let state = Mutex(State())
    private let capacity: Int

    init(capacity: Int = 100_000) { self.capacity = capacity }

    static func key(_ repository: String, _ digest: String) -> String { repository + " " + digest }

    func size(_ key: String) -> Int64? {
        let now = ContinuousClock.now
        return state.withLock { state in
            guard let until = state.validUntil, now < until else { return nil }
            return state.entries[key]
        }
    }

    /// Taken before a database read whose answer may be stored; nil while the cache is not in force.
    func ticket() -> Ticket? {
        let now = ContinuousClock.now
        return state.withLock { state in
            guard let until = state.validUntil, now < until else { return nil }
            return Ticket(epoch: state.epoch)
        }
    }

    /// Stores a size read under `ticket`, unless an eviction came in meanwhile (it may concern this very key).
    func store(_ key: String, _ size: Int64, _ ticket: Ticket) {
        state.withLock { state in
            guard state.epoch == ticket.epoch else { return }
            // Bounded memory: starting over is cheap (every entry is one database read away).
            if state.entries.count >= capacity { state.entries.removeAll(keepingCapacity: true) }
            state.entries[key] = size
        }
    }

    func evict(_ key: String) {
        state.withLock { state in
            state.epoch &+= 1
            state.entries[key] = nil
        }
    }

    /// The lease was renewed: entries may be used until `instant`.
    func extend(until instant: ContinuousClock.Instant) {
        state.withLock { state in
            if state.validUntil.map({ $0 < instant }) ?? true { state.validUntil = instant }
        }
    }

    /// Stops answering and forgets everything (the listener or the lease was lost).
    func disable() {
        state.withLock { state in
            state.epoch &+= 1
            state.entries.removeAll()
            state.validUntil = nil
        }
    }
}
