import Synchronization

/// The bytes all upload buffers of one store may hold together. S3 needs parts of at least 5 MiB, so each
/// request gathers its body in memory before sending a part; without a bound, every open connection could hold
/// a part (2,048 × 8 MiB = 16 GiB). A buffer takes its bytes here before filling and gives them back when it
/// is dropped; while the budget is spent it waits, and so does its request, which reads no more of its body
/// meanwhile (the client is held back by TCP flow control).
///
/// A request's buffer starts small (`first` bytes: most blobs are small) and grows to a whole part when its
/// body is larger. Waiting to grow while holding bytes could deadlock (every buffer half full, none able to
/// grow), so bytes are handed out only while this stays true: the free bytes, with the bytes of buffers that
/// will give theirs back without waiting again ("settled": grown to a part, or taken whole), suffice for one
/// started buffer to grow. Then some buffer can always finish, and in finishing frees the bytes another needs.
/// Growing goes before starting, so a request halfway through its part is not overtaken by new ones.
final class UploadBufferBudget: Sendable {
    let limit: Int
    /// What a growing buffer holds at most (the part size), and at first.
    let part: Int
    let first: Int

    /// What a buffer holds of the budget.
    enum Holding: Equatable, Sendable {
        /// `first` bytes; may still ask to grow.
        case started
        /// A whole part, grown from `started`.
        case grown
        /// A size known up front, taken at once (never grows).
        case whole(Int)
    }

    fileprivate struct Waiter {
        let id: UInt64
        let request: Holding
        let continuation: CheckedContinuation<Void, any Error>
    }

    fileprivate struct State {
        var available: Int
        /// Bytes held by buffers that will release without waiting here again.
        var settled = 0
        var growing: [Waiter] = []
        /// Buffers waiting to start or to take a whole size, first come first served.
        var queue: [Waiter] = []
        var nextID: UInt64 = 0
        /// Waiters cancelled before they were queued.
        var cancelled: Set<UInt64> = []
    }

    private let state: Mutex<State>

    /// `limit` is raised to one part when less (a part must fit); `first` is at most a part. Both are bounded
    /// (1 TiB a part, 4 PiB in all) so that sums of them cannot overflow.
    init(limit: Int, part: Int, first: Int = 1 << 20) {
        self.part = min(max(part, 1), 1 << 40)
        self.first = min(max(first, 1), self.part)
        self.limit = min(max(limit, self.part), 1 << 52)
        state = Mutex(State(available: self.limit))
    }

    /// Bytes free right now.
    var available: Int { state.withLock { $0.available } }

    /// Waits until `request` can be granted (`.grown` only for a holder of `.started`; `.whole` at most a part)
    /// and takes its bytes. Throws `CancellationError` if the task is cancelled while waiting, having taken nothing.
    func acquire(_ request: Holding) async throws {
        let id: UInt64? = state.withLock { state in
            if state.grantable(request, limit: self, queued: false) {
                state.grant(request, limit: self)
                return nil
            }
            defer { state.nextID &+= 1 }
            return state.nextID
        }
        guard let id else { return }
        defer { _ = state.withLock { $0.cancelled.remove(id) } }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome: Result<Void, any Error>? = state.withLock { state in
                    if state.cancelled.remove(id) != nil { return .failure(CancellationError()) }
                    // Bytes may have come back since the first look.
                    if state.grantable(request, limit: self, queued: false) {
                        state.grant(request, limit: self)
                        return .success(())
                    }
                    let waiter = Waiter(id: id, request: request, continuation: continuation)
                    if request == .grown { state.growing.append(waiter) } else { state.queue.append(waiter) }
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let waiter: Waiter? = state.withLock { state in
                if let index = state.growing.firstIndex(where: { $0.id == id }) { return state.growing.remove(at: index) }
                if let index = state.queue.firstIndex(where: { $0.id == id }) { return state.queue.remove(at: index) }
                state.cancelled.insert(id)
                return nil
            }
            waiter?.continuation.resume(throwing: CancellationError())
            // A waiter at the head of the queue may have held back those behind it.
            if waiter != nil { wake() }
        }
    }

