//! `citadel doctor` through the binary: a healthy home, then each problem it must name with its
//! fix: loose key modes, tokens about to expire, a tampered audit chain.

use std::os::unix::fs::PermissionsExt;

use serde_json::Value;

use super::harness::*;

fn doctor(home: &TestHome) -> (Option<i32>, Value) {
    let out = home.admin().args(["doctor", "--json"]).output().unwrap();
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("no JSON report: {}", stderr(&out)));
    (out.status.code(), report)
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {report}"))
}

/// Whether the tests run as root (in which case that check fails, rightly).
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

#[test]
fn a_healthy_home_passes_and_each_problem_is_named_with_its_fix() {
    let home = TestHome::init();
    let (code, report) = doctor(&home);
    let root = check(&report, "not running as root");
    assert_eq!(
        root["status"],
        if running_as_root() { "fail" } else { "ok" }
    );
    assert_eq!(code, Some(if running_as_root() { 1 } else { 0 }));
    for name in [
        "key-encryption key file",
        "credentials file",
        "audit chain",
        "key rotation",
    ] {
        assert_eq!(check(&report, name)["status"], "ok", "{name}: {report}");
    }

    home.admin_ok(&["principal", "create", "user", "bob"]);
    home.admin_ok(&[
        "token",
        "create",
        "--principal",
        "bob",
        "--ttl",
        "3d",
        "--quiet",
    ]);
    let (_, report) = doctor(&home);
    let tokens = check(&report, "tokens near expiry");
    assert_eq!(tokens["status"], "warn", "{report}");
    assert!(tokens["fix"].as_str().unwrap().contains("token create"));

    let kek = home.path("keys/kek.key");
    std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, report) = doctor(&home);
    assert_eq!(code, Some(1));
    let key = check(&report, "key-encryption key file");
    assert_eq!(key["status"], "fail");
    assert!(key["fix"].as_str().unwrap().contains("chmod 600"));
    std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(0o600)).unwrap();

    sql(
        &home,
        &["UPDATE audit_events SET action = 'forged' WHERE seq = 2"],
    );
    let (code, report) = doctor(&home);
    assert_eq!(code, Some(1));
    assert_eq!(check(&report, "audit chain")["status"], "fail", "{report}");
}
