import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// A user name and password (or access token) to log in with.
struct Credentials: Sendable {
    var username: String
    var password: String

    var basic: String { "Basic " + Data("\(username):\(password)".utf8).base64EncodedString() }
}

/// One `WWW-Authenticate` challenge: its scheme (lowercased) and parameters.
struct Challenge: Sendable, Equatable {
    var scheme: String
    var parameters: [String: String]

    /// `Bearer realm="…",service="…",scope="repository:a/b:pull,push"` → scheme and parameters. Quoted values
    /// may hold commas and backslash escapes.
    static func parse(_ header: String) -> Challenge? {
        let text = Array(header.utf8)
        var i = 0
        while i < text.count, text[i] != UInt8(ascii: " ") { i += 1 }
        let scheme = String(decoding: text[0..<i], as: UTF8.self).lowercased()
        guard !scheme.isEmpty else { return nil }
        var parameters: [String: String] = [:]
        while i < text.count {
            while i < text.count, text[i] == UInt8(ascii: " ") || text[i] == UInt8(ascii: ",") { i += 1 }
            let keyStart = i
            while i < text.count, text[i] != UInt8(ascii: "=") { i += 1 }
            guard i < text.count else { break }
            let key = String(decoding: text[keyStart..<i], as: UTF8.self).trimmingCharacters(in: .whitespaces).lowercased()
            i += 1
            var value: [UInt8] = []
            if i < text.count, text[i] == UInt8(ascii: "\"") {
                i += 1
                while i < text.count, text[i] != UInt8(ascii: "\"") {
                    if text[i] == UInt8(ascii: "\\"), i + 1 < text.count { i += 1 }
                    value.append(text[i])
                    i += 1
                }
                i += 1
            } else {
                while i < text.count, text[i] != UInt8(ascii: ",") { value.append(text[i]); i += 1 }
            }
            parameters[key] = String(decoding: value, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        }
        return Challenge(scheme: scheme, parameters: parameters)
    }
}

/// Logs in as registry clients do. A 401 with a Bearer challenge fetches a token from the realm for the
/// challenge's scope (with Basic credentials when given, else anonymously), caches it per scope and retries;
/// later requests of the same kind (method class and repository) send the cached token at once, and a 401 on
/// a cached token fetches a new one (after expiry, say). A Basic challenge is answered with Basic credentials,
/// sent with every request from then on. Until a first challenge, nothing is added to requests.
final class Authenticator: Sendable {
    let credentials: Credentials?
    /// Set at the first challenge: from then on requests look for a cached authorization.
    private let active = Atomic<Bool>(false)
    private let state = Mutex(State())

    private struct State {
        var basic = false
        /// `Bearer …` by what it was fetched for
        var tokens: [TokenKey: String] = [:]
        /// request kind → what it was challenged for
        var kinds: [String: TokenKey] = [:]
        var fetching: [TokenKey: Task<String, any Error>] = [:]
        var challenges = 0
        var fetches = 0
    }

    /// What a token is fetched for.
    struct TokenKey: Hashable, Sendable {
        var realm: String
        var service: String?
        var scope: String?
    }

    init(credentials: Credentials?) { self.credentials = credentials }

    /// Challenges answered and tokens fetched so far.
    var counts: (challenges: Int, fetches: Int) { state.withLock { ($0.challenges, $0.fetches) } }

