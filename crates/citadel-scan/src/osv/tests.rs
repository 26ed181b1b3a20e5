//! Tests of OSV matching: crafted advisories in `tests/fixtures/osv/` (loose and zipped), the
//! range rules, version orderings and CVSS scores.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};

use super::score::roundup_v31;
use super::version::{generic_cmp, Scheme};
use super::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/osv")
}

fn component(ecosystem: &str, name: &str, version: &str) -> Component {
    Component {
        name: name.to_owned(),
        version: version.to_owned(),
        ecosystem: ecosystem.to_owned(),
        purl: String::new(),
        license: None,
        source: None,
        checksum_sha256: None,
        dependencies: Vec::new(),
    }
}

fn ids(db: &OsvDatabase, ecosystem: &str, name: &str, version: &str) -> Vec<String> {
    db.matches(&component(ecosystem, name, version))
        .into_iter()
        .map(|v| v.id)
        .collect()
}

fn crate_ids(db: &OsvDatabase, name: &str, version: &str) -> Vec<String> {
    ids(db, "crates.io", name, version)
}

/// A copy of the fixtures with `crates.io/` zipped into `all.zip` (as osv-scanner lays it out)
/// and `PyPI/` left loose.
fn zipped_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let crates = dir.path().join("crates.io");
    std::fs::create_dir_all(&crates).unwrap();
    let file = std::fs::File::create(crates.join("all.zip")).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut entries: Vec<_> = std::fs::read_dir(fixtures().join("crates.io"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        zip.start_file(name, options).unwrap();
        zip.write_all(&std::fs::read(&path).unwrap()).unwrap();
    }
    zip.finish().unwrap();
    let pypi = dir.path().join("PyPI");
    std::fs::create_dir_all(&pypi).unwrap();
    for entry in std::fs::read_dir(fixtures().join("PyPI")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, pypi.join(path.file_name().unwrap())).unwrap();
    }
    dir
}

/// Every expectation about the fixture advisories, run against a loaded database.
fn check_fixture_matches(db: &OsvDatabase) {
    assert_eq!(db.advisories(), 9, "{db:?}");
    assert_eq!(db.withdrawn(), 1);

    // introduced/fixed, two intervals in one range, the second starting at a pre-release.
    let fixed = |v: &str| crate_ids(db, "demo-fixed", v);
    for v in [
        "1.0.0",
        "1.2.2",
        "1.2.2+build.5",
        "2.0.0-alpha.1",
        "2.0.0-beta",
        "2.0.0",
    ] {
        assert_eq!(fixed(v), ["TEST-2024-0001"], "demo-fixed {v}");
    }
    for v in [
        "0.9.9",
        "1.0.0-rc.1",
        "1.2.3",
        "1.2.3+build.1",
        "1.5.0",
        "2.0.0-alpha.0",
        "2.0.1",
        "3.0.0",
    ] {
        assert!(fixed(v).is_empty(), "demo-fixed {v}: {:?}", fixed(v));
    }

    // introduced "0" / last_affected (inclusive), ECOSYSTEM ordering of crates.io = SemVer.
    let last = |v: &str| crate_ids(db, "demo-last", v);
    for v in ["0.0.0-alpha", "0.1.0", "0.4.2-rc.1", "0.4.2"] {
        assert_eq!(last(v), ["TEST-2024-0002"], "demo-last {v}");
    }
    for v in ["0.4.3", "0.10.0", "1.0.0"] {
        assert!(last(v).is_empty(), "demo-last {v}");
    }

    // Two ranges (one written out of order), a GIT range that is ignored, two packages.
    let multi = |v: &str| crate_ids(db, "demo-multi", v);
    for v in ["0.1.0", "0.1.9", "1.0.0", "1.0.5"] {
        assert_eq!(multi(v), ["TEST-2024-0003"], "demo-multi {v}");
    }
    for v in ["0.0.9", "0.2.0", "0.9.0", "1.1.0", "2.0.0"] {
        assert!(multi(v).is_empty(), "demo-multi {v}");
    }
    assert_eq!(crate_ids(db, "demo-other", "2.9.9"), ["TEST-2024-0003"]);
    assert!(crate_ids(db, "demo-other", "3.0.0").is_empty());

    // limit events cap a range; "*" is infinity.
    let limit = |v: &str| crate_ids(db, "demo-limit", v);
    for v in ["1.0.0", "1.4.9", "3.0.0", "99.0.0"] {
        assert_eq!(limit(v), ["TEST-2024-0004"], "demo-limit {v}");
    }
    for v in ["0.9.0", "1.5.0", "2.0.0"] {
        assert!(limit(v).is_empty(), "demo-limit {v}");
    }

    // An explicit versions list, plus a second advisory with a range on the same package.
    let listed = |v: &str| crate_ids(db, "demo-listed", v);
    assert_eq!(listed("0.3.1"), ["TEST-2024-0005", "TEST-2024-0007"]);
    assert_eq!(listed("0.3.0"), ["TEST-2024-0007"]);
    assert!(listed("0.3.2").is_empty());
    assert!(listed("0.3.3").is_empty());
    assert_eq!(listed("0.3.4"), ["TEST-2024-0005"]);

    // Names are exact for crates.io, and ecosystems do not mix.
    assert!(crate_ids(db, "Demo-Fixed", "1.0.0").is_empty());
    assert!(ids(db, "PyPI", "demo-fixed", "1.0.0").is_empty());
    assert!(ids(db, "npm", "demo-fixed", "1.0.0").is_empty());

    // PyPI: PEP 440 ordering, PEP 503 name normalization.
    let py = |v: &str| ids(db, "PyPI", "demo-package", v);
    for v in [
        "1.0",
        "1.0.0",
        "1.1",
        "1.2",
        "1.2.post0",
        "2.0rc1",
        "2.0",
        "2.0.1.dev1",
        "2.0.post3",
    ] {
        assert_eq!(py(v), ["PYSEC-2024-0001"], "demo-package {v}");
    }
    for v in [
        "0.9",
        "1.0.dev1",
        "1.0a1",
        "1.2.post1",
        "1.2.post2",
        "1.10",
        "2.0b1",
        "2.0.1",
        "1!0.5",
    ] {
        assert!(py(v).is_empty(), "demo-package {v}: {:?}", py(v));
    }
    assert_eq!(ids(db, "PyPI", "Demo.Package", "1.1"), ["PYSEC-2024-0001"]);
    assert_eq!(ids(db, "PyPI", "demo__package", "1.1"), ["PYSEC-2024-0001"]);
}

