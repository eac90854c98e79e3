import Foundation

/// `Authorization: Basic base64(user:password)`.
public struct BasicCredentials: Sendable, Equatable {
    public var username: String
    public var password: String

    /// Empty user and password: what containers/image (podman, skopeo, buildah) send when it has no
    /// credentials (`Basic Og==`). An anonymous caller, not a failed login.
    public var isAnonymous: Bool { username.isEmpty && password.isEmpty }

    /// Nil when the header is not Basic or not well formed (no colon, not base64, not UTF-8).
    public static func parse(_ header: String?) -> BasicCredentials? {
        guard let header, header.count <= 8192, header.prefix(6).lowercased() == "basic " else { return nil }
        let encoded = header.dropFirst(6).trimmingCharacters(in: .whitespaces)
        guard let data = Data(base64Encoded: encoded), let text = String(data: data, encoding: .utf8),
              let colon = text.firstIndex(of: ":") else { return nil }
        return BasicCredentials(username: String(text[..<colon]), password: String(text[text.index(after: colon)...]))
    }
}
