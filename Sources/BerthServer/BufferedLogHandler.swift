import Foundation
import Logging
import Synchronization

/// A swift-log handler for the access log: lines gather in memory and reach stdout in batches, every
/// 100 ms or every 64 KiB, instead of one write syscall per request. A crash loses at most the last batch.
struct BufferedLogHandler: LogHandler {
    let label: String
    let sink: LogSink
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        sink.append("\(sink.timestamp()) \(event.level) \(label): \(event.message)\n")
    }
}

/// The shared buffer behind `BufferedLogHandler`, flushed by a background thread.
final class LogSink: Sendable {
    private struct State {
        var buffer: [UInt8] = []
        var second = 0
        var stamp = ""
    }

    private let state = Mutex(State())
    private let fd: Int32
    static let flushBytes = 64 * 1024

    init(fd: Int32 = STDOUT_FILENO) {
        self.fd = fd
        let thread = Thread { [weak self] in
            while let sink = self {
                sink.flush()
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
        thread.name = "berth-access-log"
        thread.start()
    }

    func append(_ line: String) {
        let full = state.withLock { state -> Bool in
            state.buffer.append(contentsOf: line.utf8)
            return state.buffer.count >= Self.flushBytes
        }
        if full { flush() }
    }

    /// An ISO 8601 UTC timestamp, formatted once per second.
    func timestamp() -> String {
        let now = time(nil)
        return state.withLock { state in
            if state.second != now {
                var t = tm()
                var seconds = now
                gmtime_r(&seconds, &t)
                var bytes = [CChar](repeating: 0, count: 32)
                strftime(&bytes, bytes.count, "%Y-%m-%dT%H:%M:%SZ", &t)
                state.stamp = String(cString: bytes)
                state.second = now
            }
            return state.stamp
        }
    }

    func flush() {
        let bytes = state.withLock { state -> [UInt8] in
            defer { state.buffer.removeAll(keepingCapacity: true) }
            return state.buffer
        }
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { if errno == EINTR { continue } else { return } }
            offset += n
        }
    }
}