    /// What a request sends for its kind: a method class and the path up to the repository name, so a token
    /// learnt for `GET /v2/a/manifests/x` is sent with `HEAD /v2/a/blobs/y` but not with a push to `a`.
    /// Scans UTF-8 bytes: with Foundation's `range(of:options:)` this cost the client about 25 µs of CPU a request,
    /// which on a two-core machine shared with the registry made head-blob look 20 % slower.
    static func kind(_ method: HTTPMethod, _ url: String) -> String {
        let verb = switch method {
        case .GET, .HEAD: "pull "
        case .DELETE: "delete "
        default: "push "
        }
        var url = url
        return url.withUTF8 { bytes in
            let slash = UInt8(ascii: "/")
            var start = 0, end = bytes.count
            for i in 0..<bytes.count {
                if bytes[i] == UInt8(ascii: "?") { end = i; break }
            }
            // The path starts at "/v2/" (after scheme and host for an absolute Location).
            if end >= 4 {
                for i in 0...(end - 4) where bytes[i] == slash && bytes[i + 1] == UInt8(ascii: "v")
                    && bytes[i + 2] == UInt8(ascii: "2") && bytes[i + 3] == slash {
                    start = i
                    break
                }
            }
            // The repository ends at the last "/manifests/", "/blobs/", "/tags/" or "/referrers/".
            var cut = end
            var i = end - 1
            search: while i > start {
                if bytes[i] == slash {
                    for marker in markers where i + marker.count < end {
                        if zip(marker, bytes[(i + 1)...]).allSatisfy({ $0 == $1 }) { cut = i; break search }
                    }
                }
                i -= 1
            }
            return verb + String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<cut]), as: UTF8.self)
        }
    }

    private static let markers: [[UInt8]] = ["manifests/", "blobs/", "tags/", "referrers/"].map { Array($0.utf8) }

    /// The `Authorization` value to send with a request of this kind, if any was learnt.
    func authorization(kind: @autoclosure () -> String) -> String? {
        guard active.load(ordering: .relaxed) else { return nil }
        let kind = kind()
        return state.withLock { state in
            if let key = state.kinds[kind], let token = state.tokens[key] { return token }
            return state.basic ? credentials?.basic : nil
        }
    }

    /// Answers a 401's challenge: the `Authorization` value to retry with, or nil when it cannot be answered
    /// (no credentials for Basic, an unknown scheme). `rejected` is what the refused request carried.
    func answer(_ header: String, kind: String, rejected: String?, http: HTTPClient) async throws -> String? {
        guard let challenge = Challenge.parse(header) else { return nil }
        active.store(true, ordering: .relaxed)
        switch challenge.scheme {
        case "basic":
            guard let credentials, rejected != credentials.basic else { return nil }
            state.withLock { $0.basic = true; $0.challenges += 1 }
            return credentials.basic
        case "bearer":
            guard let realm = challenge.parameters["realm"] else { return nil }
            let service = challenge.parameters["service"], scope = challenge.parameters["scope"]
            enum Next { case cached(String), wait(Task<String, any Error>) }
            let next: Next = state.withLock { state in
                state.challenges += 1
                // A challenge without a scope (Berth's `invalid_token` for an expired token) is for the scope this
                // kind of request was challenged for before, if any.
                let key = scope == nil ? state.kinds[kind] ?? TokenKey(realm: realm, service: service, scope: nil)
                    : TokenKey(realm: realm, service: service, scope: scope)
                state.kinds[kind] = key
                if let running = state.fetching[key] { return .wait(running) }
                if let cached = state.tokens[key], cached != rejected { return .cached(cached) }
                state.fetches += 1
                let fetch = Task { [credentials] in
                    do {
                        let token = try await Self.fetchToken(key, credentials: credentials, http: http)
                        self.state.withLock { $0.tokens[key] = token; $0.fetching[key] = nil }
                        return token
                    } catch {
                        self.state.withLock { _ = $0.fetching.removeValue(forKey: key) }
                        throw error
                    }
                }
                state.fetching[key] = fetch
                return .wait(fetch)
            }
            switch next {
            case .cached(let token): return token
            case .wait(let task): return try await task.value
            }
        default:
            return nil
        }
    }

    /// `GET <realm>?service=…&scope=…` with Basic credentials; returns `Bearer <token>`.
    static func fetchToken(_ key: TokenKey, credentials: Credentials?, http: HTTPClient) async throws -> String {
        let (realm, service, scope) = (key.realm, key.service, key.scope)
        guard var components = URLComponents(string: realm),
              let host = components.host, ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host) else {
            throw BenchClient.Failure(description: "token realm is not on loopback: \(realm)")
        }
        var query = components.queryItems ?? []
        if let service { query.append(URLQueryItem(name: "service", value: service)) }
        if let scope { query.append(URLQueryItem(name: "scope", value: scope)) }
        components.queryItems = query.isEmpty ? nil : query
        guard let url = components.url?.absoluteString else { throw BenchClient.Failure(description: "bad realm \(realm)") }
        var request = HTTPClientRequest(url: url)
        if let credentials { request.headers.add(name: "Authorization", value: credentials.basic) }
        let response = try await http.execute(request, timeout: .seconds(60))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok else {
            throw BenchClient.Failure(description: "token from \(realm) for \(scope ?? "no scope"): \(response.status.code)")
        }
        guard let object = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
              let token = (object["token"] as? String) ?? (object["access_token"] as? String), !token.isEmpty else {
            throw BenchClient.Failure(description: "token answer from \(realm) without a token")
        }
        return "Bearer " + token
    }
}

extension BenchClient {
    /// Executes a request, logging in on a 401 challenge and retrying once with what the challenge asked for.
    /// A 401 that cannot be answered comes back as it is, body unread.
    func execute(_ request: HTTPClientRequest, timeout: TimeAmount = .seconds(120)) async throws -> HTTPClientResponse {
        var request = request
        let method = request.method, url = request.url
        let sent = auth.authorization(kind: Authenticator.kind(method, url))
        if let sent { request.headers.replaceOrAdd(name: "Authorization", value: sent) }
        let response = try await http.execute(request, timeout: timeout)
        guard response.status == .unauthorized else { return response }
        let challenges = response.headers["WWW-Authenticate"]
        let header = challenges.first { $0.lowercased().hasPrefix("bearer") }
            ?? challenges.first { $0.lowercased().hasPrefix("basic") && auth.credentials != nil }
        guard let header else { return response }
        for try await _ in response.body {}
        guard let answer = try await auth.answer(header, kind: Authenticator.kind(method, url), rejected: sent, http: http) else {
            throw Failure(description: "\(method) \(url): 401, challenge not answered: \(header)")
        }
        request.headers.replaceOrAdd(name: "Authorization", value: answer)
        return try await http.execute(request, timeout: timeout)
    }
}
