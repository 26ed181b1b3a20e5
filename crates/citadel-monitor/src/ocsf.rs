//! Audit events as OCSF 1.3 events for SIEMs, one JSON object per event.
//!
//! Each action maps to the class that fits it best:
//!
//! | actions | class |
//! | --- | --- |
//! | `auth.*` | Authentication (3002), activity Logon |
//! | `principal.*`, `group.*`, `token.*`, `grant.*`, `oauth.client.*` | Account Change (3001) |
//! | create, update and delete of a securable (`catalog.create`, `model.register`, `endpoint.delete`, …) | Entity Management (3004) |
//! | everything else (reads, exports, invocations, runs, …) | API Activity (6003) |
//!
//! Every event carries the base attributes (`category_uid`, `class_uid`, `activity_id`,
//! `type_uid`, `severity_id`, `status_id`, `time` in epoch milliseconds, `metadata` with the
//! product, the schema version, `uid` and `sequence` = the event's `seq`), the actor as
//! `actor.user` (and `user` for Authentication), `src_endpoint.ip` when the event recorded the
//! caller's address (`params.client_addr`), and Citadel's own fields that OCSF has no place for
//! under `unmapped` — among them `seq`, `hash` and `prev_hash`, which tie a SIEM record to the
//! verifiable JSONL export. Severity: success 1 (informational), failure 2 (low), denial 3
//! (medium).

use citadel_audit::{AuditEvent, Outcome};
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The OCSF schema version the events follow.
pub const OCSF_VERSION: &str = "1.3.0";

/// An OCSF class and the activity within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Class {
    class_uid: u32,
    class_name: &'static str,
    category_uid: u32,
    category_name: &'static str,
    activity_id: u32,
    activity_name: &'static str,
}

const IAM: (u32, &str) = (3, "Identity & Access Management");
const APPLICATION: (u32, &str) = (6, "Application Activity");

/// Nouns of actions that change accounts, their credentials or their privileges.
const ACCOUNT_NOUNS: &[&str] = &["principal", "group", "token", "grant", "oauth.client"];
/// Nouns of actions on securables (and their parts) that Entity Management describes.
const ENTITY_NOUNS: &[&str] = &[
    "catalog",
    "schema",
    "dataset",
    "model",
    "model.alias",
    "endpoint",
    "secret",
    "secret_scope",
    "artifact",
];

/// The action's noun (everything before the last dot) and verb (after it).
fn noun_and_verb(action: &str) -> (&str, &str) {
    action.rsplit_once('.').unwrap_or(("", action))
}

fn account_change(verb: &str) -> (u32, &'static str) {
    match verb {
        "create" => (1, "Create"),
        "enable" => (2, "Enable"),
        "disable" => (5, "Disable"),
        "delete" | "revoke" | "remove" => (6, "Delete"),
        "add_member" => (7, "Attach Policy"),
        "remove_member" => (8, "Detach Policy"),
        _ => (99, "Other"),
    }
}

/// Entity Management's activity for `verb`, `None` when the verb changes nothing.
fn entity_change(verb: &str) -> Option<(u32, &'static str)> {
    match verb {
        "create" | "register" | "import" | "pull" | "put" | "ingest" | "set" => Some((1, "Create")),
        "update" | "rollback" | "approve" | "reject" | "promote" | "tag" | "rotate"
        | "anonymize" | "retention" | "rules" => Some((3, "Update")),
        "delete" | "erase" | "gc" | "remove" => Some((4, "Delete")),
        _ => None,
    }
}

/// API Activity's activity for `verb`: 1 Create, 2 Read, 3 Update, 4 Delete, 99 Other.
fn api_activity(verb: &str) -> (u32, &'static str) {
    match verb {
        "create" | "add" | "init" | "register" | "write" | "issue" | "start" | "put" => {
            (1, "Create")
        }
        "read" | "get" | "list" | "show" | "query" | "export" | "verify" | "download" | "scan"
        | "status" | "report" | "decrypt" => (2, "Read"),
        "update" | "set" | "rotate" | "approve" | "enable" | "disable" | "resume" | "finish" => {
            (3, "Update")
        }
        "delete" | "remove" | "revoke" | "drop" => (4, "Delete"),
        _ => (99, "Other"),
    }
}

fn class_of(action: &str) -> Class {
    let (noun, verb) = noun_and_verb(action);
    let class = |(class_uid, class_name), (category_uid, category_name), (id, name)| Class {
        class_uid,
        class_name,
        category_uid,
        category_name,
        activity_id: id,
        activity_name: name,
    };
    if noun == "auth" {
        return class((3002, "Authentication"), IAM, (1, "Logon"));
    }
    if ACCOUNT_NOUNS.contains(&noun) {
        return class((3001, "Account Change"), IAM, account_change(verb));
    }
    if ENTITY_NOUNS.contains(&noun) {
        if let Some(activity) = entity_change(verb) {
            return class((3004, "Entity Management"), IAM, activity);
        }
    }
    class((6003, "API Activity"), APPLICATION, api_activity(verb))
}

