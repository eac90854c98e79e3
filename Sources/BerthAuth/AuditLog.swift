import BerthCore
import Foundation
import Synchronization

/// The audit log: each record becomes one JSON line at once (`{"audit":{…}}`) and is kept in the access store
/// in batches, so recording never adds a synced commit to the request that caused it.
public final class AuditLog: AuditRecorder, Sendable {
    let store: any AccessStore
    let emit: @Sendable (String) -> Void
    private let pending = Mutex<[AuditEvent]>([])
    static let maxPending = 100_000

    /// `emit` receives each JSON line.
    public init(store: any AccessStore, emit: @escaping @Sendable (String) -> Void) {
        self.store = store
        self.emit = emit
    }

    public func record(_ event: AuditEvent) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        if let data = try? encoder.encode(["audit": event]) { emit(String(decoding: data, as: UTF8.self)) }
        pending.withLock { events in
            if events.count < Self.maxPending { events.append(event) }
        }
    }

    /// Writes the pending records to the store.
    public func flush() async throws {
        let events = pending.withLock { events in
            defer { events.removeAll() }
            return events
        }
        guard !events.isEmpty else { return }
        do {
            try await store.appendAudit(events)
        } catch {
            pending.withLock { $0.insert(contentsOf: events, at: 0) }
            throw error
        }
    }
}