#[test]
fn osv_loose_records_match_per_the_range_rules() {
    let db = OsvDatabase::load(&fixtures()).unwrap();
    check_fixture_matches(&db);
}

#[test]
fn osv_all_zip_layout_loads_the_same_records() {
    let dir = zipped_copy();
    assert!(dir.path().join("crates.io/all.zip").is_file());
    assert!(!dir.path().join("crates.io/TEST-2024-0001.json").exists());
    let db = OsvDatabase::load(dir.path()).unwrap();
    check_fixture_matches(&db);
}

#[test]
fn osv_all_zip_wins_over_loose_files_in_the_same_folder() {
    let dir = zipped_copy();
    // A loose record beside all.zip is not read: the zip is the database.
    std::fs::write(
        dir.path().join("crates.io/EXTRA-1.json"),
        r#"{"id":"EXTRA-1","affected":[{"package":{"ecosystem":"crates.io","name":"demo-extra"},
            "ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}"#,
    )
    .unwrap();
    let db = OsvDatabase::load(dir.path()).unwrap();
    assert_eq!(db.advisories(), 9);
    assert!(crate_ids(&db, "demo-extra", "1.0.0").is_empty());
}

#[test]
fn osv_withdrawn_records_never_match() {
    let db = OsvDatabase::load(&fixtures()).unwrap();
    // TEST-2024-0006 covers every demo-fixed version but is withdrawn.
    for v in ["0.1.0", "1.0.0", "5.0.0"] {
        assert!(
            !crate_ids(&db, "demo-fixed", v).contains(&"TEST-2024-0006".to_owned()),
            "{v}"
        );
    }
    assert_eq!(db.withdrawn(), 1);
}