/// Epoch milliseconds of an RFC 3339 time; `None` if it does not parse.
fn epoch_millis(rfc3339: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(rfc3339, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// `kind:catalog.schema.name` as OCSF's `{type, name}`.
fn securable_object(securable: &str) -> Value {
    match securable.split_once(':') {
        Some((kind, name)) => json!({ "type": kind, "name": name }),
        None => json!({ "name": securable }),
    }
}

/// The principal an account change is about, as the action's parameters name it: `name` for
/// `principal.*`, `member` for group membership, `principal` for tokens, grants and OAuth
/// clients.
fn changed_account(params: &Value) -> Option<Value> {
    ["name", "member", "principal"]
        .iter()
        .find_map(|key| params.get(*key).and_then(Value::as_str))
        .map(|name| json!({ "name": name }))
}

/// The OCSF form of `event` (see the module documentation).
pub fn from_audit_event(event: &AuditEvent) -> Value {
    let class = class_of(&event.action);
    let (status_id, status, severity_id, severity) = match event.outcome {
        Outcome::Success => (1, "Success", 1, "Informational"),
        Outcome::Failed => (2, "Failure", 2, "Low"),
        Outcome::Denied => (2, "Failure", 3, "Medium"),
    };
    let user = json!({ "uid": event.actor_id, "name": event.actor_name, "type_id": 99 });
    let mut ocsf = Map::new();
    let mut put = |key: &str, value: Value| {
        ocsf.insert(key.to_owned(), value);
    };
    put("category_uid", json!(class.category_uid));
    put("category_name", json!(class.category_name));
    put("class_uid", json!(class.class_uid));
    put("class_name", json!(class.class_name));
    put("activity_id", json!(class.activity_id));
    put("activity_name", json!(class.activity_name));
    put("type_uid", json!(class.class_uid * 100 + class.activity_id));
    put("severity_id", json!(severity_id));
    put("severity", json!(severity));
    put("status_id", json!(status_id));
    put("status", json!(status));
    put("time", json!(epoch_millis(&event.time)));
    put("message", json!(event.action));
    put(
        "metadata",
        json!({
            "version": OCSF_VERSION,
            "product": {
                "name": "Citadel",
                "vendor_name": "Citadel",
                "version": env!("CARGO_PKG_VERSION"),
                "feature": { "name": "audit" },
            },
            "uid": event.seq.to_string(),
            "sequence": event.seq,
            "correlation_uid": event.request_id,
            "log_name": "citadel-audit",
            "original_time": event.time,
        }),
    );
    put("actor", json!({ "user": user }));
    if let Some(reason) = &event.reason {
        put("status_detail", json!(reason));
    }
    if let Some(ip) = event.params.get("client_addr").and_then(Value::as_str) {
        put("src_endpoint", json!({ "ip": ip }));
    }
    let target = event.securable.as_deref().map(securable_object);
    match class.class_uid {
        3002 => {
            put("user", user);
            put("auth_protocol_id", json!(99));
            put("auth_protocol", json!("Citadel token"));
        }
        3001 => {
            if let Some(account) = changed_account(&event.params).or(target) {
                put("user", account);
            }
        }
        3004 => {
            if let Some(target) = &target {
                put("entity", target.clone());
            }
        }
        _ => {
            put(
                "api",
                json!({
                    "operation": event.action,
                    "request": { "uid": event.request_id },
                    "service": { "name": "citadel" },
                }),
            );
            if let Some(target) = &target {
                put("resources", json!([target]));
            }
        }
    }
    put(
        "unmapped",
        json!({
            "seq": event.seq,
            "hash": event.hash,
            "prev_hash": event.prev_hash,
            "outcome": event.outcome.as_str(),
            "securable": event.securable,
            "params": event.params,
        }),
    );
    Value::Object(ocsf)
}

#[cfg(test)]
mod tests {
    use citadel_audit::{Actor, EventDraft, GENESIS_HASH};

    use super::*;

    const TIME: &str = "2026-12-01T10:00:00.000250Z";

    fn sealed(draft: EventDraft) -> AuditEvent {
        let time = OffsetDateTime::parse(TIME, &Rfc3339).unwrap();
        draft.seal(7, GENESIS_HASH, time).unwrap()
    }

    fn by_admin(action: &str) -> EventDraft {
        EventDraft::new(&Actor::principal("p-1", "admin"), "req-1", action)
    }

    /// The attributes OCSF requires of every class, and Citadel's metadata.
    fn assert_base(o: &Value, class_uid: u64, activity_id: u64) {
        assert_eq!(o["class_uid"], class_uid);
        assert_eq!(o["category_uid"], class_uid / 1000);
        assert_eq!(o["activity_id"], activity_id);
        assert_eq!(o["type_uid"], class_uid * 100 + activity_id);
        assert_eq!(o["time"], 1_796_119_200_000i64);
        assert_eq!(o["metadata"]["version"], OCSF_VERSION);
        assert_eq!(o["metadata"]["product"]["name"], "Citadel");
        assert_eq!(o["metadata"]["product"]["vendor_name"], "Citadel");
        assert_eq!(o["metadata"]["sequence"], 7);
        assert_eq!(o["metadata"]["correlation_uid"], "req-1");
        for field in ["severity_id", "status_id", "class_name", "activity_name"] {
            assert!(!o[field].is_null(), "{field} missing: {o}");
        }
        assert_eq!(o["unmapped"]["seq"], 7);
        assert_eq!(o["unmapped"]["prev_hash"], GENESIS_HASH);
    }

    #[test]
    fn reads_and_runs_are_api_activity() {
        let event = sealed(
            by_admin("endpoint.logs.read")
                .on("endpoint:prod.endpoints.bot")
                .with_params(json!({ "limit": 10 })),
        );
        let o = from_audit_event(&event);
        assert_base(&o, 6003, 2);
        assert_eq!(o["actor"]["user"]["name"], "admin");
        assert_eq!(o["actor"]["user"]["uid"], "p-1");
        assert_eq!(o["api"]["operation"], "endpoint.logs.read");
        assert_eq!(o["resources"][0]["type"], "endpoint");
        assert_eq!(o["resources"][0]["name"], "prod.endpoints.bot");
        assert_eq!(o["unmapped"]["params"]["limit"], 10);
        assert_eq!(o["unmapped"]["hash"], event.hash.as_str());
        assert_eq!(
            (o["status_id"].as_u64(), o["severity_id"].as_u64()),
            (Some(1), Some(1))
        );
        assert!(o.get("src_endpoint").is_none());
        assert_base(
            &from_audit_event(&sealed(by_admin("batch.predict"))),
            6003,
            99,
        );
    }

    #[test]
    fn a_refused_login_is_a_failed_authentication_with_its_address() {
        let event = sealed(
            EventDraft::new(&Actor::anonymous(), "req-1", "auth.authenticate")
                .with_params(json!({ "client_addr": "192.0.2.7" }))
                .denied("unknown token"),
        );
        let o = from_audit_event(&event);
        assert_base(&o, 3002, 1);
        assert_eq!(o["user"]["name"], "anonymous");
        assert_eq!(o["status_id"], 2);
        assert_eq!(o["severity_id"], 3);
        assert_eq!(o["status_detail"], "unknown token");
        assert_eq!(o["src_endpoint"]["ip"], "192.0.2.7");
    }

    #[test]
    fn accounts_grants_and_tokens_are_account_changes() {
        let o = from_audit_event(&sealed(
            by_admin("principal.create")
                .on("metastore:metastore")
                .with_params(json!({ "kind": "user", "name": "bob" })),
        ));
        assert_base(&o, 3001, 1);
        assert_eq!(o["user"]["name"], "bob");
        let o = from_audit_event(&sealed(
            by_admin("group.add_member").with_params(json!({ "group": "admins", "member": "eve" })),
        ));
        assert_eq!(o["user"]["name"], "eve");
        let o = from_audit_event(&sealed(
            by_admin("token.create").with_params(json!({ "principal": "svc" })),
        ));
        assert_eq!(o["user"]["name"], "svc");
        assert_base(
            &from_audit_event(&sealed(by_admin("token.revoke"))),
            3001,
            6,
        );
        assert_base(
            &from_audit_event(&sealed(by_admin("group.add_member"))),
            3001,
            7,
        );
        assert_base(
            &from_audit_event(&sealed(by_admin("grant.create"))),
            3001,
            1,
        );
        assert_base(
            &from_audit_event(&sealed(by_admin("oauth.client.create"))),
            3001,
            1,
        );
        let failed = from_audit_event(&sealed(by_admin("principal.create").failed("exists")));
        assert_eq!(
            (failed["status_id"].as_u64(), failed["severity_id"].as_u64()),
            (Some(2), Some(2))
        );
    }

    #[test]
    fn securable_changes_are_entity_management_and_their_reads_are_not() {
        let o = from_audit_event(&sealed(
            by_admin("model.register").on("model:prod.models.bot"),
        ));
        assert_base(&o, 3004, 1);
        assert_eq!(o["entity"]["type"], "model");
        assert_eq!(o["entity"]["name"], "prod.models.bot");
        assert_base(
            &from_audit_event(&sealed(by_admin("endpoint.update"))),
            3004,
            3,
        );
        assert_base(
            &from_audit_event(&sealed(by_admin("dataset.erase"))),
            3004,
            4,
        );
        assert_base(
            &from_audit_event(&sealed(by_admin("model.alias.set"))),
            3004,
            1,
        );
        assert_base(&from_audit_event(&sealed(by_admin("model.read"))), 6003, 2);
        assert_base(
            &from_audit_event(&sealed(by_admin("endpoint.invoke"))),
            6003,
            99,
        );
    }
}
