import Foundation

/// One audit record: who did what, when, from where, and how it ended.
public struct AuditEvent: Sendable, Codable, Equatable {
    /// Assigned by the store; nil until stored.
    public var id: Int64?
    public var at: Date
    public var actor: String
    public var tokenID: String?
    public var action: String
    public var target: String
    public var address: String?
    /// `ok`, `denied` or `failed`.
    public var outcome: String
    public var detail: String?

    public init(id: Int64? = nil, at: Date = Date(), actor: String, tokenID: String? = nil, action: String,
                target: String, address: String?, outcome: String = "ok", detail: String? = nil) {
        self.id = id
        self.at = at
        self.actor = actor
        self.tokenID = tokenID
        self.action = action
        self.target = target
        self.address = address
        self.outcome = outcome
        self.detail = detail
    }

    public init(_ caller: Caller, _ action: String, _ target: String, outcome: String = "ok", detail: String? = nil) {
        self.init(actor: caller.name, tokenID: caller.tokenID, action: action, target: target,
                  address: caller.address, outcome: outcome, detail: detail)
    }
}

/// Where audit records go. Recording never blocks or fails the request that caused it.
public protocol AuditRecorder: Sendable {
    func record(_ event: AuditEvent)
}

/// Keeps no record: for set-ups and tests without an audit log.
public struct NoAudit: AuditRecorder {
    public init() {}
    public func record(_ event: AuditEvent) {}
}
