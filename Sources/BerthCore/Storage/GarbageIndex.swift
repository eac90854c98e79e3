import Foundation

/// The metadata side of garbage collection and of the writers it must never race with. Every decision to
/// delete is taken here, in one transaction per item that re-checks the item's references under the same
/// locks writers take, before any bytes go (docs/GARBAGE-COLLECTION.md gives the argument).
public protocol GarbageIndex: Sendable {
    /// Milliseconds since 1970 on the clock this store stamps links with (the database's, when shared by
    /// several instances), so a collection's fence and the links it compares against share one clock.
    func clock() async throws -> Int64

    /// Claims `digest` for a writer about to store or reuse its bytes: the collector leaves a claimed blob
    /// alone. False while a collector is deleting that blob's bytes: the writer waits and claims again.
    func claimBlob(_ digest: Digest, claim: String) async throws -> Bool
    /// Drops a claim whose writer failed (one that succeeded is dropped by `addBlob(claim:)`).
    func releaseClaim(_ digest: Digest, claim: String) async throws

    /// Repositories that have manifests or blob links, in name order.
    func collectableRepositories() async throws -> [RepositoryName]
    /// Manifests of `repository` pushed before `cutoff` that no tag and no manifest of it lists, and whose
    /// subject (if any) is not a manifest of it.
    func unreferencedManifests(in repository: RepositoryName, before cutoff: Int64) async throws -> [Digest]
    /// Deletes the manifest when, re-checked in the transaction, it still qualifies. True when deleted.
    func collectManifest(_ digest: Digest, in repository: RepositoryName, before cutoff: Int64) async throws -> Bool
    /// Blobs linked into `repository` before `cutoff` that no manifest of it references.
    func unreferencedLinks(in repository: RepositoryName, before cutoff: Int64) async throws -> [Digest]
    /// Removes the link when, re-checked in the transaction, it still qualifies. True when removed.
    func collectLink(_ digest: Digest, in repository: RepositoryName, before cutoff: Int64) async throws -> Bool

    /// Blobs no repository links and no manifest references (and those a collection left condemned), with
    /// their sizes: the first `limit` in digest order after `after` (a page; nil starts at the beginning).
    func unlinkedBlobs(after: Digest?, limit: Int) async throws -> [(digest: Digest, size: Int64)]
    /// Condemns a blob when nothing links, references or claims it: from then on no writer links it or reuses
    /// its bytes, so they may go. Returns its size when condemned (or found condemned), nil when it stays.
    /// A digest without a row (bytes a crashed writer left) is condemned through a new row.
    func condemnBlob(_ digest: Digest) async throws -> Int64?
    /// Removes a condemned blob's row once its bytes are gone.
    func forgetBlob(_ digest: Digest) async throws
    /// Which of `digests` (a page of a listing: callers send at most a thousand) have a row (live or
    /// condemned) or a claim: bytes the metadata accounts for.
    func accountedBlobs(_ digests: [Digest]) async throws -> Set<Digest>
    /// Drops claims older than `cutoff` (their writers died). Returns how many.
    func dropClaims(before cutoff: Int64) async throws -> Int
}
