import Foundation

/// Where and how the S3 driver stores blobs.
public struct S3Configuration: Sendable {
    /// Server-side encryption asked of S3 on every object written.
    public enum Encryption: Sendable, Equatable {
        case none
        /// `x-amz-server-side-encryption: AES256` (S3-managed keys).
        case aes256
        /// `aws:kms`, with a key id or ARN (nil: the bucket's default KMS key).
        case kms(keyID: String?)
    }

    /// Base URL of the service, e.g. `https://s3.eu-west-1.amazonaws.com` or `http://127.0.0.1:8333`.
    public var endpoint: String
    public var region: String
    public var bucket: String
    /// Prepended to every key (`team/` → `team/blobs/...`); empty for the bucket's root.
    public var prefix: String
    public var accessKey: String
    public var secretKey: String
    public var sessionToken: String?
    /// `endpoint/bucket/key` when true, `bucket.endpoint/key` (virtual-hosted) when false.
    public var pathStyle: Bool
    /// Bytes buffered per request before a multipart part is sent; at least 5 MiB (S3's minimum part).
    public var partSize: Int
    public var encryption: Encryption
    /// Hash request bodies into the signature (end-to-end integrity without TLS); else `UNSIGNED-PAYLOAD`.
    public var signPayload: Bool
    /// When set, blob GETs are redirected to presigned URLs valid this long, so bytes flow from the bucket to
    /// the client (the endpoint must be reachable by clients); nil: the registry serves the bytes.
    public var redirectExpiry: Duration?
    /// Attempts per request, the first included (1: never retry); see `S3Retrier`.
    public var maxAttempts: Int
    /// The most bytes all upload buffers of the store hold together (raised to one part when less): each
    /// request's part buffer takes its share of it before filling, and waits while it is spent.
    public var uploadBufferBytes: Int

    public static let minimumPartSize = 5 << 20
    public static let defaultPartSize = 8 << 20
    /// The AWS SDKs' standard retry mode's default.
    public static let defaultAttempts = 3
    public static let maximumAttempts = 10
    public static let defaultUploadBufferBytes = 256 << 20

    public init(endpoint: String, region: String = "us-east-1", bucket: String, prefix: String = "",
                accessKey: String, secretKey: String, sessionToken: String? = nil, pathStyle: Bool = true,
                partSize: Int = S3Configuration.defaultPartSize, encryption: Encryption = .none,
                signPayload: Bool = true, maxAttempts: Int = S3Configuration.defaultAttempts,
                uploadBufferBytes: Int = S3Configuration.defaultUploadBufferBytes) {
        self.endpoint = endpoint
        self.region = region
        self.bucket = bucket
        self.prefix = prefix
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.sessionToken = sessionToken
        self.pathStyle = pathStyle
        self.partSize = max(partSize, Self.minimumPartSize)
        self.encryption = encryption
        self.signPayload = signPayload
        self.maxAttempts = min(max(maxAttempts, 1), Self.maximumAttempts)
        self.uploadBufferBytes = max(uploadBufferBytes, 0)
    }

    /// A configuration whose missing values come from the usual AWS variables: AWS_ENDPOINT_URL,
    /// AWS_REGION (or AWS_DEFAULT_REGION), AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
    /// AWS_MAX_ATTEMPTS (as the AWS SDKs read it). Throws when no endpoint or no credentials can be found.
    public static func fromEnvironment(
        endpoint: String? = nil, region: String? = nil, bucket: String, prefix: String = "",
        accessKey: String? = nil, secretKey: String? = nil, sessionToken: String? = nil, pathStyle: Bool = true,
        partSize: Int = S3Configuration.defaultPartSize, encryption: Encryption = .none,
        maxAttempts: Int? = nil, uploadBufferBytes: Int? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> S3Configuration {
        func value(_ given: String?, _ names: String...) -> String? {
            if let given, !given.isEmpty { return given }
            return names.lazy.compactMap { environment[$0] }.first { !$0.isEmpty }
        }
        let resolvedRegion = value(region, "AWS_REGION", "AWS_DEFAULT_REGION") ?? "us-east-1"
        let resolvedEndpoint = value(endpoint, "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
            ?? "https://s3.\(resolvedRegion).amazonaws.com"
        guard let key = value(accessKey, "AWS_ACCESS_KEY_ID"), let secret = value(secretKey, "AWS_SECRET_ACCESS_KEY")
        else {
            throw S3Error(code: "MissingCredentials", message: "no access key and secret key given or in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY")
        }
        // A session token from the environment belongs to the environment's keys only.
        let token = sessionToken ?? (accessKey == nil ? value(nil, "AWS_SESSION_TOKEN") : nil)
        var attempts = defaultAttempts
        if let maxAttempts {
            attempts = maxAttempts
        } else if let text = value(nil, "AWS_MAX_ATTEMPTS") {
            guard let number = Int(text), (1...maximumAttempts).contains(number) else {
                throw S3Error(code: "InvalidConfiguration", message: "AWS_MAX_ATTEMPTS must be 1 to \(maximumAttempts), got \(text.prefix(32))")
            }
            attempts = number
        }
        return S3Configuration(endpoint: resolvedEndpoint, region: resolvedRegion, bucket: bucket, prefix: prefix,
                               accessKey: key, secretKey: secret, sessionToken: token, pathStyle: pathStyle,
                               partSize: partSize, encryption: encryption, maxAttempts: attempts,
                               uploadBufferBytes: uploadBufferBytes ?? defaultUploadBufferBytes)
    }

    /// The headers asking for server-side encryption (PutObject, CreateMultipartUpload, CopyObject).
    var encryptionHeaders: [(String, String)] {
        switch encryption {
        case .none: return []
        case .aes256: return [("x-amz-server-side-encryption", "AES256")]
        case .kms(let keyID):
            var headers = [("x-amz-server-side-encryption", "aws:kms")]
            if let keyID { headers.append(("x-amz-server-side-encryption-aws-kms-key-id", keyID)) }
            return headers
        }
    }
}

/// A failure S3 reported (its error code, HTTP status and request id) or one the driver met talking to it.
public struct S3Error: Error, Sendable, CustomStringConvertible, Equatable {
    /// S3's error code (`NoSuchKey`, `AccessDenied`, `SignatureDoesNotMatch`...), or the driver's own.
    public var code: String
    public var message: String
    /// The HTTP status of the response; 0 when there was none.
    public var status: Int
    public var requestID: String?
    /// The operation and key, for logs.
    public var resource: String

    public init(code: String, message: String = "", status: Int = 0, requestID: String? = nil, resource: String = "") {
        self.code = code
        self.message = message
        self.status = status
        self.requestID = requestID
        self.resource = resource
    }

    public var description: String {
        var text = "S3 \(code)"
        if status != 0 { text += " (HTTP \(status))" }
        if !resource.isEmpty { text += " on \(resource)" }
        if !message.isEmpty { text += ": \(message)" }
        if let requestID { text += " [request \(requestID)]" }
        return text
    }

    /// The object or upload is absent (not the bucket: that is a configuration error).
    public var isNotFound: Bool {
        code == "NoSuchKey" || code == "NoSuchUpload" || (status == 404 && code != "NoSuchBucket")
    }
}
