// Linux only, like the deployment targets: the calls are qualified with Glibc where POSIXFile shadows them.
import CBerthSystem
import Foundation
import Glibc

/// Thin, blocking wrappers over the POSIX calls the filesystem driver needs. Callers run them on a thread pool.
enum POSIXFile {
    struct Failure: Error, CustomStringConvertible {
        let operation: String
        let path: String
        let errno: Int32
        var description: String { "\(operation) \(path): \(String(cString: strerror(errno)))" }
    }

    static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o644) throws -> Int32 {
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            if errno != EINTR { throw Failure(operation: "open", path: path, errno: errno) }
        }
    }

    /// Opens a file for reading or writing, returning nil when it does not exist.
    static func openIfExists(_ path: String, _ flags: Int32) throws -> Int32? {
        do {
            return try open(path, flags)
        } catch let failure as Failure where failure.errno == ENOENT {
            return nil
        }
    }

    static func close(_ fd: Int32) { _ = Glibc.close(fd) }

    /// Writes all of `bytes` at `offset`.
    static func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64, path: String) throws {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(operation: "write", path: path, errno: errno)
            }
            done += n
        }
    }

    /// Reads up to `buffer.count` bytes at `offset`; returns the count read (0 at end of file).
    static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64, path: String) throws -> Int {
        while true {
            let n = pread(fd, buffer.baseAddress!, buffer.count, off_t(offset))
            if n >= 0 { return n }
            if errno != EINTR { throw Failure(operation: "read", path: path, errno: errno) }
        }
    }

    /// Flushes a file's data to stable storage.
    static func sync(_ fd: Int32, path: String) throws {
        #if os(Linux)
        let rc = fdatasync(fd)
        #else
        let rc = fsync(fd)
        #endif
        if rc != 0 { throw Failure(operation: "fsync", path: path, errno: errno) }
    }

    /// Starts writing a range back to disk without waiting, so that the final sync of a large upload has
    /// little left to do: disk writeback overlaps receiving the rest from the network.
    static func startWriteback(_ fd: Int32, offset: Int64, length: Int) {
        _ = cberth_start_writeback(fd, offset, Int64(length))
    }

    /// Makes a folder's entries (new files, renames, removals) durable.
    static func syncDirectory(_ path: String) throws {
        let fd = try open(path, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        if fsync(fd) != 0 { throw Failure(operation: "fsync", path: path, errno: errno) }
    }

    static func size(_ path: String) throws -> Int64? {
        var st = stat()
        if stat(path, &st) != 0 {
            if errno == ENOENT { return nil }
            throw Failure(operation: "stat", path: path, errno: errno)
        }
        return Int64(st.st_size)
    }

    /// The last modification time, or nil when the file does not exist.
    static func modified(_ path: String) throws -> Date? {
        var st = stat()
        if stat(path, &st) != 0 {
            if errno == ENOENT { return nil }
            throw Failure(operation: "stat", path: path, errno: errno)
        }
        return Date(timeIntervalSince1970: Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9)
    }

    static func truncate(_ fd: Int32, to size: Int64) {
        _ = ftruncate(fd, off_t(size))
    }

    /// Cuts the file at `path` to `size` bytes, synced with `durable`.
    static func truncate(_ path: String, to size: Int64, durable: Bool) throws {
        let fd = try open(path, O_WRONLY)
        defer { close(fd) }
        if ftruncate(fd, off_t(size)) != 0 { throw Failure(operation: "ftruncate", path: path, errno: errno) }
        if durable { try sync(fd, path: path) }
    }

    static func rename(_ from: String, _ to: String) throws {
        if Glibc.rename(from, to) != 0 { throw Failure(operation: "rename", path: to, errno: errno) }
    }

    static func remove(_ path: String) throws {
        if unlink(path) != 0 && errno != ENOENT { throw Failure(operation: "unlink", path: path, errno: errno) }
    }

    /// Creates `path` and any missing parents. With `durable`, the parent of `path` is synced after its mkdir,
    /// also when mkdir finds the folder present: whoever created it may not have synced it yet, or a crash may
    /// have come between the two. Missing ancestors are created (and synced) the same way.
    static func makeDirectories(_ path: String, durable: Bool) throws {
        let parent = parentPath(path)
        if parent != path, !parent.isEmpty, (try? isDirectory(parent)) != true {
            try makeDirectories(parent, durable: durable)
        }
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw Failure(operation: "mkdir", path: path, errno: errno)
        }
        if durable { try syncDirectory(parent.isEmpty ? "/" : parent) }
    }

    static func isDirectory(_ path: String) throws -> Bool {
        var st = stat()
        guard stat(path, &st) == 0 else { return false }
        return (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func parentPath(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    static func listDirectory(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else {
            if errno == ENOENT { return [] }
            throw Failure(operation: "opendir", path: path, errno: errno)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
