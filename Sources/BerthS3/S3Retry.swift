import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import Synchronization

/// Retries of S3 requests as the AWS SDKs' "standard" retry mode makes them: a few attempts, a jittered
/// exponential backoff, and a retry quota that stops retrying when most requests fail (an outage, not a
/// blip), so retries do not triple the load on a store that is already struggling.
///
/// Every request this driver sends is safe to repeat: GET, HEAD and List read; PUT of an object or a part,
/// UploadPartCopy and CopyObject write the same bytes under the same name again; DELETE and AbortMultipartUpload
/// of something already gone succeed; CreateMultipartUpload repeated leaves at worst an empty upload that
/// clean-up aborts (uploads under `uploads/` with their session, under `blobs/` after a day); a repeated
/// CompleteMultipartUpload is handled where it is sent. Request bodies are `ByteBuffer`s held in memory until
/// the request succeeds, so each attempt sends them again; no one-shot stream is ever handed to a request.
struct S3Retrier: Sendable {
    /// Attempts per request, the first included: 1 never retries.
    let maxAttempts: Int
    /// The backoff before retry n (1-based) is uniform in 0...min(baseDelay × 2^(n-1), maxBackoff) ("full jitter").
    let baseDelay: Duration
    let maxBackoff: Duration
    let quota: S3RetryQuota
    let logger: Logger

    static let defaultBaseDelay: Duration = .milliseconds(100)
    static let defaultMaxBackoff: Duration = .seconds(20)

    init(maxAttempts: Int, baseDelay: Duration = defaultBaseDelay, maxBackoff: Duration = defaultMaxBackoff,
         quota: S3RetryQuota = S3RetryQuota(), logger: Logger) {
        self.maxAttempts = min(max(maxAttempts, 1), S3Configuration.maximumAttempts)
        self.baseDelay = baseDelay
        self.maxBackoff = maxBackoff
        self.quota = quota
        self.logger = logger
    }

    /// Why a failed attempt may be retried; nil: it may not.
    enum Cause: Equatable {
        /// The store asked us to slow down (503 SlowDown, 429, a throttling error code).
        case throttled
        /// A server-side failure that a repeat usually gets past (500, 502, 503, 504, InternalError).
        case transient
        /// The connection failed, was reset or closed, or an answer did not come in time.
        case connection
        /// A timeout: costs the quota more, as the AWS SDKs count it (it may be a store that is down).
        case timeout
    }

    /// The AWS SDKs' throttling error codes (SlowDown is S3's).
    static let throttlingCodes: Set<String> = [
        "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
        "TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
        "RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled", "SlowDown",
        "PriorRequestNotComplete", "EC2ThrottledException",
    ]
    /// Error codes the AWS SDKs treat as transient whatever the status (S3 answers a body that came too
    /// slowly with 400 RequestTimeout, and may answer 200 with an InternalError document).
    static let transientCodes: Set<String> = ["RequestTimeout", "RequestTimeoutException", "InternalError"]

    /// Client-side failures that no repeat changes: cancellation, a stopped client, a bad URL or request.
    static let permanentClientErrors: [HTTPClientError] = [
        .cancelled, .alreadyShutdown, .invalidURL, .emptyHost, .emptyScheme, .missingSocketPath,
        .requestStreamCancelled, .bodyLengthMismatch, .traceRequestWithBody,
        .invalidRedirectConfiguration, .invalidHTTPVersionConfiguration, .invalidDNSOverridesConfiguration,
        .invalidLocalAddress, .invalidProxyConfiguration, .redirectLimitReached, .redirectCycleDetected,
    ]
    static let timeouts: [HTTPClientError] = [
        .readTimeout, .writeTimeout, .deadlineExceeded, .tlsHandshakeTimeout, .getConnectionFromPoolTimeout,
    ]

    static func isEstablishmentFailure(_ error: any Error) -> Bool {
        if let error = error as? HTTPClientError, error == .connectTimeout { return true }
        if case ChannelError.connectTimeout = error { return true }
        // Errors only a connect meets (a reset, ECONNRESET, is met on a connection made, and is retried).
        if let error = error as? IOError, [ECONNREFUSED, EHOSTUNREACH, ENETUNREACH].contains(error.errnoCode) {
            return true
        }
        // What the pool fails a request with when every connection attempt was refused or unreachable;
        // NIOPosix's type, and NIOPosix is no dependency of this module, so it is known by its name.
        return String(describing: type(of: error)) == "NIOConnectionError"
    }