#[test]
fn osv_vulnerability_reports_severity_aliases_and_fixes() {
    let db = OsvDatabase::load(&fixtures()).unwrap();
    let found = db.matches(&component("crates.io", "demo-fixed", "1.1.0"));
    assert_eq!(found.len(), 1);
    let v = &found[0];
    assert_eq!(v.id, "TEST-2024-0001");
    assert_eq!(v.aliases, ["CVE-2024-0001"]);
    assert_eq!(v.summary, "Remote code execution in demo-fixed");
    assert_eq!(
        (v.package.as_str(), v.version.as_str()),
        ("demo-fixed", "1.1.0")
    );
    assert_eq!(v.severity, Severity::Critical);
    assert_eq!(v.cvss_score, Some(9.8));
    assert_eq!(
        v.cvss_vector.as_deref(),
        Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
    );
    assert_eq!(v.fixed_in, ["1.2.3", "2.0.1"]);
    let later = db.matches(&component("crates.io", "demo-fixed", "2.0.0"));
    assert_eq!(later[0].fixed_in, ["2.0.1"]);

    let low = &db.matches(&component("crates.io", "demo-last", "0.4.0"))[0];
    assert_eq!((low.severity, low.cvss_score), (Severity::Low, Some(3.1)));
    assert!(low.fixed_in.is_empty(), "last_affected gives no fix");

    let scoped = &db.matches(&component("crates.io", "demo-multi", "1.0.0"))[0];
    assert_eq!(
        (scoped.severity, scoped.cvss_score),
        (Severity::Medium, Some(6.1))
    );
    assert_eq!(
        scoped.fixed_in,
        ["1.1.0"],
        "fixes below the version are left out"
    );

    // No CVSS: GitHub-style database_specific labels.
    let moderate = &db.matches(&component("crates.io", "demo-limit", "1.0.0"))[0];
    assert_eq!(
        (moderate.severity, moderate.cvss_score),
        (Severity::Medium, None)
    );
    let listed = db.matches(&component("crates.io", "demo-listed", "0.3.1"));
    assert_eq!(listed[0].id, "TEST-2024-0005");
    assert_eq!(listed[0].severity, Severity::High);
    // No rating at all: Medium; summary from the first line of the details.
    assert_eq!(listed[1].id, "TEST-2024-0007");
    assert_eq!(listed[1].severity, Severity::Medium);
    assert_eq!(
        listed[1].summary,
        "A crafted header makes demo-listed loop forever."
    );
    assert_eq!(listed[1].fixed_in, ["0.3.2"]);
    // RustSec informational notices rate None.
    let notice = &db.matches(&component("crates.io", "demo-unmaintained", "0.1.0"))[0];
    assert_eq!(notice.severity, Severity::None);

    // The highest of several CVSS vectors wins (here the v4 one, 9.3 against 7.5).
    let v4 = &db.matches(&component("crates.io", "demo-v4", "1.0.0-rc.1"))[0];
    assert_eq!(v4.cvss_score, Some(9.3));
    assert_eq!(v4.severity, Severity::Critical);
    assert!(v4.cvss_vector.as_deref().unwrap().starts_with("CVSS:4.0/"));
    assert!(db
        .matches(&component("crates.io", "demo-v4", "1.0.0-rc.2"))
        .is_empty());
}

