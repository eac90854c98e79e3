import BerthCore
@testable import BerthS3
import Foundation
import NIOCore
import Synchronization
import Testing

/// A value tasks share (a Mutex cannot be captured by the closures tasks run).
final class SharedValue<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}

/// The budget bounding all upload buffers together (no S3 needed). Sizes are in small units: the budget
/// counts bytes, not what they are.
struct UploadBufferBudgetTests {
    /// Whether `done` is set within `within`.
    static func finishes(_ done: SharedValue<Bool>, within: Duration = .milliseconds(200)) async -> Bool {
        let deadline = ContinuousClock.now + within
        while ContinuousClock.now < deadline {
            if done.withLock({ $0 }) { return true }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return done.withLock { $0 }
    }

    @Test(.timeLimit(.minutes(1))) func waitersProceedWhenReleased() async throws {
        let budget = UploadBufferBudget(limit: 16, part: 16, first: 4)
        try await budget.acquire(.whole(16))
        #expect(budget.available == 0)
        let started = SharedValue(false), whole = SharedValue(false)
        let first = Task { try await budget.acquire(.started); started.withLock { $0 = true } }
        let second = Task { try await budget.acquire(.whole(10)); whole.withLock { $0 = true } }
        #expect(!(await Self.finishes(started)), "nothing is free: the start waits")
        budget.release(.whole(16))
        try await first.value
        try await second.value
        #expect(started.withLock { $0 } && whole.withLock { $0 })
        #expect(budget.available == 2)
        budget.release(.started)
        budget.release(.whole(10))
        #expect(budget.available == 16)
    }

    @Test(.timeLimit(.minutes(1))) func startedBuffersCanAlwaysGrow() async throws {
        // 32 bytes, parts of 16 starting at 4: starts stop while one more would leave no room to grow.
        let budget = UploadBufferBudget(limit: 32, part: 16, first: 4)
        for _ in 0..<5 { try await budget.acquire(.started) }
        #expect(budget.available == 12)
        let sixth = SharedValue(false)
        let late = Task { try await budget.acquire(.started); sixth.withLock { $0 = true } }
        #expect(!(await Self.finishes(sixth)), "a sixth start would leave 8 bytes, too few for any to grow")
        // Every started buffer grows in turn, each releasing its part once grown: none is stuck.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<5 {
                group.addTask {
                    try await budget.acquire(.grown)
                    try await Task.sleep(for: .milliseconds(2))
                    budget.release(.grown)
                }
            }
            try await group.waitForAll()
        }
        try await late.value
        budget.release(.started)
        #expect(budget.available == 32)
    }

    @Test(.timeLimit(.minutes(1))) func aCancelledWaiterTakesNothing() async throws {
        let budget = UploadBufferBudget(limit: 16, part: 16, first: 4)
        try await budget.acquire(.whole(14))
        let waiter = Task { try await budget.acquire(.whole(8)) }
        try await Task.sleep(for: .milliseconds(20))
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        // The cancelled waiter at the head of the queue no longer holds back a smaller one behind it.
        try await budget.acquire(.whole(2))
        #expect(budget.available == 0)
        budget.release(.whole(2))
        budget.release(.whole(14))
        #expect(budget.available == 16)
    }

    @Test(.timeLimit(.minutes(1))) func neverPastItsLimitUnderConcurrency() async throws {
        let limit = 64, part = 16, first = 4
        let budget = UploadBufferBudget(limit: limit, part: part, first: first)
        // What the tasks hold by their own count, and the most they held at once.
        let held = SharedValue((now: 0, most: 0))
        @Sendable func take(_ bytes: Int) {
            let now = held.withLock { held in
                held.now += bytes
                held.most = max(held.most, held.now)
                return held.now
            }
            #expect(now <= limit)
        }
        @Sendable func give(_ bytes: Int) { held.withLock { $0.now -= bytes } }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for n in 0..<400 {
                group.addTask {
                    var random = SystemRandomNumberGenerator()
                    let pause = Duration.microseconds(Int.random(in: 0...300, using: &random))
                    if n % 3 == 0 {
                        let bytes = Int.random(in: 1...part, using: &random)
                        try await budget.acquire(.whole(bytes))
                        take(bytes)
                        try await Task.sleep(for: pause)
                        give(bytes)
                        budget.release(.whole(bytes))
                    } else {
                        // A buffer starts, and half the time grows to a part, as a request body fills it.
                        try await budget.acquire(.started)
                        take(first)
                        try await Task.sleep(for: pause)
                        if n % 2 == 0 {
                            try await budget.acquire(.grown)
                            take(part - first)
                            try await Task.sleep(for: pause)
                            give(part)
                            budget.release(.grown)
                        } else {
                            give(first)
                            budget.release(.started)
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let (now, most) = held.withLock { ($0.now, $0.most) }
        #expect(now == 0 && most <= limit && most > part, "at most \(limit) held at once (most: \(most))")
        #expect(budget.available == limit)
    }

    @Test(.timeLimit(.minutes(1))) func reservationsGiveBackOnce() async throws {
        let budget = UploadBufferBudget(limit: 32, part: 16, first: 4)
        let reservation = BufferReservation(budget)
        try await reservation.ensure(3)
        #expect(reservation.bytes == 4 && budget.available == 28)
        try await reservation.ensure(4)
        #expect(budget.available == 28)
        try await reservation.ensure(5)
        #expect(reservation.bytes == 16 && budget.available == 16)
        reservation.release()
        reservation.release()
        #expect(budget.available == 32)
        // A fresh reservation asked for more than a start takes a whole part at once.
        do {
            let forgotten = BufferReservation(budget)
            try await forgotten.ensure(10)
            #expect(budget.available == 16)
        }
        #expect(budget.available == 32, "a reservation no one released gives its bytes back when it goes")
        let whole = try await BufferReservation.whole(100, from: budget)
        #expect(whole.bytes == 16, "at most a part")
        whole.release()
        #expect(budget.available == 32)
    }

    @Test func limitCoversOnePartAndAllocationsArePowersOfTwo() {
        #expect(UploadBufferBudget(limit: 0, part: 8 << 20).limit == 8 << 20)
        #expect(S3BlobStore.allocation(5 << 20) == 8 << 20)
        #expect(S3BlobStore.allocation(8 << 20) == 8 << 20)
        #expect(S3BlobStore.allocation(1) == 1)
        #expect(S3BlobStore.allocation(.max) == 1 << 40)
        #expect(S3BlobStore.allocation(.min) == 1)
    }
}

/// The store's uploads against a live S3 with a budget of one part: many at once all finish, none holds its
/// share after.
extension S3BlobStoreTests {
    @Test func uploadsShareTheBufferBudget() async throws {
        var configuration = try Self.configuration(partSize: S3Configuration.minimumPartSize)
        configuration.uploadBufferBytes = 0  // raised to one part: 8 MiB, what a 5 MiB part allocates
        let store = try S3BlobStore(configuration: configuration)
        do { try await store.client.headBucket() } catch { try await store.client.createBucket() }
        do {
            #expect(store.buffers.limit == 8 << 20)
            // Large bodies (two parts each) and small ones, at once, over one part's worth of memory.
            let sizes = [11 * Self.mib, 300_000, 6 * Self.mib, 1000, 2 * Self.mib, 11 * Self.mib]
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (n, size) in sizes.enumerated() {
                    group.addTask {
                        let data = Self.bytes(size, seed: UInt64(70 + n))
                        if n % 2 == 0 {
                            let digest = Digest.of(data)
                            let pending = try #require(try await store.writeBlob(digest, Self.body(data)))
                            try await pending.publish()
                            #expect(try await Self.readAll(store, digest, 0...Int64(size - 1)) == data)
                        } else {
                            _ = try await Self.stageAndCommit(store, [data, Self.bytes(1000, seed: 1)])
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(store.buffers.available == store.buffers.limit)
        } catch {
            await Self.cleanUp(store)
            try await store.shutdown()
            throw error
        }
        await Self.cleanUp(store)
        try await store.shutdown()
    }
}
