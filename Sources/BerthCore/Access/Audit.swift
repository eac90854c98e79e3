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

    enum CodingKeys: String, CodingKey { case id, at, actor, tokenID = "token_id", action, target, address, outcome, detail }

    /// Every field, absent ones as null, so each record has the same shape.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(at, forKey: .at)
        try container.encode(actor, forKey: .actor)
        try container.encode(tokenID, forKey: .tokenID)
        try container.encode(action, forKey: .action)
        try container.encode(target, forKey: .target)
        try container.encode(address, forKey: .address)
        try container.encode(outcome, forKey: .outcome)
        try container.encode(detail, forKey: .detail)
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
