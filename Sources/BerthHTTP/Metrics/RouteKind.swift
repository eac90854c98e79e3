import Hummingbird

/// What a request asks for, as a metric label: the resource its path names and its method (`manifest_get`,
/// `blob_head`, `upload_patch`), never the path itself, so the number of series stays bounded whatever
/// names, digests and session ids clients send.
struct RouteKind: Hashable, Sendable {
    enum Resource: UInt8, Sendable {
        case base, catalog, tags, manifest, blob, upload, referrers
        /// Under `/v2` but no route of the API (answered 404).
        case v2Unknown
        case token, admin, healthz, metrics
        /// Anything else (scanners, typos): answered 404.
        case other

        var name: String {
            switch self {
            case .base: "base"
            case .catalog: "catalog"
            case .tags: "tags"
            case .manifest: "manifest"
            case .blob: "blob"
            case .upload: "upload"
            case .referrers: "referrers"
            case .v2Unknown: "v2_unknown"
            case .token: "token"
            case .admin: "admin"
            case .healthz: "healthz"
            case .metrics: "metrics"
            case .other: "other"
            }
        }
    }

    enum Verb: UInt8, Sendable {
        case get, head, put, post, patch, delete, other

        init(_ method: HTTPRequest.Method) {
            self = switch method {
            case .get: .get
            case .head: .head
            case .put: .put
            case .post: .post
            case .patch: .patch
            case .delete: .delete
            default: .other
            }
        }

        var name: String {
            switch self {
            case .get: "get"
            case .head: "head"
            case .put: "put"
            case .post: "post"
            case .patch: "patch"
            case .delete: "delete"
            case .other: "other"
            }
        }
    }

    let resource: Resource
    let verb: Verb

    /// The label value, built only when a new series is made.
    var label: String { resource.name + "_" + verb.name }

    init(resource: Resource, verb: Verb) {
        self.resource = resource
        self.verb = verb
    }

    init(method: HTTPRequest.Method, path: String) {
        self.init(resource: Self.resource(path), verb: Verb(method))
    }

    static func resource(_ path: String) -> Resource {
        if path.hasPrefix("/v2") {
            let rest = Substring(path).dropFirst(3)
            if rest.isEmpty || rest == "/" { return .base }
            return rest.first == "/" ? registryResource(rest.dropFirst()) : .other
        }
        if path == "/healthz" { return .healthz }
        if path == "/metrics" { return .metrics }
        if path.hasPrefix("/auth/token") { return .token }
        if path.hasPrefix("/api/v1/") || path == "/api/v1" { return .admin }
        return .other
    }

    /// The same recognition as `RegistryRoute.parse` (from the path's end, since names have any number of
    /// components) but without validating or decoding anything: the metrics middleware runs on every
    /// request, ahead of the API, and must not allocate. A path with an invalid name still counts under its
    /// route kind (answered 400 `NAME_INVALID`).
    static func registryResource(_ full: Substring) -> Resource {
        if full == "_catalog" { return .catalog }
        guard let (head, last) = splitLast(full), let (name, keyword) = splitLast(head) else { return .v2Unknown }
        switch keyword {
        case "tags" where last == "list": return .tags
        case "manifests": return .manifest
        case "blobs": return last == "uploads" ? .upload : .blob
        case "referrers": return .referrers
        case "uploads":
            guard let (_, blobs) = splitLast(name), blobs == "blobs" else { return .v2Unknown }
            return .upload
        default: return .v2Unknown
        }
    }

    private static func splitLast(_ s: Substring) -> (Substring, Substring)? {
        guard let slash = s.utf8.lastIndex(of: UInt8(ascii: "/")) else { return nil }
        return (s[..<slash], s[s.utf8.index(after: slash)...])
    }
}
