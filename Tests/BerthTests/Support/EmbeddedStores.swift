import BerthFilesystem
import BerthSQLite
import Foundation

/// An embedded installation's stores (filesystem blobs, SQLite metadata; neither synced: tests measure no
/// durability here) in a fresh temporary folder, removed after `body`.
func withEmbeddedStores(_ body: (URL, SQLiteMetadataStore, FilesystemBlobStore) async throws -> Void) async throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("berth-stores-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    try await body(folder, try SQLiteMetadataStore(path: folder.path + "/metadata.db", synchronous: false),
                   try FilesystemBlobStore(root: folder.path, synchronous: false))
}