#[test]
fn osv_matches_sort_most_severe_first() {
    let dir = tempfile::tempdir().unwrap();
    let crates = dir.path().join("crates.io");
    std::fs::create_dir_all(&crates).unwrap();
    for (id, cvss) in [
        ("A-LOW", "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N"),
        ("B-CRIT", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
        ("C-CRIT", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"),
    ] {
        let record = serde_json::json!({
            "id": id,
            "severity": [{"type": "CVSS_V3", "score": cvss}],
            "affected": [{"package": {"ecosystem": "crates.io", "name": "x"},
                          "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}]}],
        });
        std::fs::write(crates.join(format!("{id}.json")), record.to_string()).unwrap();
    }
    let db = OsvDatabase::load(dir.path()).unwrap();
    assert_eq!(crate_ids(&db, "x", "1.0.0"), ["B-CRIT", "C-CRIT", "A-LOW"]);
}

#[test]
fn osv_load_refuses_bad_input() {
    // No records at all.
    let empty = tempfile::tempdir().unwrap();
    let err = OsvDatabase::load(empty.path()).unwrap_err();
    assert!(err.to_string().contains("no OSV records"), "{err}");
    // A missing directory.
    assert!(OsvDatabase::load(&empty.path().join("missing")).is_err());
    // A record that is not OSV.
    let bad = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(bad.path().join("crates.io")).unwrap();
    std::fs::write(bad.path().join("crates.io/BAD.json"), b"{\"id\": 5}").unwrap();
    let err = OsvDatabase::load(bad.path()).unwrap_err();
    assert!(err.to_string().contains("BAD.json"), "{err}");
    // A zip that is not a zip.
    let notzip = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(notzip.path().join("PyPI")).unwrap();
    std::fs::write(notzip.path().join("PyPI/all.zip"), b"not a zip").unwrap();
    let err = OsvDatabase::load(notzip.path()).unwrap_err();
    assert!(err.to_string().contains("not a valid zip"), "{err}");
}

#[test]
fn osv_record_in_two_ecosystem_folders_loads_once() {
    let dir = tempfile::tempdir().unwrap();
    let record = serde_json::json!({
        "id": "MULTI-1",
        "affected": [
            {"package": {"ecosystem": "crates.io", "name": "shared"},
             "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.0.0"}]}]},
            {"package": {"ecosystem": "PyPI", "name": "shared"},
             "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}]},
        ],
        "summary": null,
        "aliases": null,
    });
    for eco in ["crates.io", "PyPI"] {
        std::fs::create_dir_all(dir.path().join(eco)).unwrap();
        std::fs::write(
            dir.path().join(eco).join("MULTI-1.json"),
            record.to_string(),
        )
        .unwrap();
    }
    let db = OsvDatabase::load(dir.path()).unwrap();
    assert_eq!(db.advisories(), 1);
    assert_eq!(crate_ids(&db, "shared", "0.9.0"), ["MULTI-1"]);
    assert_eq!(ids(&db, "PyPI", "shared", "1.9"), ["MULTI-1"]);
    assert!(ids(&db, "PyPI", "shared", "2.0").is_empty());
}

#[test]
fn osv_other_ecosystems_use_the_release_free_name_and_a_dotted_order() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("Debian")).unwrap();
    let record = serde_json::json!({
        "id": "DEB-1",
        "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"},
                      "ranges": [{"type": "ECOSYSTEM",
                                  "events": [{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u2"}]}]}],
        "severity": [{"type": "Ubuntu", "score": "high"}],
    });
    std::fs::write(dir.path().join("Debian/DEB-1.json"), record.to_string()).unwrap();
    let db = OsvDatabase::load(dir.path()).unwrap();
    let found = db.matches(&component("Debian", "openssl", "3.0.9-1"));
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].severity, found[0].cvss_score),
        (Severity::High, None)
    );
    assert!(ids(&db, "Debian", "openssl", "3.0.12-1").is_empty());
}

#[test]
fn osv_range_evaluation_follows_the_schema() {
    fn ev(kind: &str, version: &str) -> record::Event {
        let mut e = record::Event::default();
        let v = Some(version.to_owned());
        match kind {
            "i" => e.introduced = v,
            "f" => e.fixed = v,
            "l" => e.last_affected = v,
            _ => e.limit = v,
        }
        e
    }
    let s = Scheme::Semver;
    // No introduced event: nothing is affected.
    assert!(!in_range(s, "1.0.0", &[ev("f", "2.0.0")]));
    // Only introduced: everything from it on.
    assert!(in_range(s, "9.9.9", &[ev("i", "1.0.0")]));
    assert!(!in_range(s, "0.9.9", &[ev("i", "1.0.0")]));
    // Equal introduced and fixed: empty range.
    assert!(!in_range(s, "1.0.0", &[ev("i", "1.0.0"), ev("f", "1.0.0")]));
    // Equal introduced and last_affected: exactly that version.
    let single = [ev("l", "1.0.0"), ev("i", "1.0.0")];
    assert!(in_range(s, "1.0.0", &single));
    assert!(!in_range(s, "1.0.1", &single));
    // A limit below the introduced version leaves nothing; several limits, any one suffices.
    assert!(!in_range(s, "2.0.0", &[ev("i", "2.0.0"), ev("x", "1.0.0")]));
    let limits = [ev("i", "0"), ev("x", "1.0.0"), ev("x", "3.0.0")];
    assert!(in_range(s, "2.0.0", &limits));
    assert!(!in_range(s, "3.0.0", &limits));
    // Unordered events: re-introduced after a fix.
    let reopened = [
        ev("i", "2.0.0"),
        ev("f", "1.5.0"),
        ev("i", "1.0.0"),
        ev("f", "2.1.0"),
    ];
    for (v, affected) in [
        ("0.9.0", false),
        ("1.2.0", true),
        ("1.7.0", false),
        ("2.0.5", true),
        ("2.1.0", false),
    ] {
        assert_eq!(in_range(s, v, &reopened), affected, "{v}");
    }
}

