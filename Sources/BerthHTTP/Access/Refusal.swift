import BerthAuth
import BerthWire
import Hummingbird

/// A request refused before it reached the registry: an error body with the headers that tell the client
/// what to do (a `WWW-Authenticate` challenge, `Retry-After`).
struct Refusal: Error {
    var error: APIError
    var headers: HTTPFields

    init(_ error: APIError, headers: HTTPFields = [:]) {
        self.error = error
        self.headers = headers
    }

    static func unauthorized(_ message: String, challenge: String) -> Refusal {
        Refusal(APIError(.unauthorized, status: 401, message), headers: [.wwwAuthenticate: challenge])
    }

    static func denied(_ message: String) -> Refusal {
        Refusal(APIError(.denied, status: 403, message))
    }

    static func throttled(_ seconds: Int) -> Refusal {
        Refusal(APIError(.tooManyRequests, status: 429, "too many failed logins; retry in \(seconds) s"),
                headers: [.retryAfter: String(seconds)])
    }

    /// Access errors of administration and logins, as the API answers them.
    static func from(_ error: AccessError, challenge: String) -> Refusal {
        switch error {
        case .unauthenticated(let message): .unauthorized(message, challenge: challenge)
        case .denied(let message): .denied(message)
        case .throttled(let seconds): .throttled(seconds)
        case .invalid(let message): Refusal(APIError(.invalid, status: 400, message))
        case .notFound(let message): Refusal(APIError(.notFound, status: 404, message))
        case .conflict(let message): Refusal(APIError(.conflict, status: 409, message))
        }
    }
}
