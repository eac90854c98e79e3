import BerthCore
import Foundation
import Logging
import PostgresNIO

/// Keeping every instance's `BlobSizeCache` correct, with PostgreSQL as the only go-between (no clustering):
///
/// 1. A transaction that removes a blob link also sends `NOTIFY <channel>, 'i <repository> <digest>'`.
///    PostgreSQL delivers it to every listening instance when, and only if, the transaction commits.
/// 2. After the commit, and before the removal is acknowledged (for garbage collection, which acknowledges
///    nothing: once per batch, before it condemns a blob), the remover takes a fence number
///    (`nextval('cache_fence')`) and announces it (`'f <n>'`), then waits until every instance with a live
///    lease in `cache_members` has acknowledged a fence ≥ n. Notifications arrive in commit order, and any
///    fence ≥ n committed after the removal did, so an instance that acknowledged it has evicted the entry.
/// 3. An instance listens on a connection of its own, evicts and acknowledges in arrival order, and renews
///    its lease (3 s on the database's clock) every second. It uses its cache only until 2.5 s after it sent
///    its last renewal, so it has stopped by the time a remover stops waiting for it (a lapsed lease, e.g. a
///    killed instance, delays removals by at most 3 s). A lost listener or lease empties the cache.
extension PostgresMetadataStore {
    static let cacheLease = 3.0
    static let cacheUse = Duration.milliseconds(2_500)
    static let cacheRenewal = Duration.seconds(1)

    /// One channel per schema: installations sharing a database do not disturb each other. Channel names
    /// are identifiers (at most 63 bytes, or pg_notify fails): a long schema name is hashed.
    var cacheChannel: String {
        guard let schema = configuration.schema else { return "berth_cache" }
        let plain = "berth_cache_" + schema
        return plain.utf8.count <= 63 ? plain : "berth_cache_" + Digest.of(Data(schema.utf8)).encoded.prefix(40)
    }

    /// Announces, inside the removing transaction, that a link is going.
    func announceRemoval(_ connection: PostgresConnection, _ repository: String, _ digest: String) async throws {
        try await connection.query("SELECT pg_notify(\(cacheChannel), \("i " + repository + " " + digest))",
                                   logger: logger)
    }

    /// After a removal committed: returns once every instance's cache has dropped it (see above).
    func awaitRemoval() async throws {
        let rows = try await query("""
            SELECT n.fence FROM (SELECT nextval('cache_fence') AS fence) n
            CROSS JOIN LATERAL pg_notify(\(cacheChannel), 'f ' || n.fence)
            """)
        guard let row = rows.first else { return }
        let fence = try row.decode(Int64.self)
        let clock = ContinuousClock(), deadline = clock.now + .seconds(Self.cacheLease * 3)
        var pause = Duration.milliseconds(1)
        while true {
            let waiting = try await query("""
                SELECT count(*) FROM cache_members WHERE seen < \(fence) AND lease_until > clock_timestamp()
                """).first?.decode(Int64.self) ?? 0
            if waiting == 0 { return }
            // A member that renews its lease but acknowledges nothing is a bug; do not hang on it.
            if clock.now > deadline {
                logger.warning("\(waiting) instances did not acknowledge cache fence \(fence)")
                return
            }
            try await Task.sleep(for: pause)
            pause = min(pause * 2, .milliseconds(20))
        }
    }

    /// Waits for the caches once after link removals made without waiting (garbage collection's batch).
    func settleRemovals() async throws {
        guard unsettledRemovals.withLock({ pending in defer { pending = false }; return pending }) else { return }
        do {
            try await awaitRemoval()
        } catch {
            unsettledRemovals.withLock { $0 = true }
            throw error
        }
    }

    /// Keeps this instance's membership alive while the cache is in use; reconnects after a failure.
    func maintainBlobCache(_ cache: BlobSizeCache) async {
        let member = UUID().uuidString
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    try await connection.listen(on: self.cacheChannel) { notifications in
                        try await self.serveMembership(member, cache, notifications)
                    }
                }
            } catch where !Task.isCancelled {
                logger.warning("blob cache off until its listener is back: \(String(reflecting: error))")
            } catch {}
            cache.disable()
            try? await Task.sleep(for: .seconds(1))
        }
    }

    private func serveMembership(_ member: String, _ cache: BlobSizeCache,
                                 _ notifications: PostgresNotificationSequence) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for try await notification in notifications {
                    try await self.handle(notification.payload, member, cache)
                }
                throw PostgresCacheError.listenerEnded
            }
            group.addTask {
                // Listening already: from here on no removal committed after the fence read below is missed.
                cache.disable()
                try await self.renewLease(member, cache, registering: true)
                while true {
                    try await Task.sleep(for: Self.cacheRenewal)
                    try await self.renewLease(member, cache, registering: false)
                }
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    private func handle(_ payload: String, _ member: String, _ cache: BlobSizeCache) async throws {
        let parts = payload.split(separator: " ")
        if parts.count == 3, parts[0] == "i" {
            cache.evict(BlobSizeCache.key(String(parts[1]), String(parts[2])))
        } else if parts.count == 2, parts[0] == "f", let fence = Int64(parts[1]) {
            try await query("UPDATE cache_members SET seen = greatest(seen, \(fence)) WHERE id = \(member)")
        }
    }

    /// Registers (seen = the fences taken so far: their removals predate everything this empty cache will
    /// hold) or renews the lease. A lease that lapsed (removers stopped waiting for this instance, which may
    /// not have evicted yet what they removed) is not renewed: the instance registers anew, cache emptied.
    private func renewLease(_ member: String, _ cache: BlobSizeCache, registering: Bool) async throws {
        let sent = ContinuousClock.now
        let lease = "\(Int(Self.cacheLease * 1000)) milliseconds"
        if !registering {
            let renewed = try await query("""
                UPDATE cache_members SET lease_until = clock_timestamp() + \(lease)::interval
                WHERE id = \(member) AND lease_until > clock_timestamp()
                RETURNING 1
                """)
            if !renewed.isEmpty {
                cache.extend(until: sent + Self.cacheUse)
                return
            }
            cache.disable()
        }
        try await query("""
            INSERT INTO cache_members (id, seen, lease_until)
            SELECT \(member), CASE WHEN is_called THEN last_value ELSE 0 END, clock_timestamp() + \(lease)::interval
            FROM cache_fence
            ON CONFLICT (id) DO UPDATE SET seen = excluded.seen, lease_until = excluded.lease_until
            """)
        // Rows of instances gone for good.
        try await query("DELETE FROM cache_members WHERE lease_until < clock_timestamp() - interval '10 minutes'")
        cache.extend(until: sent + Self.cacheUse)
    }
}

enum PostgresCacheError: Error { case listenerEnded }