    static func cause(of error: any Error) -> Cause? {
        // Cancelled, or a response larger than asked for: a repeat changes neither.
        if error is CancellationError || error is NIOTooManyBytesError { return nil }
        if let error = error as? S3Error {
            if throttlingCodes.contains(error.code) || error.status == 429 { return .throttled }
            if transientCodes.contains(error.code) || [500, 502, 503, 504].contains(error.status) { return .transient }
            // Any other answer from the store (403, 404, 409, 412...) would be answered again; and status 0
            // is the driver's own finding about a response (a missing ETag, a short body), not the network's.
            return nil
        }
        // No connection could be made: the HTTP client has retried that itself until its connect timeout
        // (10 s) before failing the request; repeating the request would multiply the wait for a store that
        // cannot be reached.
        if isEstablishmentFailure(error) { return nil }
        if let error = error as? HTTPClientError {
            if permanentClientErrors.contains(error) { return nil }
            if timeouts.contains(error) { return .timeout }
        }
        // Whatever else the transport throws (a reset or refused connection, a closed channel, a garbled
        // response) is what the SDKs retry as a connection error.
        return .connection
    }

    /// The delay before retry `retry` (1 for the first retry), given a uniform `random` in 0...1.
    func backoff(beforeRetry retry: Int, random: Double) -> Duration {
        // Bounded before the arithmetic: 2^30 × any base is past every sane cap, and stays finite in Double.
        let exponent = Double(min(max(retry, 1), 31) - 1)
        let ceiling = min(Self.seconds(baseDelay) * pow(2, exponent), Self.seconds(maxBackoff))
        return .nanoseconds(Int64(ceiling * min(max(random, 0), 1) * 1e9))
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// Runs `operation` (given the attempt number, from 1) until it succeeds, fails in a way no repeat
    /// changes, runs out of attempts or of quota, or the task is cancelled; rethrows the last failure.
    func run<T>(_ resource: @autoclosure () -> String, sleep: (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
                _ operation: (_ attempt: Int) async throws -> T) async throws -> T {
        var attempt = 1
        var lastCost: Int?
        while true {
            do {
                let value = try await operation(attempt)
                quota.succeeded(refunding: lastCost)
                return value
            } catch {
                guard attempt < maxAttempts, !Task.isCancelled, let cause = Self.cause(of: error) else { throw error }
                guard let cost = quota.take(for: cause) else {
                    logger.notice("S3 retry quota spent: not retrying", metadata: [
                        "resource": .string(resource()), "error": .string("\(error)")])
                    throw error
                }
                lastCost = cost
                let delay = backoff(beforeRetry: attempt, random: Double.random(in: 0...1))
                logger.debug("S3 request retried", metadata: [
                    "resource": .string(resource()), "attempt": .stringConvertible(attempt + 1),
                    "delay_ms": .stringConvertible(Int64(Self.seconds(delay) * 1000)), "error": .string("\(error)")])
                try await sleep(delay)
                attempt += 1
            }
        }
    }
}

/// The standard retry mode's token bucket, shared by every request of one client: a retry takes 5 tokens
/// (10 after a timeout), a request that succeeds without a retry puts 1 back, one that succeeds after
/// retries puts its last retry's cost back. With no tokens left, failures are returned at once.
final class S3RetryQuota: Sendable {
    static let capacity = 500
    static let retryCost = 5
    static let timeoutCost = 10
    private let tokens: Mutex<Int>
    let capacity: Int

    init(capacity: Int = S3RetryQuota.capacity) {
        self.capacity = max(capacity, 0)
        tokens = Mutex(self.capacity)
    }

    var available: Int { tokens.withLock { $0 } }

    /// Takes the cost of a retry, or nil (and nothing) when the bucket holds less.
    func take(for cause: S3Retrier.Cause) -> Int? {
        let cost = cause == .timeout ? Self.timeoutCost : Self.retryCost
        return tokens.withLock { tokens in
            guard tokens >= cost else { return nil }
            tokens -= cost
            return cost
        }
    }

    func succeeded(refunding cost: Int?) {
        tokens.withLock { $0 = min($0 + (cost ?? 1), capacity) }
    }
}
