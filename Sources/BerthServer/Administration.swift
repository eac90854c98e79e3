import BerthAuth
import BerthSQLite
import Foundation
import Logging

/// The CLI's access to an installation's store, working directly on its database (safe while a server runs:
/// SQLite serializes writers, and servers reload within a second).
public struct Administration: Sendable {
    public let access: AccessControl
    public let root: String
    let audit: AuditLog

    public static func open(_ configuration: Configuration) async throws -> Administration {
        let root = URL(fileURLWithPath: configuration.root).standardizedFileURL.path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let store = try SQLiteMetadataStore(path: root + "/metadata.db", synchronous: configuration.fsync)
        let audit = AuditLog(store: store) { _ in }
        var settings = AccessSettings()
        settings.htpasswdPath = configuration.auth.htpasswd
        settings.htpasswdAdmins = Set(configuration.auth.admins)
        var logger = Logger(label: "berth")
        logger.logLevel = .warning
        let access = try await AccessControl(store: store, settings: settings, audit: audit, logger: logger)
        return Administration(access: access, root: root, audit: audit)
    }

    /// Stores the audit records of what the command did.
    public func finish() async throws {
        try await audit.flush()
    }

    /// Adds a token signing key; returns its kid.
    public func rotateKey() throws -> String {
        try SigningKeys.rotate(folder: Security.keysFolder(root))
    }
}
