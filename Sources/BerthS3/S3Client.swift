import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore

/// A minimal S3 REST client: signs each request with SigV4 and turns error responses into `S3Error`.
/// Keys given to it are full object keys (the store's prefix already applied).
final class S3Client: Sendable {
    let http: HTTPClient
    let configuration: S3Configuration
    let signer: SigV4Signer
    let scheme: String
    /// `host[:port]` of the endpoint (without the bucket).
    let endpointHost: String
    /// A path the endpoint URL carries before the bucket (rare: S3 behind a path-routing proxy), no trailing '/'.
    let basePath: String
    let retrier: S3Retrier

    /// Time allowed until a response's head; bodies then stream under the client's read timeout.
    static let headTimeout: TimeAmount = .minutes(5)
    /// Error bodies are small XML documents; more than this is not read.
    static let errorBodyLimit = 64 << 10

    init(configuration: S3Configuration, http: HTTPClient, logger: Logger = Logger(label: "berth.s3")) throws {
        guard let url = URLComponents(string: configuration.endpoint), let scheme = url.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = url.host, !host.isEmpty
        else {
            throw S3Error(code: "InvalidEndpoint", message: "endpoint must be an http(s) URL: \(configuration.endpoint)")
        }
        self.http = http
        self.configuration = configuration
        self.scheme = scheme
        let defaultPort = scheme == "https" ? 443 : 80
        let hostText = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        self.endpointHost = url.port.map { $0 == defaultPort ? hostText : "\(hostText):\($0)" } ?? hostText
        var path = url.percentEncodedPath
        while path.hasSuffix("/") { path.removeLast() }
        self.basePath = path
        self.retrier = S3Retrier(maxAttempts: configuration.maxAttempts, logger: logger)
        self.signer = SigV4Signer(accessKey: configuration.accessKey, secretKey: configuration.secretKey,
                                  sessionToken: configuration.sessionToken, region: configuration.region)
    }

    /// The host and canonical (encoded once) path of `key` in the bucket; nil key: the bucket itself.
    func location(_ key: String?) -> (host: String, path: String) {
        let encodedKey = key.map { SigV4Signer.uriEncode($0, encodeSlash: false) } ?? ""
        if configuration.pathStyle {
            let bucket = "\(basePath)/\(SigV4Signer.uriEncode(configuration.bucket))"
            return (endpointHost, key == nil ? bucket : "\(bucket)/\(encodedKey)")
        }
        return ("\(configuration.bucket).\(endpointHost)", "\(basePath)/\(encodedKey)")
    }

    /// Sends a signed request, retried as `retrier` allows, and returns the response once its status is a
    /// success; the body is left for the caller to stream or collect (a failure while streaming it is the
    /// caller's: bytes may already have been handed on). Anything else becomes an `S3Error` (its body parsed
    /// when present).
    func send(_ method: String, key: String?, query: [(String, String)] = [], headers: [(String, String)] = [],
              body: ByteBuffer? = nil, timeout: TimeAmount = S3Client.headTimeout) async throws -> HTTPClientResponse {
        let payloadHash = payloadHash(body)
        return try await retrier.run("\(method) \(key ?? "/")") { _ in
            try await sendOnce(method, key: key, query: query, headers: headers, body: body,
                               payloadHash: payloadHash, timeout: timeout)
        }
    }

    /// Sends a request and collects its (small) response body as text; an `<Error>` document in a 200
    /// response (CompleteMultipartUpload, CopyObject) is a failure too. Retried as a whole, collection included.
    func sendForText(_ method: String, key: String?, query: [(String, String)] = [],
                     headers: [(String, String)] = [], body: ByteBuffer? = nil,
                     limit: Int = 16 << 20) async throws -> (text: String, headers: [(String, String)]) {
        let payloadHash = payloadHash(body)
        return try await retrier.run("\(method) \(key ?? "/")") { _ in
            try await textOnce(method, key: key, query: query, headers: headers, body: body,
                               payloadHash: payloadHash, limit: limit)
        }
    }

    /// The payload hash for the signature, computed once for all attempts.
    func payloadHash(_ body: ByteBuffer?) -> String {
        guard let body, body.readableBytes > 0 else { return SigV4Signer.emptyPayloadSHA256 }
        return configuration.signPayload
            ? body.withUnsafeReadableBytes { SigV4Signer.sha256Hex($0) } : SigV4Signer.unsignedPayload
    }

    /// One attempt: signs afresh (the signature carries the time) and sends the same bytes.
    func sendOnce(_ method: String, key: String?, query: [(String, String)], headers: [(String, String)],
                  body: ByteBuffer?, payloadHash: String,
                  timeout: TimeAmount = S3Client.headTimeout) async throws -> HTTPClientResponse {
        let (host, path) = location(key)
        var signed = [("host", host)] + headers
        signer.sign(method: method, path: path, query: query, headers: &signed, payloadHash: payloadHash)
        let queryText = SigV4Signer.canonicalQuery(query)
        var request = HTTPClientRequest(url: "\(scheme)://\(host)\(path)" + (queryText.isEmpty ? "" : "?\(queryText)"))
        request.method = .init(rawValue: method)
        for (name, value) in signed { request.headers.add(name: name, value: value) }
        if let body {
            // A ByteBuffer is a value: every attempt sends it whole from its start.
            request.body = .bytes(body)
        } else if method == "PUT" || method == "POST" {
            request.body = .bytes(ByteBuffer())
        }
        let response = try await http.execute(request, timeout: timeout)
        let status = Int(response.status.code)
        if (200..<300).contains(status) { return response }
        throw await Self.error(from: response, resource: "\(method) \(key ?? "/")")
    }

