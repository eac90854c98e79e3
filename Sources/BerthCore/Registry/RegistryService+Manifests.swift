import Foundation

/// The outcome of a manifest push.
public struct PushedManifest: Sendable {
    public var digest: Digest
    public var subject: Digest?
    public var tags: [String]
}

extension RegistryService {
    /// Validates and stores a manifest pushed to `reference`, tagging it with the reference's tag (if any)
    /// and `extraTags`.
    public func putManifest(_ body: Data, contentType: String?, reference: ManifestReference,
                            extraTags: [String], in repository: RepositoryName,
                            by caller: Caller) async throws -> PushedManifest {
        guard body.count <= options.manifestMaxBytes else {
            throw RegistryError(.manifestTooLarge, "manifest exceeds \(options.manifestMaxBytes) bytes")
        }
        let digest: Digest
        var tags = extraTags
        switch reference {
        case .digest(let expected):
            digest = Digest.of(body, algorithm: expected.algorithm)
            guard digest == expected else {
                throw RegistryError(.digestInvalid, "manifest digest does not match its content")
            }
        case .tag(let tag):
            digest = Digest.of(body)
            tags.insert(tag, at: 0)
        }
        for tag in tags where !Tag.isValid(tag) {
            throw RegistryError(.manifestInvalid, "invalid tag \(tag.prefix(130))")
        }
        let parsed = try ManifestParser.parse(body, contentType: contentType)
        var seen = Set<String>()
        tags = tags.filter { seen.insert($0).inserted }
        let record = ManifestRecord(
            repository: repository, digest: digest, mediaType: parsed.mediaType, content: body,
            artifactType: parsed.artifactType, subject: parsed.subject, annotations: parsed.annotations,
            blobs: parsed.blobs, children: parsed.children, pushedAt: Date(),
            pushedBy: caller.name)
        // The last place a push can be refused for its quota: a namespace over it (a quota lowered, pushes
        // that raced) takes no new manifest, while the same manifest pushed again (adding nothing) is accepted.
        if let quota = try await quota(for: repository) {
            let stored = try await metadata.manifest(.digest(digest), in: repository) != nil
            try await enforce(quota, on: repository, adding: stored ? 0 : Int64(body.count))
        }
        // The store checks the references in the transaction that writes the manifest, so a concurrent
        // delete cannot leave it pointing at nothing.
        let rule = tags.isEmpty ? nil : try await immutability(of: repository)
        do {
            try await metadata.putManifest(record, tags: tags, protected: { rule?.rule.protects($0) ?? false })
        } catch StorageError.protectedTag(let tag) {
            throw Self.immutableTag(tag, rule, pushing: true)
        } catch StorageError.missingReferences(let blobs, let manifests) {
            if let missing = blobs.first {
                throw RegistryError(.manifestBlobUnknown, "blob unknown to registry: \(missing)")
            }
            throw RegistryError(.manifestBlobUnknown, "manifest unknown to registry: \(manifests.first.map(\.description) ?? "")")
        }
        audit.record(AuditEvent(caller, "push", "\(repository)@\(digest)",
                                detail: tags.isEmpty ? nil : "tags: " + tags.joined(separator: ",")))
        return PushedManifest(digest: digest, subject: parsed.subject, tags: tags)
    }

    /// A manifest; `pulling`: a client GETs it, which lifecycle rules (`sinceImagePulled`) and usage count.
    public func manifest(_ reference: ManifestReference, in repository: RepositoryName,
                         pulling: Bool = false) async throws -> ManifestRecord {
        guard let record = try await metadata.manifest(reference, in: repository) else {
            throw RegistryError(.manifestUnknown, "manifest unknown to registry")
        }
        if pulling { pulls.note(record.digest, in: repository) }
        return record
    }

    /// Writes the manifest pulls noted since the last flush (see `PullLog`).
    public func flushPulls() async throws {
        try await pulls.flush(to: metadata)
    }

    /// Deleting by digest removes the manifest and its tags; deleting by tag removes only the tag.
    public func deleteManifest(_ reference: ManifestReference, in repository: RepositoryName,
                               by caller: Caller) async throws {
        let deleted: Bool
        let rule = try await immutability(of: repository)
        switch reference {
        case .digest(let digest):
            do {
                deleted = try await metadata.deleteManifest(digest, in: repository, protected: { rule?.rule.protects($0) ?? false })
            } catch StorageError.protectedTag(let tag) {
                throw Self.immutableTag(tag, rule, pushing: false)
            }
        case .tag(let tag):
            if rule?.rule.protects(tag) == true { throw Self.immutableTag(tag, rule, pushing: false) }
            deleted = try await metadata.deleteTag(tag, in: repository)
        }
        guard deleted else { throw RegistryError(.manifestUnknown, "manifest unknown to registry") }
        audit.record(AuditEvent(caller, "delete", "\(repository)\(reference.isDigest ? "@" : ":")\(reference)"))
    }
}
