import Foundation

/// Reading a whole metadata store in pages, in a stable order, to copy it elsewhere (`berth migrate-storage`).
/// Each page starts after the last item of the previous one, so a copy survives concurrent writes and resumes.
public protocol MetadataExport: Sendable {
    /// Stored blobs in digest order, after `last`.
    func exportBlobs(after last: Digest?, limit: Int) async throws -> [StoredBlob]
    /// Which repository may serve which blob, in (repository, digest) order, after `last`.
    func exportBlobLinks(after last: ExportKey?, limit: Int) async throws -> [BlobLink]
    /// Manifests with their tags, in (repository, digest) order, after `last`. The records carry what was
    /// stored (content, media type, push time and pusher); what is derived from the content is left empty.
    func exportManifests(after last: ExportKey?, limit: Int) async throws -> [ExportedManifest]
    /// Every repository policy (few: one per kind and scope).
    func exportPolicies() async throws -> [ExportedPolicy]
}

public struct ExportedPolicy: Sendable, Hashable {
    public var kind: String
    public var scope: String
    public var document: Data
    public var updatedBy: String

    public init(kind: String, scope: String, document: Data, updatedBy: String) {
        self.kind = kind
        self.scope = scope
        self.document = document
        self.updatedBy = updatedBy
    }
}

/// A position in an export: a repository and a digest.
public struct ExportKey: Sendable, Hashable {
    public var repository: String
    public var digest: String

    public init(repository: String, digest: String) {
        self.repository = repository
        self.digest = digest
    }
}

public struct StoredBlob: Sendable, Hashable {
    public var digest: Digest
    public var size: Int64

    public init(digest: Digest, size: Int64) {
        self.digest = digest
        self.size = size
    }
}

public struct BlobLink: Sendable, Hashable {
    public var repository: RepositoryName
    public var digest: Digest
    public var size: Int64
    /// Who pushed or mounted it.
    public var linkedBy: String

    public init(repository: RepositoryName, digest: Digest, size: Int64, linkedBy: String) {
        self.repository = repository
        self.digest = digest
        self.size = size
        self.linkedBy = linkedBy
    }

    public var key: ExportKey { ExportKey(repository: repository.value, digest: digest.description) }
}

public struct ExportedManifest: Sendable {
    public var record: ManifestRecord
    public var tags: [String]

    public init(record: ManifestRecord, tags: [String]) {
        self.record = record
        self.tags = tags
    }

    public var key: ExportKey { ExportKey(repository: record.repository.value, digest: record.digest.description) }
}
