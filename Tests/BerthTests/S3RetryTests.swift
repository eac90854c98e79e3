import AsyncHTTPClient
@testable import BerthS3
import BerthServer
import Foundation
import Logging
import NIOCore
import Synchronization
import Testing

/// The S3 driver's retries (no S3 needed): which failures are retried, how many times, how long it waits,
/// and the retry quota. The live check through a fault-injecting proxy is IntegrationTests/scaleout/rig/faultcheck.py.
struct S3RetryTests {
    static func retrier(attempts: Int = 3, quota: Int = S3RetryQuota.capacity) -> S3Retrier {
        S3Retrier(maxAttempts: attempts, quota: S3RetryQuota(capacity: quota), logger: Logger(label: "test"))
    }

    /// Runs `failures` (thrown in order, then success) through `retrier`; returns the attempts made, the
    /// delays asked for and the outcome.
    static func run(_ retrier: S3Retrier, failing failures: [any Error]) async -> (attempts: Int, delays: [Duration], error: (any Error)?) {
        let attempts = Mutex(0), delays = Mutex<[Duration]>([])
        do {
            let value: Int = try await retrier.run("GET test", sleep: { delay in delays.withLock { $0.append(delay) } }) { attempt in
                let made = attempts.withLock { $0 += 1; return $0 }
                #expect(attempt == made)
                if made <= failures.count { throw failures[made - 1] }
                return 42
            }
            #expect(value == 42)
            return (attempts.withLock { $0 }, delays.withLock { $0 }, nil)
        } catch {
            return (attempts.withLock { $0 }, delays.withLock { $0 }, error)
        }
    }

    static let slowDown = S3Error(code: "SlowDown", message: "Please reduce your request rate.", status: 503)
    static let internalError = S3Error(code: "InternalError", status: 500)

    @Test func classifiesFailures() {
        let cases: [(any Error, S3Retrier.Cause?)] = [
            (Self.slowDown, .throttled),
            (S3Error(code: "HTTP503", status: 503), .transient),  // a HEAD's 503 carries no code
            (S3Error(code: "TooManyRequests", status: 429), .throttled),
            (Self.internalError, .transient),
            (S3Error(code: "BadGateway", status: 502), .transient),
            (S3Error(code: "GatewayTimeout", status: 504), .transient),
            (S3Error(code: "InternalError", status: 200), .transient),  // CompleteMultipartUpload's 200 + <Error>
            (S3Error(code: "RequestTimeout", status: 400), .transient),
            (S3Error(code: "NoSuchKey", status: 404), nil),
            (S3Error(code: "AccessDenied", status: 403), nil),
            (S3Error(code: "SignatureDoesNotMatch", status: 403), nil),
            (S3Error(code: "InvalidPart", status: 400), nil),
            (S3Error(code: "HTTP501", status: 501), nil),
            (S3Error(code: "InvalidResponse", message: "no ETag"), nil),  // the driver's own finding
            (HTTPClientError.remoteConnectionClosed, .connection),
            (IOError(errnoCode: ECONNRESET, reason: "read"), .connection),
            (IOError(errnoCode: ECONNREFUSED, reason: "connect"), nil),  // the client retried connecting
            (ChannelError.ioOnClosedChannel, .connection),
            (HTTPClientError.readTimeout, .timeout),
            (HTTPClientError.connectTimeout, nil),  // the client itself retried connecting for 10 s
            (ChannelError.connectTimeout(.seconds(10)), nil),
            (HTTPClientError.deadlineExceeded, .timeout),
            (HTTPClientError.cancelled, nil),
            (HTTPClientError.invalidURL, nil),
            (CancellationError(), nil),
            (NIOTooManyBytesError(maxBytes: 10), nil),
        ]
        for (error, cause) in cases {
            #expect(S3Retrier.cause(of: error) == cause, "\(error)")
        }
    }

    @Test func retriesTransientFailuresUpToThreeAttempts() async {
        let twice = await Self.run(Self.retrier(), failing: [Self.slowDown, HTTPClientError.remoteConnectionClosed])
        #expect(twice.attempts == 3 && twice.error == nil && twice.delays.count == 2)
        let always = await Self.run(Self.retrier(), failing: [Self.slowDown, Self.internalError, Self.slowDown, Self.slowDown])
        #expect(always.attempts == 3)
        #expect((always.error as? S3Error) == Self.slowDown, "the last failure is the one thrown")
    }

    @Test func oneAttemptNeverRetries() async {
        let result = await Self.run(Self.retrier(attempts: 1), failing: [Self.slowDown])
        #expect(result.attempts == 1 && result.delays.isEmpty)
        #expect((result.error as? S3Error) == Self.slowDown)
    }

    @Test func clientErrorsAndCancellationAreNotRetried() async {
        for error in [S3Error(code: "NoSuchKey", status: 404), S3Error(code: "AccessDenied", status: 403)] as [any Error]
            + [CancellationError(), HTTPClientError.cancelled] {
            let result = await Self.run(Self.retrier(), failing: [error])
            #expect(result.attempts == 1, "\(error)")
            #expect(result.error != nil)
        }
        // A task cancelled while failing stops retrying.
        let task = Task {
            let result = await Self.run(Self.retrier(), failing: [Self.slowDown, Self.slowDown])
            return (result.attempts, result.error != nil)
        }
        task.cancel()
        let (attempts, failed) = await task.value
        #expect(attempts == 1 && failed)
    }

