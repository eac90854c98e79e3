/// The manifest and layer media types the registry understands.
public enum MediaType {
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let ociEmpty = "application/vnd.oci.empty.v1+json"

    /// Layers that may legally be absent from the registry (foreign or non-distributable).
    public static func isNonDistributable(_ mediaType: String) -> Bool {
        mediaType.hasPrefix("application/vnd.oci.image.layer.nondistributable.")
            || mediaType.hasPrefix("application/vnd.docker.image.rootfs.foreign.")
    }

    /// The essence of a Content-Type header: the type without parameters, lowercased and trimmed.
    public static func essence(_ contentType: String) -> String {
        let base = contentType.split(separator: ";", maxSplits: 1).first ?? ""
        return base.trimmingCharacters(in: " \t").lowercased()
    }

    /// The manifest and index types Berth stores.
    public static func isManifest(_ mediaType: String) -> Bool {
        isImageManifest(mediaType) || isIndex(mediaType)
    }

    /// A Content-Type that names no particular manifest type.
    static func isGenericJSON(_ essence: String) -> Bool {
        essence.isEmpty || essence == "application/json"
    }

    public static func isIndex(_ mediaType: String) -> Bool {
        mediaType == ociIndex || mediaType == dockerManifestList
    }

    public static func isImageManifest(_ mediaType: String) -> Bool {
        mediaType == ociManifest || mediaType == dockerManifest
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}
