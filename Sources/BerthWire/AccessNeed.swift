import BerthCore

/// What a registry request needs from its caller.
public enum AccessNeed: Equatable, Sendable {
    /// `GET /v2/`: only that the caller authenticated (clients probe it to learn how to log in).
    case login
    /// The catalog: anyone, with the list filtered to what the caller may pull.
    case catalog
    /// These actions on a repository.
    case repository(RepositoryName, [Action])
}

extension RegistryRoute {
    /// The access a method on this route needs. Upload requests need pull and push, as Docker's clients ask.
    public func need(method: String) -> AccessNeed {
        switch self {
        case .base: return .login
        case .catalog: return .catalog
        case .tags(let name), .referrers(let name, _): return .repository(name, [.pull])
        case .manifest(let name, _), .blob(let name, _):
            switch method {
            case "GET", "HEAD": return .repository(name, [.pull])
            case "DELETE": return .repository(name, [.delete])
            default: return .repository(name, [.pull, .push])
            }
        case .uploads(let name), .upload(let name, _): return .repository(name, [.pull, .push])
        }
    }
}