    func textOnce(_ method: String, key: String?, query: [(String, String)], headers: [(String, String)],
                  body: ByteBuffer?, payloadHash: String, limit: Int) async throws -> (text: String, headers: [(String, String)]) {
        let response = try await sendOnce(method, key: key, query: query, headers: headers, body: body,
                                          payloadHash: payloadHash)
        let buffer = try await response.body.collect(upTo: limit)
        let text = String(buffer: buffer)
        if XML.value("Code", in: text) != nil, text.contains("<Error>") {
            throw Self.error(parsing: text, status: Int(response.status.code), resource: "\(method) \(key ?? "/")")
        }
        return (text, response.headers.map { ($0.name, $0.value) })
    }

    static func error(from response: HTTPClientResponse, resource: String) async -> S3Error {
        let status = Int(response.status.code)
        let body = (try? await response.body.collect(upTo: errorBodyLimit)).map { String(buffer: $0) } ?? ""
        var error = self.error(parsing: body, status: status, resource: resource)
        if error.requestID == nil { error.requestID = response.headers.first(name: "x-amz-request-id") }
        return error
    }

    static func error(parsing body: String, status: Int, resource: String) -> S3Error {
        // HEAD responses carry no body: name the status instead.
        let fallback = status == 404 ? "NotFound" : status == 403 ? "Forbidden" : "HTTP\(status)"
        return S3Error(code: XML.value("Code", in: body) ?? fallback, message: XML.value("Message", in: body) ?? "",
                       status: status, requestID: XML.value("RequestId", in: body), resource: resource)
    }

    // MARK: Objects

    func putObject(_ key: String, body: ByteBuffer) async throws {
        _ = try await sendForText("PUT", key: key, headers: configuration.encryptionHeaders, body: body)
    }

    /// GETs an object (or `range` of it) and returns the response, body still to stream.
    func getObject(_ key: String, range: ClosedRange<Int64>? = nil) async throws -> HTTPClientResponse {
        var headers: [(String, String)] = []
        if let range { headers.append(("range", "bytes=\(range.lowerBound)-\(range.upperBound)")) }
        return try await send("GET", key: key, headers: headers)
    }

    /// Whether the object exists (HEAD): false on 404, throws on any other failure.
    func headObject(_ key: String) async throws -> Bool {
        do {
            _ = try await send("HEAD", key: key)
            return true
        } catch let error as S3Error where error.status == 404 {
            return false
        }
    }

    /// Deletes an object; deleting one that is absent succeeds (S3 answers 204 either way).
    func deleteObject(_ key: String) async throws {
        do {
            _ = try await sendForText("DELETE", key: key)
        } catch let error as S3Error where error.status == 404 && error.code != "NoSuchBucket" {
            return
        }
    }

    /// Server-side copy of a whole object (up to 5 GiB).
    func copyObject(from source: String, to target: String) async throws {
        let headers = [("x-amz-copy-source", copySource(source))] + configuration.encryptionHeaders
        _ = try await sendForText("PUT", key: target, headers: headers)
    }

    /// The `x-amz-copy-source` value for a key of this bucket.
    func copySource(_ key: String) -> String {
        "/\(SigV4Signer.uriEncode(configuration.bucket))/\(SigV4Signer.uriEncode(key, encodeSlash: false))"
    }

    struct Listing {
        var objects: [(key: String, size: Int64, modified: Date?)] = []
        var commonPrefixes: [String] = []
    }

    /// ListObjectsV2 under `prefix`, all pages (or the first `maxKeys` keys when given).
    func list(prefix: String, delimiter: String? = nil, maxKeys: Int? = nil) async throws -> Listing {
        var listing = Listing()
        try await list(prefix: prefix, delimiter: delimiter, maxKeys: maxKeys) { page in
            listing.objects += page.objects
            listing.commonPrefixes += page.commonPrefixes
        }
        return listing
    }

    /// ListObjectsV2 under `prefix`, handing each page (at most 1,000 keys) to `body` before fetching the
    /// next, so a caller walking a whole bucket holds one page.
    func list(prefix: String, delimiter: String? = nil, maxKeys: Int? = nil,
              pages body: (Listing) async throws -> Void) async throws {
        var token: String?
        repeat {
            var listing = Listing()
            var query = [("list-type", "2"), ("prefix", prefix)]
            if let delimiter { query.append(("delimiter", delimiter)) }
            if let maxKeys { query.append(("max-keys", String(maxKeys))) }
            if let token { query.append(("continuation-token", token)) }
            let text = try await sendForText("GET", key: nil, query: query).text
            for block in XML.blocks("Contents", in: text) {
                guard let key = XML.value("Key", in: block) else { continue }
                listing.objects.append((key, Int64(XML.value("Size", in: block) ?? "") ?? 0,
                                        XML.value("LastModified", in: block).flatMap(XML.date)))
            }
            for block in XML.blocks("CommonPrefixes", in: text) {
                if let p = XML.value("Prefix", in: block) { listing.commonPrefixes.append(p) }
            }
            try await body(listing)
            token = XML.value("IsTruncated", in: text) == "true" && maxKeys == nil
                ? XML.value("NextContinuationToken", in: text) : nil
        } while token != nil
    }

    // MARK: Bucket

    func headBucket() async throws {
        _ = try await send("HEAD", key: nil)
    }

    /// Creates the bucket; one that already exists and is ours is not an error.
    func createBucket() async throws {
        var body: ByteBuffer?
        if configuration.region != "us-east-1" {
            body = ByteBuffer(string: "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>\(configuration.region)</LocationConstraint></CreateBucketConfiguration>")
        }
        do {
            _ = try await sendForText("PUT", key: nil, body: body)
        } catch let error as S3Error where error.code == "BucketAlreadyOwnedByYou" {
            return
        }
    }
}