#[test]
fn osv_semver_ordering() {
    let s = Scheme::Semver;
    let lt = |a: &str, b: &str| assert!(s.compare(a, b).is_lt(), "{a} < {b}");
    lt("1.0.0-alpha", "1.0.0-alpha.1");
    lt("1.0.0-alpha.1", "1.0.0-alpha.beta");
    lt("1.0.0-alpha.beta", "1.0.0-beta");
    lt("1.0.0-beta.2", "1.0.0-beta.11");
    lt("1.0.0-rc.1", "1.0.0");
    lt("1.9.0", "1.10.0");
    lt("1.2", "1.2.1");
    assert!(s.compare("1.0.0+build.1", "1.0.0+build.2").is_eq());
    assert!(s.compare("v1.2.3", "1.2.3").is_eq());
    assert!(s.compare("1.2", "1.2.0").is_eq());
}

#[test]
fn osv_pep440_ordering() {
    let p = Scheme::Pep440;
    let chain = [
        "1.0.dev0",
        "1.0a1.dev1",
        "1.0a1",
        "1.0a2",
        "1.0b1",
        "1.0rc1",
        "1.0",
        "1.0+local.1",
        "1.0+local.2",
        "1.0.post1.dev1",
        "1.0.post1",
        "1.0.1",
        "1.1",
        "1.10",
        "2.0",
        "1!0.1",
    ];
    for pair in chain.windows(2) {
        assert!(
            p.compare(pair[0], pair[1]).is_lt(),
            "{} < {}",
            pair[0],
            pair[1]
        );
        assert!(
            p.compare(pair[1], pair[0]).is_gt(),
            "{} > {}",
            pair[1],
            pair[0]
        );
    }
    for (a, b) in [
        ("1.0", "1.0.0"),
        ("1.0alpha1", "1.0a1"),
        ("1.0-1", "1.0.post1"),
        ("1.0c1", "1.0rc1"),
        ("v1.0", "1.0"),
        ("1.0.DEV", "1.0.dev0"),
        ("0!1.0", "1.0"),
    ] {
        assert!(p.compare(a, b).is_eq(), "{a} == {b}");
    }
}

#[test]
fn osv_generic_ordering() {
    assert!(generic_cmp("1.9", "1.10").is_lt());
    assert!(generic_cmp("1.0", "1.0.1").is_lt());
    assert!(generic_cmp("1.0rc1", "1.0").is_lt());
    assert!(generic_cmp("1.0a", "1.0b").is_lt());
    assert!(generic_cmp("2:1.0", "2:1.0").is_eq());
    assert!(generic_cmp("00012", "12").is_eq());
    assert!(generic_cmp("99999999999999999999999", "100000000000000000000000").is_lt());
}

#[test]
fn osv_cvss_v3_known_scores() {
    for (vector, score) in [
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
        ("CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N", 3.1),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
        ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", 9.9),
        ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5),
        ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 8.8),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:L/A:N", 6.5),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L", 5.3),
        ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:N/I:N/A:H", 5.5),
        ("CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H", 7.2),
        ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N", 6.4),
        ("CVSS:3.1/AV:P/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0),
        ("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
        // Temporal and environmental metrics do not change the base score; order is free.
        (
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/RL:O/RC:C/CR:H/MAV:L",
            9.8,
        ),
        ("CVSS:3.1/A:H/I:H/C:H/S:U/UI:N/PR:N/AC:L/AV:N", 9.8),
    ] {
        assert_eq!(cvss_base_score(vector), Some(score), "{vector}");
    }
    assert_eq!(Severity::from_score(9.8), Severity::Critical);
    assert_eq!(Severity::from_score(9.0), Severity::Critical);
    assert_eq!(Severity::from_score(8.9), Severity::High);
    assert_eq!(Severity::from_score(7.0), Severity::High);
    assert_eq!(Severity::from_score(6.9), Severity::Medium);
    assert_eq!(Severity::from_score(4.0), Severity::Medium);
    assert_eq!(Severity::from_score(3.9), Severity::Low);
    assert_eq!(Severity::from_score(0.1), Severity::Low);
    assert_eq!(Severity::from_score(0.0), Severity::None);
}