    /// Gives back what `holding` took, and lets in the waiters that now fit.
    func release(_ holding: Holding) {
        state.withLock { state in
            switch holding {
            case .started: state.available += first
            case .grown:
                state.available += part
                state.settled -= part
            case .whole(let bytes):
                let bytes = min(max(bytes, 0), part)
                state.available += bytes
                state.settled -= bytes
            }
        }
        wake()
    }

    private func wake() {
        let ready: [Waiter] = state.withLock { state in
            var ready: [Waiter] = []
            while let next = state.growing.first, state.grantable(next.request, limit: self, queued: true) {
                state.grant(next.request, limit: self)
                ready.append(state.growing.removeFirst())
            }
            while state.growing.isEmpty, let next = state.queue.first,
                  state.grantable(next.request, limit: self, queued: true) {
                state.grant(next.request, limit: self)
                ready.append(state.queue.removeFirst())
            }
            return ready
        }
        for waiter in ready { waiter.continuation.resume() }
    }
}

extension UploadBufferBudget.State {
    /// Whether `request` may take its bytes now. `queued`: it is the first of its queue (else it must find its
    /// queue empty, so it does not overtake those waiting).
    func grantable(_ request: UploadBufferBudget.Holding, limit: UploadBufferBudget, queued: Bool) -> Bool {
        switch request {
        case .grown:
            return (queued || growing.isEmpty) && available >= limit.part - limit.first
        case .started:
            // After taking `first`, free and settled bytes must still let one started buffer grow.
            return (queued || (queue.isEmpty && growing.isEmpty)) && available >= limit.first
                && available - limit.first + settled >= limit.part - limit.first
        case .whole(let bytes):
            return (queued || (queue.isEmpty && growing.isEmpty)) && available >= min(max(bytes, 0), limit.part)
        }
    }

    mutating func grant(_ request: UploadBufferBudget.Holding, limit: UploadBufferBudget) {
        switch request {
        case .started: available -= limit.first
        case .grown:
            available -= limit.part - limit.first
            settled += limit.part
        case .whole(let bytes):
            let bytes = min(max(bytes, 0), limit.part)
            available -= bytes
            settled += bytes
        }
    }
}

/// One buffer's share of an `UploadBufferBudget`: taken as the buffer fills, given back once by `release()`
/// (or when the last reference goes, should an error path forget to).
final class BufferReservation: Sendable {
    let budget: UploadBufferBudget
    private let holding = Mutex<UploadBufferBudget.Holding?>(nil)

    init(_ budget: UploadBufferBudget) {
        self.budget = budget
    }

    /// A reservation of `bytes` (at most a part) taken at once.
    static func whole(_ bytes: Int, from budget: UploadBufferBudget) async throws -> BufferReservation {
        let reservation = BufferReservation(budget)
        let bytes = min(max(bytes, 0), budget.part)
        try await budget.acquire(.whole(bytes))
        reservation.holding.withLock { $0 = .whole(bytes) }
        return reservation
    }

    /// The bytes held now.
    var bytes: Int {
        switch holding.withLock({ $0 }) {
        case nil: return 0
        case .started: return budget.first
        case .grown: return budget.part
        case .whole(let bytes): return bytes
        }
    }

    /// Makes sure at least `bytes` (at most a part) are held, waiting for them if need be. Used by one task
    /// at a time (the request filling the buffer).
    func ensure(_ bytes: Int) async throws {
        let current = holding.withLock { $0 }
        switch current {
        case nil:
            try await budget.acquire(.started)
            holding.withLock { $0 = .started }
            if bytes > budget.first { try await ensure(bytes) }
        case .started where bytes > budget.first:
            try await budget.acquire(.grown)
            holding.withLock { $0 = .grown }
        default:
            return
        }
    }

    func release() {
        if let held = holding.withLock({ held in defer { held = nil }; return held }) { budget.release(held) }
    }

    deinit { release() }
}
