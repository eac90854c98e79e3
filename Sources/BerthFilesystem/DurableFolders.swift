import Glibc

/// Folders that outlive a power loss: every folder made, and each missing ancestor, has its parent synced
/// after its mkdir. For every folder Berth creates outside the blob store too (the data root, the signing keys'
/// folder, a migration's target), since every acknowledged write beneath one depends on it.
public enum DurableFolders {
    /// Makes `path` and its missing ancestors, each made durable in its parent; then sets `mode` on `path`.
    /// The parent is synced even when `path` exists already: whoever made it may not have synced it (a crash
    /// between a mkdir and its sync leaves exactly that).
    public static func make(_ path: String, mode: mode_t? = nil, durable: Bool = true) throws {
        try POSIXFile.makeDirectories(path, durable: durable)
        if let mode, chmod(path, mode) != 0 { throw POSIXFile.Failure(operation: "chmod", path: path, errno: errno) }
    }
}