    @Test func backoffIsExponentialWithFullJitterAndCapped() {
        let retrier = Self.retrier(attempts: 10)
        #expect(retrier.backoff(beforeRetry: 1, random: 1) == .milliseconds(100))
        #expect(retrier.backoff(beforeRetry: 2, random: 1) == .milliseconds(200))
        #expect(retrier.backoff(beforeRetry: 3, random: 0.5) == .milliseconds(200))
        #expect(retrier.backoff(beforeRetry: 4, random: 0) == .zero)
        #expect(retrier.backoff(beforeRetry: 9, random: 1) == .seconds(20), "capped: 100 ms × 256 is past 20 s")
        // Numbers far out of range are bounded, not trapped on.
        #expect(retrier.backoff(beforeRetry: .max, random: 7) == .seconds(20))
        #expect(retrier.backoff(beforeRetry: .min, random: -1) == .zero)
        let quick = S3Retrier(maxAttempts: 3, baseDelay: .seconds(30), logger: Logger(label: "test"))
        #expect(quick.backoff(beforeRetry: 1, random: 1) == .seconds(20))
        #expect(S3Retrier(maxAttempts: 99, logger: Logger(label: "t")).maxAttempts == S3Configuration.maximumAttempts)
        #expect(S3Retrier(maxAttempts: 0, logger: Logger(label: "t")).maxAttempts == 1)
    }

    @Test func theQuotaStopsRetriesWhenMostRequestsFail() async {
        // 12 tokens: two retries (5 each); a timeout costs 10.
        let retrier = Self.retrier(quota: 12)
        let first = await Self.run(retrier, failing: [Self.slowDown, Self.slowDown, Self.slowDown])
        #expect(first.attempts == 3 && first.error != nil)
        #expect(retrier.quota.available == 2)
        let spent = await Self.run(retrier, failing: [Self.slowDown])
        #expect(spent.attempts == 1 && spent.error != nil, "no tokens: the failure is returned at once")
        // Successes put tokens back: one per first-attempt success, a retry's cost after a retried success.
        for _ in 0..<3 { _ = await Self.run(retrier, failing: []) }
        #expect(retrier.quota.available == 5)
        let retried = await Self.run(retrier, failing: [Self.slowDown])
        #expect(retried.attempts == 2 && retried.error == nil)
        #expect(retrier.quota.available == 5)
        let timedOut = await Self.run(retrier, failing: [HTTPClientError.readTimeout])
        #expect(timedOut.attempts == 1, "a timeout's retry costs 10")
        for _ in 0..<1000 { _ = await Self.run(retrier, failing: []) }
        #expect(retrier.quota.available == 12, "never past the capacity")
    }

    @Test func maxAttemptsFromTheEnvironment() throws {
        let base = ["AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"]
        let defaulted = try S3Configuration.fromEnvironment(endpoint: "http://127.0.0.1:1", bucket: "b", environment: base)
        #expect(defaulted.maxAttempts == 3 && defaulted.uploadBufferBytes == 256 << 20)
        let one = try S3Configuration.fromEnvironment(endpoint: "http://127.0.0.1:1", bucket: "b",
                                                      environment: base.merging(["AWS_MAX_ATTEMPTS": "1"]) { $1 })
        #expect(one.maxAttempts == 1)
        let given = try S3Configuration.fromEnvironment(endpoint: "http://127.0.0.1:1", bucket: "b", maxAttempts: 5,
                                                        environment: base.merging(["AWS_MAX_ATTEMPTS": "1"]) { $1 })
        #expect(given.maxAttempts == 5, "the configuration file wins over the environment")
        for bad in ["0", "11", "three", "99999999999999999999999"] {
            #expect(throws: S3Error.self) {
                _ = try S3Configuration.fromEnvironment(endpoint: "http://127.0.0.1:1", bucket: "b",
                                                        environment: base.merging(["AWS_MAX_ATTEMPTS": bad]) { $1 })
            }
        }
    }

    @Test func configurationKeys() throws {
        func s3(_ lines: String) throws -> S3Settings {
            var configuration = Configuration()
            try configuration.apply(yaml: "storage:\n  driver: s3\n  s3:\n    bucket: b\n" + lines)
            return configuration.blobStorage.s3
        }
        let set = try s3("    max_attempts: 1\n    upload_buffer_memory: 67108864\n")
        #expect(set.maxAttempts == 1 && set.uploadBufferMemory == 64 << 20)
        let unset = try s3("")
        #expect(unset.maxAttempts == nil && unset.uploadBufferMemory == nil)
        for bad in ["max_attempts: 0", "max_attempts: 11", "upload_buffer_memory: 1000",
                    "upload_buffer_memory: 9223372036854775807", "part_size: 16777216\n    upload_buffer_memory: 8388608"] {
            #expect(throws: ConfigurationError.self, "\(bad)") { _ = try s3("    \(bad)\n") }
        }
    }

    /// A store nothing listens for: the HTTP client retries connecting until its connect timeout, and the
    /// request is not repeated on top of that (three times 10 s), so no retry is taken from the quota.
    @Test func unreachableStoreIsNotRetriedAgain() async throws {
        let configuration = S3Configuration(endpoint: "http://127.0.0.1:1", bucket: "b", accessKey: "k", secretKey: "s")
        let store = try S3BlobStore(configuration: configuration)
        let started = ContinuousClock.now
        let error = await #expect(throws: (any Error).self) { try await store.checkHealth() }
        #expect(store.client.retrier.quota.available == S3RetryQuota.capacity,
                "\(String(reflecting: error)) of type \(error.map { String(reflecting: type(of: $0)) } ?? "")")
        #expect(ContinuousClock.now - started < .seconds(20))
        try await store.shutdown()
    }
}
