// Fuzzes BerthWire.RegistryRoute.parse: the /v2 route parser. Input: a request path.
import BerthCore
import BerthFuzzSupport
import BerthWire

@main enum FuzzRoute {
    static func main() { FuzzDriver.run(harness) }

    static func harness(_ input: UnsafeRawBufferPointer) {
        let path = input.text
        let route: RegistryRoute?
        do {
            route = try RegistryRoute.parse(path)
        } catch {
            require(error.kind == .nameInvalid, "parse threw \(error) for \(path.debugDescription)")
            return
        }
        guard let route else { return }
        require(path.hasPrefix("/v2"), "route \(route) for \(path.debugDescription)")
        // Every route's name is valid, and the path the route stands for parses back to it.
        switch route {
        case .base:
            require(path == "/v2" || path == "/v2/", "base route for \(path.debugDescription)")
        case .catalog:
            require(path == "/v2/_catalog", "catalog route for \(path.debugDescription)")
        case .tags(let name):
            roundTrip(route, "/v2/\(valid(name))/tags/list", from: path)
        case .manifest(let name, let reference):
            if plain(reference) { roundTrip(route, "/v2/\(valid(name))/manifests/\(reference)", from: path) }
        case .blob(let name, let digest):
            // A percent-encoded "uploads" decodes to a blob route whose plain path is the uploads route.
            if plain(digest), digest != "uploads" { roundTrip(route, "/v2/\(valid(name))/blobs/\(digest)", from: path) }
        case .uploads(let name):
            roundTrip(route, "/v2/\(valid(name))/blobs/uploads", from: path)
            roundTrip(route, "/v2/\(valid(name))/blobs/uploads/", from: path)
        case .upload(let name, let id):
            require(!id.isEmpty, "empty upload id for \(path.debugDescription)")
            if plain(id) { roundTrip(route, "/v2/\(valid(name))/blobs/uploads/\(id)", from: path) }
        case .referrers(let name, let digest):
            if plain(digest) { roundTrip(route, "/v2/\(valid(name))/referrers/\(digest)", from: path) }
        }
    }

    /// A decoded component that can be put back in a path as it is.
    static func plain(_ component: String) -> Bool {
        !component.utf8.contains(UInt8(ascii: "/")) && !component.utf8.contains(UInt8(ascii: "%"))
    }

    static func valid(_ name: RepositoryName) -> String {
        require((try? RepositoryName(validating: name.value)) == name, "route has invalid name \(name.value.debugDescription)")
        return name.value
    }

    static func roundTrip(_ route: RegistryRoute, _ rebuilt: String, from path: String) {
        let again = try? RegistryRoute.parse(rebuilt)
        require(again == route, "\(path.debugDescription) -> \(route), but \(rebuilt.debugDescription) -> \(String(describing: again))")
    }
}
