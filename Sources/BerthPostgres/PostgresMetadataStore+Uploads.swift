import BerthCore
import Foundation
import PostgresNIO

extension PostgresMetadataStore: UploadSessions {
    public func createUpload(_ id: UploadID, in repository: RepositoryName, by caller: String) async throws {
        let now = Self.now()
        try await query("""
            INSERT INTO uploads (id, repository, started_at, started_by, updated_at)
            VALUES (\(id.value), \(repository.value), \(now), \(caller), \(now))
            """)
    }

    public func uploadSession(_ id: UploadID) async throws -> UploadSession? {
        guard let row = try await query("SELECT repository, size, segments::text FROM uploads WHERE id = \(id.value)").first
        else { return nil }
        let (repository, size, segments) = try row.decode((String, Int64, String).self)
        return UploadSession(repository: try RepositoryName(validating: repository), size: size,
                             segments: try JSONDecoder().decode([UploadSegment].self, from: Data(segments.utf8)))
    }

    /// One statement: the compare-and-set on `size` is the row update itself, so of two instances advancing
    /// from the same size, the second's UPDATE waits for the first's row lock, then finds the size moved on.
    public func advanceUpload(_ id: UploadID, from size: Int64, adding segment: UploadSegment) async throws -> Bool {
        // A segment starting before `size` replaces the last one ('{-1}'); any other is appended.
        let replaces = segment.start < size
        return try await !query("""
            UPDATE uploads SET size = \(segment.end),
                segments = CASE WHEN \(replaces)
                    THEN jsonb_set(segments, '{-1}', jsonb_build_object(
                        'start', \(segment.start)::bigint, 'end', \(segment.end)::bigint, 'name', \(segment.name)::text))
                    ELSE segments || jsonb_build_array(jsonb_build_object(
                        'start', \(segment.start)::bigint, 'end', \(segment.end)::bigint, 'name', \(segment.name)::text)) END,
                updated_at = \(Self.now())
            WHERE id = \(id.value) AND size = \(size)
            RETURNING 1
            """).isEmpty
    }

    public func deleteUpload(_ id: UploadID) async throws {
        try await query("DELETE FROM uploads WHERE id = \(id.value)")
    }

    public func uploadIDs() async throws -> [UploadID] {
        try await query("SELECT id FROM uploads").compactMap { try? UploadID(validating: try $0.decode(String.self)) }
    }

    public func uploadIDs(idleSince cutoff: Date) async throws -> [UploadID] {
        try await query("SELECT id FROM uploads WHERE updated_at < \(Self.millis(cutoff))")
            .compactMap { try? UploadID(validating: try $0.decode(String.self)) }
    }
}