#[test]
fn osv_cvss_rejects_malformed_vectors() {
    for vector in [
        "",
        "CVSS:3.1/",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H", // A missing
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/A:H", // duplicate
        "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", // bad value
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/ZZ:1", // unknown metric
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E", // no value
        "CVSS:2.0/AV:N",
        "CVSS:4.0/AV:N",
        "not a vector",
    ] {
        assert_eq!(cvss_base_score(vector), None, "{vector:?}");
    }
}

#[test]
fn osv_cvss_v31_roundup_avoids_floating_point_noise() {
    assert_eq!(roundup_v31(4.000_000_000_1), 4.0);
    assert_eq!(roundup_v31(4.02), 4.1);
    assert_eq!(roundup_v31(4.0), 4.0);
    assert_eq!(roundup_v31(9.75), 9.8);
}

/// Every CVSS v3.0/v3.1 base vector, against the RustSec `cvss` crate's independent
/// implementation.
#[test]
fn osv_cvss_v3_matches_an_independent_implementation_on_every_base_vector() {
    let mut checked = 0;
    for version in ["3.0", "3.1"] {
        for av in ["N", "A", "L", "P"] {
            for ac in ["L", "H"] {
                for pr in ["N", "L", "H"] {
                    for ui in ["N", "R"] {
                        for s in ["U", "C"] {
                            for c in ["H", "L", "N"] {
                                for i in ["H", "L", "N"] {
                                    for a in ["H", "L", "N"] {
                                        let vector = format!(
                                            "CVSS:{version}/AV:{av}/AC:{ac}/PR:{pr}/UI:{ui}/S:{s}/C:{c}/I:{i}/A:{a}"
                                        );
                                        let theirs: cvss::v3::Vector = vector.parse().unwrap();
                                        let expected = theirs.base_score().value() as f32;
                                        assert_eq!(
                                            cvss_base_score(&vector),
                                            Some(expected),
                                            "{vector}"
                                        );
                                        checked += 1;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(checked, 2 * 2592);
}

#[test]
fn osv_cvss_v4_and_v2_scores() {
    for (vector, score) in [
        (
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
            9.3,
        ),
        (
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N",
            0.0,
        ),
        ("AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5),
        ("AV:N/AC:L/Au:N/C:C/I:C/A:C", 10.0),
    ] {
        assert_eq!(cvss_base_score(vector), Some(score), "{vector}");
    }
}

/// Every CVSS v4.0 base vector (with each exploit maturity) scores without panicking, within
/// 0–10.
#[test]
fn osv_cvss_v4_scores_every_base_vector() {
    let three = ["H", "L", "N"];
    let mut count = 0;
    for av in ["N", "A", "L", "P"] {
        for ac in ["L", "H"] {
            for at in ["N", "P"] {
                for pr in ["N", "L", "H"] {
                    for ui in ["N", "P", "A"] {
                        for vc in three {
                            for vi in three {
                                for va in three {
                                    for sc in three {
                                        for si in three {
                                            for sa in three {
                                                for e in ["X", "A", "P", "U"] {
                                                    let vector = format!(
                                                        "CVSS:4.0/AV:{av}/AC:{ac}/AT:{at}/PR:{pr}/UI:{ui}/VC:{vc}/VI:{vi}/VA:{va}/SC:{sc}/SI:{si}/SA:{sa}/E:{e}"
                                                    );
                                                    let score = cvss_base_score(&vector)
                                                        .unwrap_or_else(|| panic!("{vector}"));
                                                    assert!((0.0..=10.0).contains(&score));
                                                    count += 1;
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(count, 4 * 2 * 2 * 3 * 3 * 729 * 4);
}

#[test]
fn osv_severity_parses_fail_on_values() {
    assert_eq!("high".parse::<Severity>().unwrap(), Severity::High);
    assert_eq!("CRITICAL".parse::<Severity>().unwrap(), Severity::Critical);
    assert_eq!("moderate".parse::<Severity>().unwrap(), Severity::Medium);
    assert_eq!("low".parse::<Severity>().unwrap(), Severity::Low);
    assert!("severe".parse::<Severity>().is_err());
    assert!(Severity::Critical > Severity::High && Severity::Low > Severity::None);
    assert_eq!(
        serde_json::to_string(&Severity::Medium).unwrap(),
        "\"medium\""
    );
    assert_eq!(Severity::High.to_string(), "high");
}
