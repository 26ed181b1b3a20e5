//! `citadel compliance report` on the quickstart's home: all three formats, the statuses the
//! quickstart earns, who may generate it, alerts failing the report until acknowledged, and a
//! report that notices a burst of failed logins and an artifact whose stored envelope was
//! overwritten.

use std::os::unix::fs::PermissionsExt as _;

use serde_json::Value;

use crate::harness::{files_under, run_fails, TestHome, EXIT_PERMISSION_DENIED};

/// The section ids, in the report's order.
const SECTIONS: [&str; 11] = [
    "encryption",
    "keys",
    "models",
    "approvals",
    "endpoints",
    "secret_reads",
    "authentication",
    "alerts",
    "datasets",
    "retention",
    "audit_log",
];

fn report(home: &TestHome) -> Value {
    serde_json::from_str(&home.admin_ok(&["compliance", "report", "--format", "json"])).unwrap()
}

fn section<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no section {id} in {report:#}"))
}

fn status<'a>(report: &'a Value, id: &str) -> &'a str {
    section(report, id)["status"].as_str().unwrap()
}

#[test]
fn the_quickstart_home_reports_in_every_format_and_notices_what_breaks() {
    let (home, _) = TestHome::quickstart(None);

    let json = report(&home);
    assert_eq!(json["schema_version"], 1);
    let ids: Vec<&str> = json["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, SECTIONS);
    for id in SECTIONS {
        let s = section(&json, id);
        assert!(!s["findings"].as_array().unwrap().is_empty(), "{id}");
        assert!(
            !s["controls"]["soc2"].as_array().unwrap().is_empty(),
            "{id}"
        );
    }
    for id in [
        "encryption",
        "keys",
        "models",
        "approvals",
        "endpoints",
        "audit_log",
    ] {
        assert_eq!(status(&json, id), "pass", "{id}: {:#}", section(&json, id));
    }
    let endpoints = &section(&json, "endpoints")["findings"][0];
    assert_eq!(endpoints["subject"], "prod.endpoints.assistant");
    assert!(endpoints["finding"]
        .as_str()
        .unwrap()
        .contains("approved, signed versions"));
    // The quickstart reads its vaulted hub token and refuses an anonymous call.
    assert_eq!(status(&json, "secret_reads"), "pass");
    assert_eq!(status(&json, "authentication"), "attention");
    assert_eq!(status(&json, "retention"), "attention");
    assert!(!json["charts"]["traffic"]["points"]
        .as_array()
        .unwrap()
        .is_empty());

    let markdown = home.admin_ok(&["compliance", "report"]);
    assert!(markdown.starts_with("# Citadel compliance report"));
    assert!(markdown.contains("| Production endpoints | CC8.1, CC6.8 | — | Art. 32(1)(b) |"));

    let html_path = home.path("report.html");
    home.admin_ok(&[
        "compliance",
        "report",
        "--format",
        "html",
        "--output",
        html_path.to_str().unwrap(),
    ]);
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches("<svg").count(), 2);
    assert!(html.contains("prod.endpoints.assistant"));
    let mode = std::fs::metadata(&html_path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // An existing file is never overwritten.
    let out = run_fails(
        home.admin().args([
            "compliance",
            "report",
            "--output",
            html_path.to_str().unwrap(),
        ]),
        1,
    );
    assert!(out.contains("exists"), "{out}");

    let events = home.audit_events(&["--action", "compliance.report"]);
    assert_eq!(events.len(), 3, "{events:#?}");
    assert_eq!(events[0]["outcome"], "success");

    // Only a metastore manager may read everyone's activity.
    let viewer = home.user_with_token("compliance-viewer");
    let out = run_fails(
        home.as_token(&viewer).args(["compliance", "report"]),
        EXIT_PERMISSION_DENIED,
    );
    assert!(out.contains("compliance.report"), "{out}");

    // The quickstart's refusals of alice and carol raise high alerts: unacknowledged, they fail
    // the report; acknowledged, the handling is the evidence.
    home.admin_ok(&["alerts", "evaluate"]);
    let alerting = report(&home);
    assert_eq!(
        status(&alerting, "alerts"),
        "fail",
        "{:#}",
        section(&alerting, "alerts")
    );
    let firing: Vec<Value> =
        serde_json::from_str(&home.admin_ok(&["alerts", "list", "--json"])).unwrap();
    assert!(!firing.is_empty());
    for alert in &firing {
        home.admin_ok(&["alerts", "ack", alert["id"].as_str().unwrap()]);
    }
    let handled = report(&home);
    assert_eq!(
        status(&handled, "alerts"),
        "pass",
        "{:#}",
        section(&handled, "alerts")
    );
    let rows = section(&handled, "alerts")["evidence"][0]["rows"]
        .as_array()
        .unwrap();
    assert!(rows
        .iter()
        .all(|r| r[5].as_str().unwrap().contains("acknowledged by admin")));

    // A burst of failed logins with a made-up token fails the authentication item.
    let bogus = format!("cit_pat_{}", "A".repeat(43));
    for _ in 0..10 {
        home.as_token(&bogus).arg("whoami").assert().code(2);
    }
    // An artifact whose stored envelope header was overwritten is no longer sealed.
    let blob = files_under(&home.path("artifacts"))
        .into_iter()
        .find(|p| p.extension().is_none() && p.to_string_lossy().contains("sha256"))
        .unwrap();
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[0] ^= 0x01;
    std::fs::write(&blob, bytes).unwrap();

    let broken = report(&home);
    assert_eq!(broken["status"], "fail");
    assert_eq!(status(&broken, "authentication"), "fail");
    let burst = &section(&broken, "authentication")["findings"][0];
    assert_eq!(burst["subject"], "unknown or malformed credential");
    let failures: u64 = burst["finding"]
        .as_str()
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(failures >= 10, "{burst:#}");
    assert_eq!(status(&broken, "encryption"), "fail");
    let unsealed = &section(&broken, "encryption")["findings"][0];
    assert!(
        unsealed["finding"].as_str().unwrap().contains("1 of "),
        "{unsealed:#}"
    );
    assert_eq!(status(&broken, "audit_log"), "pass");
}
