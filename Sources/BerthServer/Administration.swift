import BerthAuth
import BerthCore
import BerthFilesystem
import Foundation
import Logging

/// The CLI's access to an installation's store, working directly on its database (safe while a server runs:
/// SQLite serializes writers, and servers reload within a second).
public struct Administration: Sendable {
    public let access: AccessControl
    public let root: String
    /// Tag immutability rules, in the same database.
    public let rules: TagRules
    /// Lifecycle policies, in the same database.
    public let lifecycle: Lifecycle
    /// Namespace quotas and usage reports, in the same database.
    public let quotas: Quotas
    public let usage: UsageReports
    let keysFolder: String
    let audit: AuditLog
    let close: @Sendable () async -> Void

    public static func open(_ configuration: Configuration) async throws -> Administration {
        let (root, logger) = try prepare(configuration, logLevel: .warning)
        let (store, close, _) = try await Drivers.openMetadata(configuration, root: root, logger: logger)
        let audit = AuditLog(store: store) { _ in }
        var settings = AccessSettings()
        settings.htpasswdPath = configuration.auth.htpasswd
        settings.htpasswdAdmins = Set(configuration.auth.admins)
        let access = try await AccessControl(store: store, settings: settings, audit: audit, logger: logger)
        return Administration(access: access, root: root, rules: TagRules(store: store, audit: audit),
                              lifecycle: Lifecycle(store: store, audit: audit), quotas: Quotas(store: store, audit: audit),
                              usage: UsageReports(store: store), keysFolder: Security.keysFolder(configuration, root: root),
                              audit: audit, close: close)
    }

    /// Stores the audit records of what the command did.
    public func finish() async throws {
        do {
            try await audit.flush()
        } catch {
            await close()
            throw error
        }
        await close()
    }

    /// Opens the configured metadata store, which brings its schema up to date, and closes it again.
    /// Returns what it opened.
    public static func migrate(_ configuration: Configuration) async throws -> String {
        let (root, logger) = try prepare(configuration, logLevel: .info)
        let (_, close, summary) = try await Drivers.openMetadata(configuration, root: root, logger: logger)
        await close()
        return summary
    }

    /// Adds a token signing key; returns its kid.
    public func rotateKey() throws -> String {
        try SigningKeys.rotate(folder: keysFolder)
    }

    /// The installation's root, made if missing, and a logger at `logLevel`.
    private static func prepare(_ configuration: Configuration, logLevel: Logger.Level) throws -> (String, Logger) {
        let root = URL(fileURLWithPath: configuration.root).standardizedFileURL.path
        try DurableFolders.make(root, durable: configuration.fsync)
        var logger = Logger(label: "berth")
        logger.logLevel = logLevel
        return (root, logger)
    }
}
