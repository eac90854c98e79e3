import Foundation
import Synchronization

/// Manifest pulls noted in memory and written to the metadata store in batches (`flush`), so a pull costs no
/// database write on its path. A crash loses at most one interval of pull times, which only delays lifecycle
/// rules that count days since the last pull.
public final class PullLog: Sendable {
    private struct Key: Hashable { var repository: RepositoryName; var digest: Digest }
    private let pending = Mutex<[Key: Date]>([:])
    /// A bound on what waits for a flush; past it, new pulls are dropped until the next flush.
    static let limit = 100_000

    public init() {}

    func note(_ digest: Digest, in repository: RepositoryName, at date: Date = Date()) {
        pending.withLock { pending in
            let key = Key(repository: repository, digest: digest)
            if pending[key] != nil || pending.count < Self.limit { pending[key] = date }
        }
    }

    /// Writes the pulls noted so far; on failure they are kept for the next flush.
    public func flush(to store: any ManifestIndex) async throws {
        let batch = pending.withLock { pending in
            defer { pending = [:] }
            return pending
        }
        guard !batch.isEmpty else { return }
        do {
            try await store.recordPulls(batch.map { ManifestPull(repository: $0.key.repository, digest: $0.key.digest, at: $0.value) })
        } catch {
            pending.withLock { pending in
                for (key, date) in batch where pending[key] == nil { pending[key] = date }
            }
            throw error
        }
    }
}
