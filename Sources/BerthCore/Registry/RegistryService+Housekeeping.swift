import Foundation

extension RegistryService {
    /// Removes upload sessions idle for longer than `age`, and staging areas no session owns (leftovers of
    /// monolithic uploads cut off by a crash) untouched for as long, leaving alone any a request here is
    /// working on. Age, not start-up, decides: with several instances, a staging area without a session may
    /// be another instance's monolithic upload in flight. One instance at a time runs it. Returns how many
    /// sessions it removed (0 when another instance is at it).
    public func expireUploads(idleFor age: Duration, now: Date = Date()) async throws -> Int {
        let cutoff = now.addingTimeInterval(-(Double(age.components.seconds) + Double(age.components.attoseconds) / 1e18))
        return try await metadata.exclusively("expire-uploads") { try await self.expireUploads(before: cutoff) } ?? 0
    }

    private func expireUploads(before cutoff: Date) async throws -> Int {
        var expired = 0
        for id in try await metadata.uploadIDs(idleSince: cutoff) where !uploadLocks.isHeld(id) {
            try await uploadLocks.withLock(id) {
                runningHashes.withLock { _ = $0.removeValue(forKey: id) }
                try await metadata.deleteUpload(id)
                try await blobs.deleteUpload(id)
                expired += 1
            }
        }
        let sessions = Set(try await metadata.uploadIDs())
        for id in try await blobs.uploadIDs() where !sessions.contains(id) && !uploadLocks.isHeld(id) {
            guard let modified = try await blobs.uploadModified(id), modified < cutoff else { continue }
            try await blobs.deleteUpload(id)
        }
        return expired
    }

    /// The number of open upload sessions.
    public func openUploadCount() async throws -> Int {
        try await metadata.uploadIDs().count
    }
}
