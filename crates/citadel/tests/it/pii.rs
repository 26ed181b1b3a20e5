//! `citadel scan pii` and `citadel bench pii` through the binary: JSONL findings with line,
//! field and char offsets; standard input; a table that never shows a raw value; the benchmark's
//! JSON report.

use std::io::Write;

use super::harness::*;

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

const SSN: &str = "536-90-4399";
const CARD: &str = "4111 1111 1111 1111";
const EMAIL: &str = "zoe.smith@example.com";

#[test]
fn jsonl_findings_have_line_field_and_char_offsets() {
    let home = TestHome::init();
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        r#"{"id": 1, "text": "nothing to see here"}"#.to_owned(),
        format!(r#"{{"id": 2, "user": {{"note": "Zoë — écrit à {EMAIL}"}}}}"#),
        String::new(),
        format!(
            r#"{{"messages": [{{"content": "hi"}}, {{"content": "SSN {SSN}, card {CARD}"}}]}}"#
        ),
    ];
    let file = write(dir.path(), "data.jsonl", &(lines.join("\n") + "\n"));
    let out = home.admin_ok(&["scan", "pii", &file, "--json"]);
    let objects: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objects.len(), 2, "{out}");

    assert_eq!(objects[0]["line"], 2);
    assert_eq!(objects[0]["field"], "user.note");
    let f = &objects[0]["findings"][0];
    assert_eq!(f["entity_type"], "EMAIL_ADDRESS");
    let note = format!("Zoë — écrit à {EMAIL}");
    let start = note.chars().count() - EMAIL.chars().count();
    assert_eq!(
        (
            f["start"].as_u64().unwrap() as usize,
            f["end"].as_u64().unwrap() as usize
        ),
        (start, note.chars().count())
    );
    assert!(f["score"].as_f64().unwrap() > 0.5);

    assert_eq!(objects[1]["line"], 4);
    assert_eq!(objects[1]["field"], "messages[1].content");
    let types: Vec<_> = objects[1]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["entity_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["US_SSN", "CREDIT_CARD"]);
    assert_eq!(objects[1]["findings"][0]["start"], 4);
    assert_eq!(objects[1]["findings"][0]["end"], 4 + SSN.len() as u64);
}

#[test]
fn stdin_text_gets_one_object_with_offsets_in_the_whole_input() {
    let home = TestHome::init();
    let input = "first line, café\nDear John Smith, call (415) 555-2671.\n".to_owned();
    let output = home
        .admin()
        .args(["scan", "pii", "-", "--json"])
        .write_stdin(input.clone())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let findings = report["findings"].as_array().unwrap();
    let chars: Vec<char> = input.chars().collect();
    let text = |f: &serde_json::Value| -> String {
        chars[f["start"].as_u64().unwrap() as usize..f["end"].as_u64().unwrap() as usize]
            .iter()
            .collect()
    };
    assert_eq!(findings.len(), 2, "{report}");
    assert_eq!(findings[0]["entity_type"], "PERSON");
    assert_eq!(text(&findings[0]), "John Smith");
    assert_eq!(findings[1]["entity_type"], "PHONE_NUMBER");
    assert_eq!(text(&findings[1]), "(415) 555-2671");
}

#[test]
fn the_table_masks_every_value() {
    let home = TestHome::init();
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "notes.txt",
        &format!("ssn {SSN}\nmail {EMAIL} or card {CARD}\n"),
    );
    let out = home.admin_ok(&["scan", "pii", &file]);
    for raw in [SSN, EMAIL, CARD, "zoe.smith", "536-90"] {
        assert!(!out.contains(raw), "{raw} shown in:\n{out}");
    }
    assert!(
        out.contains("US_SSN") && out.contains("EMAIL_ADDRESS") && out.contains("CREDIT_CARD"),
        "{out}"
    );
    assert!(out.contains("3 findings in 2 lines"), "{out}");
}

#[test]
fn fail_on_findings_and_bad_input() {
    let home = TestHome::init();
    let dir = tempfile::tempdir().unwrap();
    let clean = write(dir.path(), "clean.txt", "nothing here\n");
    let dirty = write(dir.path(), "dirty.txt", &format!("ssn {SSN}\n"));
    home.admin_ok(&["scan", "pii", &clean, "--fail-on-findings"]);
    let err = run_fails(
        home.admin()
            .args(["scan", "pii", &dirty, "--fail-on-findings"]),
        1,
    );
    assert!(err.contains("1 findings"), "{err}");
    home.admin_ok(&["scan", "pii", &dirty]);

    let broken = write(dir.path(), "broken.jsonl", "{\"a\": 1}\n{not json\n");
    let err = run_fails(home.admin().args(["scan", "pii", &broken]), 1);
    assert!(
        err.contains("line 2 is not valid JSON") && err.lines().count() == 1,
        "{err}"
    );
    let binary = dir.path().join("binary.txt");
    std::fs::File::create(&binary)
        .unwrap()
        .write_all(b"ok\n\xff\xfe\n")
        .unwrap();
    let err = run_fails(
        home.admin().args(["scan", "pii", binary.to_str().unwrap()]),
        1,
    );
    assert!(err.contains("line 2 is not valid UTF-8"), "{err}");
    let err = run_fails(
        home.admin().args(["scan", "pii", "/nonexistent/file.txt"]),
        1,
    );
    assert!(err.contains("cannot open"), "{err}");
}

#[test]
fn scanning_needs_a_token() {
    let home = TestHome::init();
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "a.txt", "x\n");
    run_fails(
        home.as_token("cit_pat_wrong").args(["scan", "pii", &file]),
        EXIT_UNAUTHENTICATED,
    );
}

#[test]
fn bench_reports_throughput_and_accuracy() {
    let home = TestHome::init();
    let out = home.admin_ok(&["bench", "pii", "--size-mb", "1", "--seed", "3", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(report["corpus_bytes"].as_u64().unwrap() >= 1_000_000);
    assert!(report["single_thread_mb_s"].as_f64().unwrap() > 0.0);
    assert!(report["all_cores_mb_s"].as_f64().unwrap() > 0.0);
    let entities = report["entities"].as_array().unwrap();
    assert_eq!(entities.len(), 13);
    for e in entities {
        assert!(e["support"].as_u64().unwrap() > 0, "{e}");
        if e["checksum_validated"] == true {
            assert!(e["recall"].as_f64().unwrap() >= 0.99, "{e}");
            assert!(e["precision"].as_f64().unwrap() >= 0.98, "{e}");
        }
    }
    let table = home.admin_ok(&["bench", "pii", "--size-mb", "1"]);
    assert!(
        table.contains("throughput, one thread") && table.contains("CREDIT_CARD"),
        "{table}"
    );
}
