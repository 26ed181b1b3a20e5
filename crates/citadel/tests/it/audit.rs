//! `citadel audit verify` on an intact log and after direct SQL tampering; `audit export`.

use super::harness::*;

fn verify_json(home: &TestHome) -> (Option<i32>, serde_json::Value) {
    let output = home
        .admin()
        .args(["audit", "verify", "--json"])
        .output()
        .unwrap();
    (
        output.status.code(),
        serde_json::from_slice(&output.stdout).unwrap(),
    )
}

fn busy_home() -> TestHome {
    let home = TestHome::init();
    for name in ["u1", "u2", "u3", "u4"] {
        home.admin_ok(&["principal", "create", "user", name]);
    }
    home
}

#[test]
fn an_intact_log_verifies() {
    let home = busy_home();
    let (code, report) = verify_json(&home);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["intact"], true);
    assert!(
        report["checkpoints_verified"].as_u64().unwrap() >= 1,
        "{report}"
    );
}

#[test]
fn an_edited_event_is_named() {
    let home = busy_home();
    sql(
        &home,
        &["UPDATE audit_events SET actor_name = 'mallory' WHERE seq = 4"],
    );
    let (code, report) = verify_json(&home);
    assert_eq!(code, Some(EXIT_INTEGRITY));
    assert_eq!(report["failed_seq"], 4, "{report}");
}

#[test]
fn a_deleted_event_is_named() {
    let home = busy_home();
    sql(&home, &["DELETE FROM audit_events WHERE seq = 3"]);
    let (code, report) = verify_json(&home);
    assert_eq!(code, Some(EXIT_INTEGRITY));
    assert_eq!(report["failed_seq"], 3, "{report}");
}

#[test]
fn an_inserted_event_is_named() {
    let home = busy_home();
    sql(
        &home,
        &[
            "UPDATE audit_events SET seq = seq + 1000 WHERE seq >= 5",
            "UPDATE audit_events SET seq = seq - 999 WHERE seq >= 1005",
            "INSERT INTO audit_events (seq, time, actor_id, actor_name, action, securable, params, outcome, reason, request_id, prev_hash, hash) \
             SELECT 5, time, actor_id, 'mallory', 'grant.create', securable, params, outcome, reason, request_id, hash, hash FROM audit_events WHERE seq = 4",
            // Keep the head consistent, as a careful forger would, so Citadel can still append.
            "UPDATE audit_head SET seq = seq + 1",
        ],
    );
    let (code, report) = verify_json(&home);
    assert_eq!(code, Some(EXIT_INTEGRITY));
    assert_eq!(report["failed_seq"], 5, "{report}");
}

#[test]
fn reordered_events_are_named() {
    let home = busy_home();
    sql(
        &home,
        &[
            "UPDATE audit_events SET seq = -1 WHERE seq = 3",
            "UPDATE audit_events SET seq = 3 WHERE seq = 4",
            "UPDATE audit_events SET seq = 4 WHERE seq = -1",
        ],
    );
    let (code, report) = verify_json(&home);
    assert_eq!(code, Some(EXIT_INTEGRITY));
    assert_eq!(report["failed_seq"], 3, "{report}");
}

#[test]
fn a_chain_cut_after_the_last_checkpoint_is_caught() {
    let home = busy_home();
    // Every command signs a checkpoint at exit: cut the tail those checkpoints cover.
    sql(&home, &["DELETE FROM audit_events WHERE seq > 5"]);
    let (code, report) = verify_json(&home);
    assert_eq!(code, Some(EXIT_INTEGRITY), "{report}");
    assert_eq!(report["failed_seq"], 6, "{report}");
}

#[test]
fn export_carries_hashes_and_checkpoints() {
    let home = busy_home();
    let export = home.admin_ok(&["audit", "export", "--format", "jsonl"]);
    let lines: Vec<serde_json::Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["type"], "header");
    let key: serde_json::Value =
        serde_json::from_str(&home.admin_ok(&["audit", "public-key", "--json"])).unwrap();
    assert_eq!(lines[0]["public_key"], key["public_key"]);
    assert_eq!(lines[0]["key_id"], key["key_id"]);
    assert!(lines.iter().any(|l| l["type"] == "checkpoint"));
    assert!(lines
        .iter()
        .filter(|l| l["type"] == "event")
        .all(|l| l["hash"].as_str().unwrap().len() == 64));
    let ocsf = home.admin_ok(&["audit", "export", "--format", "ocsf"]);
    let first: serde_json::Value = serde_json::from_str(ocsf.lines().next().unwrap()).unwrap();
    assert!(first["class_uid"].is_number(), "{first}");
}
