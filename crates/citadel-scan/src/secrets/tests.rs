//! Tests of the secret scanner: every built-in rule against its examples, allowlists, extend,
//! entropy, positions, redaction, history scans, SARIF, the hook and throughput.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use serde::Deserialize;

use super::engine::{redact, shannon_entropy, Scope};
use super::*;
use crate::ScanError;

const EXAMPLES: &str = include_str!("../../tests/fixtures/secret-examples.toml");

#[derive(Debug, Deserialize)]
struct Examples {
    example: Vec<Example>,
}

#[derive(Debug, Deserialize)]
struct Example {
    rule: String,
    text: String,
    matches: bool,
}

fn examples() -> Vec<Example> {
    toml::from_str::<Examples>(EXAMPLES).unwrap().example
}

fn builtin() -> &'static RuleSet {
    static SET: OnceLock<RuleSet> = OnceLock::new();
    SET.get_or_init(|| RuleSet::builtin().unwrap())
}

fn ids(findings: &[SecretFinding]) -> Vec<&str> {
    findings.iter().map(|f| f.rule_id.as_str()).collect()
}

/// A fake secret with high entropy (never a real key).
const FAKE: &str = "Zq8WvL2mXr7TnB4kPy9dHs3J";

#[test]
fn secrets_builtin_has_at_least_60_rules_all_with_keywords() {
    let set = builtin();
    assert!(set.len() >= 60, "{} rules", set.len());
    assert_eq!(set.ids().len(), set.len());
    for r in &set.rules {
        assert!(!r.keywords.is_empty(), "{} has no keywords", r.id);
        assert!(!r.description.is_empty(), "{} has no description", r.id);
        // Only the PEM/PuTTY rules may span lines; everything else runs on keyword lines.
        if r.id.starts_with("private-key-") && r.id != "private-key-base64" {
            assert_eq!(r.scope, Scope::Whole, "{}", r.id);
        } else {
            assert_eq!(r.scope, Scope::Lines, "{} can span lines", r.id);
        }
    }
}

#[test]
fn secrets_every_builtin_rule_has_a_true_positive_and_negatives_hold() {
    let set = builtin();
    let mut positives: BTreeMap<&str, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for (i, ex) in examples().iter().enumerate() {
        assert!(
            set.rule(&ex.rule).is_some(),
            "example {i} names unknown rule {}",
            ex.rule
        );
        let path = format!("example-{i}.txt");
        let found = scan_bytes(set, &path, ex.text.as_bytes());
        let hit = found.iter().any(|f| f.rule_id == ex.rule);
        if ex.matches {
            *positives
                .entry(set.rule(&ex.rule).unwrap().id.as_str())
                .or_default() += 1;
            if !hit {
                failures.push(format!(
                    "{}: missed {:?} (found {:?})",
                    ex.rule,
                    ex.text,
                    ids(&found)
                ));
            }
            for f in found.iter().filter(|f| f.rule_id == ex.rule) {
                assert_eq!(f.path, path);
                assert!(f.line >= 1 && f.column >= 1);
            }
        } else if hit {
            failures.push(format!("{}: false positive on {:?}", ex.rule, ex.text));
        }
    }
    let missing: Vec<&str> = set
        .ids()
        .into_iter()
        .filter(|id| !positives.contains_key(id))
        .collect();
    assert!(
        missing.is_empty(),
        "rules without a positive example: {missing:?}"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn secrets_keyword_line_windows_find_what_a_whole_file_search_finds() {
    // Each example alone, then all of them in one file: the keyword-gated line windows must
    // reproduce the exhaustive search exactly (and so every match holds one of its keywords).
    let fast = builtin();
    let slow = RuleSet::builtin().unwrap().exhaustive();
    let exs = examples();
    let mut all = String::new();
    for ex in &exs {
        assert_eq!(
            scan_bytes(fast, "f", ex.text.as_bytes()),
            scan_bytes(&slow, "f", ex.text.as_bytes()),
            "{}: {:?}",
            ex.rule,
            ex.text
        );
        all.push_str(&ex.text);
        all.push_str("\nfiller line with nothing in it\n");
    }
    let a = scan_bytes(fast, "all.txt", all.as_bytes());
    let b = scan_bytes(&slow, "all.txt", all.as_bytes());
    assert_eq!(a, b);
    assert!(a.len() >= exs.iter().filter(|e| e.matches).count());
}

#[test]
fn secrets_placeholders_and_templates_are_not_findings() {
    let set = builtin();
    for text in [
        "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
        "GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "api_key = \"${SECRET}\"",
        "password: {{ vault_password }}",
        "token = '<your-token-here>'",
        "password = os.getenv('DB_PASSWORD')",
        "let token = self.tokens.next_token();",
    ] {
        let found = scan_bytes(set, "x.txt", text.as_bytes());
        assert!(found.is_empty(), "{text}: {:?}", ids(&found));
    }
}

#[test]
fn secrets_generic_rule_yields_to_a_specific_rule_on_the_same_secret() {
    let set = builtin();
    let text = format!("api_key = \"sk_live_{FAKE}\"\nother_secret = \"{FAKE}1\"\n");
    let found = scan_bytes(set, "x.py", text.as_bytes());
    assert_eq!(ids(&found), ["stripe-secret-key", "generic-api-key"]);
    assert_eq!(found[0].line, 1);
    assert_eq!(found[1].line, 2);
}

#[test]
fn secrets_inline_allow_comment_skips_a_line() {
    let set = builtin();
    let secret = format!("ghp_{FAKE}{FAKE}", FAKE = &FAKE[..18]);
    assert_eq!(secret.len(), 40);
    let text = format!(
        "a = \"{secret}\"  # gitleaks:allow\nb = \"{secret}\" // citadel:allow\nc = \"{secret}\"\n"
    );
    let found = scan_bytes(set, "x", text.as_bytes());
    assert_eq!(ids(&found), ["github-pat"]);
    assert_eq!(found[0].line, 3);
}

#[test]
fn secrets_line_column_redaction_and_fingerprint() {
    let set = builtin();
    let token = format!("cit_pat_{FAKE}{FAKE}0000000000000000000", FAKE = FAKE);
    let token = &token[..8 + 43];
    // Line 3; two multi-byte characters before the token on its line.
    let text = format!("first\nsecond\n// é ü token: {token} end\n");
    let found = scan_bytes(set, "dir/conf.rs", text.as_bytes());
    assert_eq!(found.len(), 1, "{found:?}");
    let f = &found[0];
    assert_eq!(f.rule_id, "citadel-pat");
    assert_eq!(f.line, 3);
    assert_eq!(f.column, "// é ü token: ".chars().count() as u64 + 1);
    assert_eq!(f.secret_redacted, "cit_…");
    assert!(!f.secret_redacted.contains(token));
    assert_eq!(f.fingerprint, "dir/conf.rs:citadel-pat:3");
    assert_eq!(f.commit, None);
    assert!((f.entropy - shannon_entropy(token.as_bytes())).abs() < 1e-6);
}

#[test]
fn secrets_redaction_never_shows_a_whole_secret() {
    assert_eq!(
        redact(format!("AKIA{}", "ABCDEFGHIJKLMNOP").as_bytes()),
        "AKIA…"
    );
    assert_eq!(redact(b"abcdef"), "abc…");
    assert_eq!(redact(b"ab"), "a…");
    assert_eq!(redact(b"a"), "…");
    assert_eq!(redact("ééééé".as_bytes()), "éé…");
    // Every finding over the examples shows at most four characters of its secret.
    for ex in examples().iter().filter(|e| e.matches) {
        for f in scan_bytes(builtin(), "x", ex.text.as_bytes()) {
            let shown = f.secret_redacted.trim_end_matches('…');
            assert!(shown.chars().count() <= 4, "{}", f.secret_redacted);
            assert!(f.secret_redacted.ends_with('…'));
        }
    }
}

#[test]
fn secrets_entropy_threshold_is_strict() {
    let rules = r#"
[[rules]]
id = "thing"
description = "thing token"
regex = '''thing_([a-z0-9]{16})'''
entropy = 3.0
keywords = ["thing_"]
"#;
    let set = RuleSet::from_toml(rules).unwrap();
    // 16 distinct characters: entropy 4.0; 8 distinct, twice each: exactly 3.0 (not above).
    let high = "thing_abcdefghijklmnop";
    let exact = "thing_abcdefghabcdefgh";
    let low = "thing_aaaaaaaaaaaaaaaa";
    assert!((shannon_entropy(b"abcdefghabcdefgh") - 3.0).abs() < 1e-6);
    assert_eq!(scan_bytes(&set, "x", high.as_bytes()).len(), 1);
    assert!(scan_bytes(&set, "x", exact.as_bytes()).is_empty());
    assert!(scan_bytes(&set, "x", low.as_bytes()).is_empty());
    let f = &scan_bytes(&set, "x", high.as_bytes())[0];
    assert!((f.entropy - 4.0).abs() < 1e-6);
}

#[test]
fn secrets_secret_group_selection_follows_gitleaks() {
    // secretGroup unset: the first non-empty group; set: that group.
    let rules = r#"
[[rules]]
id = "first"
regex = '''(?:a=(x+)|b=(y+))'''
keywords = ["a=", "b="]
[[rules]]
id = "second"
regex = '''(k)=(v+)'''
secretGroup = 2
keywords = ["k="]
"#;
    let set = RuleSet::from_toml(rules).unwrap();
    let f = scan_bytes(&set, "x", b"b=yyyyyy k=vvvvvv");
    assert_eq!(ids(&f), ["first", "second"]);
    assert_eq!(f[0].secret_redacted, "yyy…");
    assert_eq!(f[1].secret_redacted, "vvv…");
}

#[test]
fn secrets_global_and_rule_allowlists() {
    let rules = r#"
[allowlist]
description = "global"
paths = ['''^fixtures/''']
regexes = ['''^tok_0''']
stopwords = ["dummy"]

[[rules]]
id = "tok"
regex = '''\b(tok_[A-Za-z0-9]{12})\b'''
keywords = ["tok_"]
[[rules.allowlists]]
regexTarget = "line"
regexes = ['''# test-only''']
[[rules.allowlists]]
condition = "AND"
paths = ['''\.md$''']
stopwords = ["docs"]
"#;
    let set = RuleSet::from_toml(rules).unwrap();
    let n = |path: &str, text: &str| scan_bytes(&set, path, text.as_bytes()).len();
    assert_eq!(n("src/a.rs", "tok_Ab12Cd34Ef56"), 1);
    assert_eq!(n("fixtures/a.rs", "tok_Ab12Cd34Ef56"), 0, "global path");
    assert_eq!(
        n("src/a.rs", "tok_0b12Cd34Ef56"),
        0,
        "global regex on the secret"
    );
    assert_eq!(
        n("src/a.rs", "tok_DUMMYxxxxxxx"),
        0,
        "global stopword, any case"
    );
    assert_eq!(
        n("src/a.rs", "tok_Ab12Cd34Ef56 # test-only"),
        0,
        "rule regex on the line"
    );
    // AND: both the path and the stopword must hold.
    assert_eq!(n("README.md", "tok_docsCd34Ef56"), 0);
    assert_eq!(n("README.md", "tok_Ab12Cd34Ef56"), 1);
    assert_eq!(n("src/a.rs", "tok_docsCd34Ef56"), 1);
}

#[test]
fn secrets_allowlist_match_target_and_target_rules() {
    let rules = r#"
[[rules]]
id = "one"
regex = '''one=([a-z0-9]{8})'''
keywords = ["one="]
[[rules]]
id = "two"
regex = '''two=([a-z0-9]{8})'''
keywords = ["two="]

[[allowlists]]
targetRules = ["two"]
regexTarget = "match"
regexes = ['''^two=''']
"#;
    let set = RuleSet::from_toml(rules).unwrap();
    let f = scan_bytes(&set, "x", b"one=abcd1234 two=abcd1234");
    assert_eq!(ids(&f), ["one"]);
    let bad = rules.replace(r#"targetRules = ["two"]"#, r#"targetRules = ["three"]"#);
    assert!(matches!(
        RuleSet::from_toml(&bad),
        Err(ScanError::InvalidInput(_))
    ));
}

#[test]
fn secrets_commit_allowlist_applies_to_history_findings() {
    let rules = r#"
[[rules]]
id = "tok"
regex = '''tok_[a-z0-9]{8}'''
keywords = ["tok_"]
[allowlist]
commits = ["abcdef1234"]
"#;
    let set = RuleSet::from_toml(rules).unwrap();
    let commit = |id: &str| engine::CommitInfo {
        id: id.into(),
        author: "A <a@x>".into(),
        date: "2024-01-01T00:00:00Z".into(),
    };
    let mut out = Vec::new();
    let allowed = commit("abcdef1234567890");
    let other = commit("0123456789abcdef");
    for c in [&allowed, &other] {
        let origin = engine::Origin {
            path: "f",
            commit: Some(c),
        };
        engine::scan_fragment(&set, &origin, b"tok_abcd1234", 7, &mut out);
    }
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].commit.as_deref(), Some("0123456789abcdef"));
    assert_eq!(out[0].line, 7);
    assert_eq!(out[0].fingerprint, "0123456789abcdef:f:tok:7");
}

#[test]
fn secrets_extend_use_default_and_disabled_rules() {
    let set = RuleSet::from_toml(
        r#"
[extend]
useDefault = true
disabledRules = ["generic-api-key", "jwt"]

[[rules]]
id = "internal-token"
description = "Our internal token"
regex = '''\binternal_[a-f0-9]{24}\b'''
keywords = ["internal_"]

[[rules]]
id = "github-pat"
[[rules.allowlists]]
regexes = ['''^ghp_Zq8''']

[allowlist]
paths = ['''^vendor/''']
"#,
    )
    .unwrap();
    let builtin = builtin();
    assert_eq!(set.len(), builtin.len() - 2 + 1);
    assert!(!set.ids().contains(&"generic-api-key"));
    assert!(!set.ids().contains(&"jwt"));
    assert!(set.ids().contains(&"internal-token"));
    assert!(set.ids().contains(&"aws-access-key-id"));
    let internal = "internal_0123456789abcdef01234567";
    let f = scan_bytes(&set, "src/x", internal.as_bytes());
    assert_eq!(ids(&f), ["internal-token"]);
    // A new rule from a user file runs over whole files (its matches need not hold a keyword).
    assert_eq!(set.rule("internal-token").unwrap().scope, Scope::Whole);
    // Built-in rules still work; the extra allowlist on github-pat and the global path apply.
    let pat_a = format!("ghp_{FAKE}{}", &FAKE[..12]);
    let pat_b = format!("ghp_Ab{}{}", &FAKE[2..], &FAKE[..12]);
    assert_eq!(scan_bytes(&set, "src/x", pat_a.as_bytes()).len(), 0);
    assert_eq!(
        ids(&scan_bytes(&set, "src/x", pat_b.as_bytes())),
        ["github-pat"]
    );
    assert!(scan_bytes(&set, "vendor/x", pat_b.as_bytes()).is_empty());
    // The built-in global allowlist is kept.
    assert!(scan_bytes(&set, "Cargo.lock", pat_b.as_bytes()).is_empty());
    // Without useDefault only the file's own rules exist.
    let own = RuleSet::from_toml(
        r#"
[[rules]]
id = "only"
regex = '''only_[0-9]{4}'''
"#,
    )
    .unwrap();
    assert_eq!(own.ids(), ["only"]);
}

#[test]
fn secrets_rule_file_errors() {
    let bad_regex = r#"
[[rules]]
id = "broken"
regex = '''(unclosed'''
keywords = ["x"]
"#;
    match RuleSet::from_toml(bad_regex) {
        Err(ScanError::Rule { rule, .. }) => assert_eq!(rule, "broken"),
        other => panic!("{other:?}"),
    }
    let bad_group = r#"
[[rules]]
id = "group"
regex = '''a(b)'''
secretGroup = 2
"#;
    assert!(matches!(
        RuleSet::from_toml(bad_group),
        Err(ScanError::Rule { .. })
    ));
    let bad_allowlist = r#"
[[rules]]
id = "al"
regex = '''a(b)'''
[[rules.allowlists]]
regexes = ['''[''']
"#;
    assert!(matches!(
        RuleSet::from_toml(bad_allowlist),
        Err(ScanError::Rule { .. })
    ));
    assert!(matches!(
        RuleSet::from_toml("[allowlist]\npaths = []\n"),
        Err(ScanError::InvalidInput(_))
    ));
    assert!(matches!(
        RuleSet::from_toml("not toml ["),
        Err(ScanError::InvalidInput(_))
    ));
    assert!(matches!(
        RuleSet::from_toml("[extend]\npath = \"other.toml\"\n"),
        Err(ScanError::InvalidInput(_))
    ));
    let dup = "[[rules]]\nid = \"d\"\nregex = 'x'\n[[rules]]\nid = \"d\"\nregex = 'y'\n";
    assert!(matches!(
        RuleSet::from_toml(dup),
        Err(ScanError::Rule { .. })
    ));
    // Unknown keys are ignored, as gitleaks does.
    let unknown = r#"
somethingNew = 1
[[rules]]
id = "u"
regex = '''u_[0-9]{4}'''
futureField = "x"
"#;
    assert_eq!(RuleSet::from_toml(unknown).unwrap().len(), 1);
}

#[test]
fn secrets_line_local_analysis() {
    use super::config::is_line_local;
    assert!(is_line_local(r"\bghp_[A-Za-z0-9]{36}\b"));
    assert!(is_line_local(r"x(?:[^a\n]|(?m:$))"));
    assert!(!is_line_local(r"a\sb"));
    assert!(!is_line_local(r"a[^b]c"));
    assert!(!is_line_local(r"(?s)a.b"));
    assert!(!is_line_local(r"^token"));
    assert!(is_line_local(r"(?m)^token$"));
}

#[test]
fn secrets_scan_path_walks_skips_and_sorts() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let pat = format!("ghp_{FAKE}{}", &FAKE[..12]);
    std::fs::create_dir_all(root.join("b/c")).unwrap();
    std::fs::create_dir_all(root.join(".git")).unwrap();
    std::fs::write(root.join("b/c/z.txt"), format!("x\n{pat}\n")).unwrap();
    std::fs::write(root.join("a.txt"), format!("{pat} {pat}\n")).unwrap();
    std::fs::write(root.join(".git/config"), &pat).unwrap();
    let mut binary = pat.clone().into_bytes();
    binary.insert(0, 0);
    std::fs::write(root.join("blob.dat"), &binary).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(root.join("a.txt"), root.join("link.txt")).unwrap();
    let (found, stats) = scan_path(builtin(), root).unwrap();
    let located: Vec<(&str, u64, u64)> = found
        .iter()
        .map(|f| (f.path.as_str(), f.line, f.column))
        .collect();
    assert_eq!(
        located,
        [("a.txt", 1, 1), ("a.txt", 1, 42), ("b/c/z.txt", 2, 1)]
    );
    assert_eq!(stats.files, 2);
    assert_eq!(stats.skipped_binary, 1);
    assert_eq!(stats.bytes, (pat.len() * 2 + 2 + pat.len() + 3) as u64);
    // A single file: its own name.
    let (one, _) = scan_path(builtin(), &root.join("b/c/z.txt")).unwrap();
    assert_eq!(one[0].path, "z.txt");
    assert!(scan_path(builtin(), &root.join("missing")).is_err());
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=Fake Dev",
            "-c",
            "user.email=dev@example.invalid",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn secrets_history_finds_a_secret_deleted_by_a_later_commit() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    git(repo, &["init", "-q"]);
    let key = format!("AKIA{}", "QX7ZP3MW5KD2RT6B");
    std::fs::write(repo.join("README.md"), "# demo\n").unwrap();
    std::fs::write(
        repo.join("config.py"),
        format!("import os\n\nAWS_KEY = \"{key}\"\n"),
    )
    .unwrap();
    git(repo, &["add", "."]);
    git(repo, &["commit", "-q", "-m", "add config"]);
    let first = git(repo, &["rev-parse", "HEAD"]);
    std::fs::remove_file(repo.join("config.py")).unwrap();
    git(repo, &["commit", "-q", "-am", "remove config"]);
    // A branch holding a secret that never reached main, in a file modified twice.
    git(repo, &["checkout", "-q", "-b", "side"]);
    std::fs::write(repo.join("README.md"), "# demo\nline two\n").unwrap();
    git(repo, &["commit", "-q", "-am", "readme"]);
    let token = format!("glpat-{}", "Zq8WvL2mXr7TnB4kPy9d");
    std::fs::write(
        repo.join("README.md"),
        format!("# demo\nline two\ntoken {token}\n"),
    )
    .unwrap();
    git(repo, &["commit", "-q", "-am", "token"]);
    let side = git(repo, &["rev-parse", "HEAD"]);
    git(repo, &["checkout", "-q", "main"]);

    let (tree, _) = scan_path(builtin(), repo).unwrap();
    assert!(tree.is_empty(), "{tree:?}");

    let (found, stats) = scan_git_history(builtin(), repo).unwrap();
    assert_eq!(
        ids(&found),
        ["gitlab-pat", "aws-access-key-id"],
        "{found:?}"
    );
    let aws = &found[1];
    assert_eq!(aws.path, "config.py");
    assert_eq!(aws.line, 3);
    assert_eq!(aws.column, 12);
    assert_eq!(aws.commit.as_deref(), Some(first.as_str()));
    assert_eq!(
        aws.author.as_deref(),
        Some("Fake Dev <dev@example.invalid>")
    );
    assert!(aws.date.as_deref().unwrap().starts_with("20"));
    assert_eq!(
        aws.fingerprint,
        format!("{first}:config.py:aws-access-key-id:3")
    );
    let gl = &found[0];
    assert_eq!(gl.path, "README.md");
    assert_eq!(gl.line, 3);
    assert_eq!(gl.commit.as_deref(), Some(side.as_str()));
    assert!(stats.files >= 4 && stats.bytes > 0, "{stats:?}");

    assert!(matches!(
        scan_git_history(builtin(), dir.path().join("nope").as_path()),
        Err(ScanError::Git(_))
    ));
    let empty = tempfile::tempdir().unwrap();
    git(empty.path(), &["init", "-q"]);
    let (none, _) = scan_git_history(builtin(), empty.path()).unwrap();
    assert!(none.is_empty());
}

/// A fake AWS access key id, different for each `tag` (`A`–`Z`).
fn aws_key(tag: char) -> String {
    format!("AKIA{}{tag}", "QX7ZP3MW5KD2RT6")
}

/// The (path, commit) of each finding.
fn where_found(found: &[SecretFinding]) -> Vec<(&str, &str)> {
    found
        .iter()
        .map(|f| (f.path.as_str(), f.commit.as_deref().unwrap()))
        .collect()
}

#[test]
fn secrets_history_reads_every_ref_once() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    git(repo, &["init", "-q"]);
    std::fs::write(repo.join("README.md"), "# demo\n").unwrap();
    git(repo, &["add", "."]);
    git(repo, &["commit", "-q", "-m", "init"]);
    // A branch that is neither merged nor checked out, named by two branches.
    git(repo, &["checkout", "-q", "-b", "feature"]);
    std::fs::write(
        repo.join("feature.py"),
        format!("KEY = \"{}\"\n", aws_key('B')),
    )
    .unwrap();
    git(repo, &["add", "."]);
    git(repo, &["commit", "-q", "-m", "feature"]);
    let feature = git(repo, &["rev-parse", "HEAD"]);
    git(repo, &["branch", "feature-copy"]);
    // A commit only an annotated tag reaches, one only a lightweight tag reaches, one only a
    // remote-tracking ref reaches.
    let mut only = Vec::new();
    for (file, tag, refs) in [
        (
            "annotated.py",
            'C',
            vec!["tag", "-a", "-m", "release", "v1"],
        ),
        ("light.py", 'D', vec!["tag", "v2"]),
        (
            "remote.py",
            'E',
            vec!["update-ref", "refs/remotes/origin/gone", "HEAD"],
        ),
    ] {
        git(repo, &["checkout", "-q", "--detach", "main"]);
        std::fs::write(repo.join(file), format!("KEY = \"{}\"\n", aws_key(tag))).unwrap();
        git(repo, &["add", "."]);
        git(repo, &["commit", "-q", "-m", file]);
        only.push((file, git(repo, &["rev-parse", "HEAD"])));
        git(repo, &refs);
    }
    git(repo, &["checkout", "-q", "main"]);

    let (tree, _) = scan_path(builtin(), repo).unwrap();
    assert!(tree.is_empty(), "{tree:?}");
    let (found, stats) = scan_git_history(builtin(), repo).unwrap();
    let mut expected = vec![("feature.py", feature.as_str())];
    expected.extend(only.iter().map(|(f, c)| (*f, c.as_str())));
    expected.sort();
    let mut got = where_found(&found);
    got.sort();
    assert_eq!(got, expected, "{found:?}");
    assert!(found.iter().all(|f| f.rule_id == "aws-access-key-id"));
    // README once, then each file of its own commit.
    assert_eq!(stats.files, 5, "{stats:?}");
    // The git folder or a folder inside the work tree name the same repository.
    std::fs::create_dir(repo.join("sub")).unwrap();
    for from in [repo.join(".git"), repo.join("sub")] {
        let (again, _) = scan_git_history(builtin(), &from).unwrap();
        assert_eq!(again, found);
    }
}

#[test]
fn secrets_history_reports_merged_lines_once() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    git(repo, &["init", "-q"]);
    std::fs::write(repo.join("README.md"), "# demo\n").unwrap();
    git(repo, &["add", "."]);
    git(repo, &["commit", "-q", "-m", "init"]);
    git(repo, &["checkout", "-q", "-b", "topic"]);
    std::fs::write(
        repo.join("topic.py"),
        format!("import os\nKEY = \"{}\"\n", aws_key('F')),
    )
    .unwrap();
    std::fs::write(repo.join("README.md"), "# demo\ntopic\n").unwrap();
    git(repo, &["add", "."]);
    git(repo, &["commit", "-q", "-m", "topic"]);
    let topic = git(repo, &["rev-parse", "HEAD"]);
    git(repo, &["checkout", "-q", "main"]);
    std::fs::write(repo.join("main.txt"), "main moves on\n").unwrap();
    git(repo, &["add", "."]);
    git(repo, &["commit", "-q", "-m", "main"]);
    git(
        repo,
        &["merge", "-q", "--no-ff", "-m", "merge topic", "topic"],
    );
    // An "evil" merge: a line that none of its parents has is the merge's own.
    git(repo, &["checkout", "-q", "-b", "other", "HEAD~1"]);
    std::fs::write(repo.join("other.txt"), "other\n").unwrap();
    git(repo, &["add", "."]);
    git(repo, &["commit", "-q", "-m", "other"]);
    git(repo, &["checkout", "-q", "main"]);
    git(repo, &["merge", "-q", "--no-ff", "--no-commit", "other"]);
    std::fs::write(
        repo.join("topic.py"),
        format!(
            "import os\nKEY = \"{}\"\nOTHER = \"{}\"\n",
            aws_key('F'),
            aws_key('G')
        ),
    )
    .unwrap();
    git(repo, &["add", "."]);
    git(repo, &["commit", "-q", "-m", "merge other"]);
    let evil = git(repo, &["rev-parse", "HEAD"]);
    assert_eq!(git(repo, &["rev-list", "--merges", "--count", "HEAD"]), "2");

    let (found, _) = scan_git_history(builtin(), repo).unwrap();
    assert_eq!(
        where_found(&found),
        [("topic.py", topic.as_str()), ("topic.py", evil.as_str())],
        "{found:?}"
    );
    assert_eq!((found[0].line, found[1].line), (2, 3));
}

#[test]
fn secrets_history_blames_the_commit_that_added_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    let commit = |message: &str| {
        git(repo, &["add", "-A"]);
        git(repo, &["commit", "-q", "-m", message]);
        git(repo, &["rev-parse", "HEAD"])
    };
    git(repo, &["init", "-q"]);
    let body = "import os\n\ndef main():\n    pass\n";
    std::fs::write(repo.join("app.py"), body).unwrap();
    commit("app");
    std::fs::write(
        repo.join("app.py"),
        format!(
            "import os\n\nTOKEN = \"{}\"\n\ndef main():\n    pass\n",
            aws_key('H')
        ),
    )
    .unwrap();
    let added = commit("token");
    std::fs::write(repo.join("app.py"), format!("{body}    return 0\n")).unwrap();
    commit("no token");
    // A file renamed as is, then renamed with an edit: its secret stays the first commit's.
    let config: String = (0..20).map(|i| format!("OPTION_{i} = {i}\n")).collect();
    std::fs::write(
        repo.join("conf.py"),
        format!("{config}KEY = \"{}\"\n", aws_key('I')),
    )
    .unwrap();
    let conf = commit("conf");
    git(repo, &["mv", "conf.py", "settings.py"]);
    commit("rename");
    std::fs::create_dir(repo.join("config")).unwrap();
    git(repo, &["mv", "settings.py", "config/settings.py"]);
    let moved = std::fs::read_to_string(repo.join("config/settings.py")).unwrap();
    std::fs::write(
        repo.join("config/settings.py"),
        format!("{moved}DEBUG = 0\n"),
    )
    .unwrap();
    commit("move and edit");
    // Binary blobs are skipped.
    let mut binary = b"\x00\x01PNG".to_vec();
    binary.extend_from_slice(format!("KEY = \"{}\"\n", aws_key('J')).as_bytes());
    std::fs::write(repo.join("payload"), binary).unwrap();
    commit("binary");

    let (found, stats) = scan_git_history(builtin(), repo).unwrap();
    assert_eq!(
        where_found(&found),
        [("app.py", added.as_str()), ("conf.py", conf.as_str())],
        "{found:?}"
    );
    assert_eq!((found[0].line, found[0].column), (3, 10));
    assert_eq!(found[1].line, 21);
    assert_eq!(stats.skipped_binary, 1, "{stats:?}");
    // app.py thrice, conf.py, the edited config/settings.py (one added line).
    assert_eq!(stats.files, 5, "{stats:?}");
}

#[test]
fn secrets_history_of_empty_and_missing_repositories() {
    let empty = tempfile::tempdir().unwrap();
    git(empty.path(), &["init", "-q"]);
    let (found, stats) = scan_git_history(builtin(), empty.path()).unwrap();
    assert!(found.is_empty());
    assert_eq!(stats, ScanStats::default());

    let plain = tempfile::tempdir().unwrap();
    std::fs::write(plain.path().join("a.txt"), "text\n").unwrap();
    for path in [plain.path().to_path_buf(), plain.path().join("missing")] {
        match scan_git_history(builtin(), &path) {
            Err(ScanError::Git(msg)) => {
                assert!(msg.contains("not a git repository"), "{msg}");
                assert!(msg.contains(&path.display().to_string()), "{msg}");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn secrets_sarif_shape() {
    let set = builtin();
    let text = format!(
        "a = ghp_{FAKE}{}\nb = AKIA{}\n",
        &FAKE[..12],
        "QX7ZP3MW5KD2RT6B"
    );
    let found = scan_bytes(set, "src/a.txt", text.as_bytes());
    assert_eq!(found.len(), 2);
    let sarif = to_sarif(&found, set);
    assert_eq!(sarif["version"], "2.1.0");
    let runs = sarif["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["tool"]["driver"]["name"], "citadel");
    assert_eq!(
        runs[0]["tool"]["driver"]["rules"].as_array().unwrap().len(),
        set.len()
    );
    let results = runs[0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["ruleId"], "github-pat");
    let loc = &results[0]["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "src/a.txt");
    assert_eq!(loc["region"]["startLine"], 1);
    assert_eq!(loc["region"]["startColumn"], 5);
    assert_eq!(results[1]["ruleId"], "aws-access-key-id");
    let idx = results[1]["ruleIndex"].as_u64().unwrap() as usize;
    assert_eq!(
        runs[0]["tool"]["driver"]["rules"][idx]["id"],
        "aws-access-key-id"
    );
    assert!(results[1]["partialFingerprints"].as_object().unwrap().len() == 1);
    // The secret never appears.
    assert!(!sarif.to_string().contains("QX7ZP3MW5KD2RT6B"));
}

#[test]
fn secrets_pre_commit_hook_install() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    git(repo, &["init", "-q"]);
    let path = install_pre_commit_hook(repo).unwrap();
    assert!(path.ends_with("hooks/pre-commit"), "{}", path.display());
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("#!/bin/sh\n"));
    assert!(text.contains("scan secrets"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
    }
    // Ours: reinstalling replaces it.
    assert_eq!(install_pre_commit_hook(repo).unwrap(), path);
    // Foreign: refused, untouched.
    std::fs::write(&path, "#!/bin/sh\nmake lint\n").unwrap();
    match install_pre_commit_hook(repo) {
        Err(ScanError::InvalidInput(msg)) => {
            assert!(msg.contains("not installed by citadel"), "{msg}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "#!/bin/sh\nmake lint\n"
    );
    let not_repo = tempfile::tempdir().unwrap();
    assert!(install_pre_commit_hook(not_repo.path()).is_err());
}

#[test]
fn secrets_throughput_on_a_20_mb_tree() {
    // CITADEL_SCAN_BENCH_BYTES overrides the size (the real figure comes from `citadel bench
    // scan`, in release).
    let size: u64 = std::env::var("CITADEL_SCAN_BENCH_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000_000);
    let dir = tempfile::tempdir().unwrap();
    let written = bench_tree(dir.path(), size).unwrap();
    assert!((size..size + 300_000).contains(&written), "{written}");
    let set = builtin();
    let start = std::time::Instant::now();
    let (found, stats) = scan_path(set, dir.path()).unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(stats.bytes, written);
    let mb_s = written as f64 / 1e6 / secs;
    println!(
        "secret scan: {} files, {:.1} MB in {:.3} s = {mb_s:.0} MB/s, {} findings",
        stats.files,
        written as f64 / 1e6,
        secs,
        found.len()
    );
    // Every kind of planted secret is found; the filler yields nothing (about one plant per
    // 512 KiB of text).
    let rules: BTreeSet<&str> = found.iter().map(|f| f.rule_id.as_str()).collect();
    let expected: BTreeSet<&str> = [
        "aws-access-key-id",
        "citadel-pat",
        "database-url-password",
        "generic-api-key",
        "github-pat",
        "gitlab-pat",
        "huggingface-access-token",
        "jwt",
        "private-key-pkcs8",
        "slack-bot-token",
        "stripe-secret-key",
    ]
    .into_iter()
    .collect();
    assert_eq!(rules, expected);
    let plants = written / (512 * 1024);
    assert!(
        (plants * 8 / 10..=plants * 12 / 10 + 2).contains(&(found.len() as u64)),
        "{} findings for about {plants} plants",
        found.len()
    );
}

#[test]
fn secrets_rules_for_a_root_prefer_its_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let (set, used) = RuleSet::for_root(dir.path()).unwrap();
    assert_eq!((set.len(), used), (builtin().len(), None));
    std::fs::write(
        dir.path().join(".gitleaks.toml"),
        "[[rules]]\nid = \"own\"\nregex = 'own_[0-9]{4}'\n",
    )
    .unwrap();
    let (set, used) = RuleSet::for_root(dir.path()).unwrap();
    assert_eq!(set.ids(), ["own"]);
    assert!(used.unwrap().ends_with(".gitleaks.toml"));
    std::fs::write(
        dir.path().join(".citadel-secrets.toml"),
        "[extend]\nuseDefault = true\ndisabledRules = [\"jwt\"]\n",
    )
    .unwrap();
    let (set, used) = RuleSet::for_root(dir.path()).unwrap();
    assert_eq!(set.len(), builtin().len() - 1);
    assert!(used.unwrap().ends_with(".citadel-secrets.toml"));
    std::fs::write(dir.path().join(".citadel-secrets.toml"), "[[rules]]\n").unwrap();
    let err = RuleSet::for_root(dir.path()).unwrap_err().to_string();
    assert!(err.contains("rule"), "{err}");
    // This repository's own configuration parses and extends the built-in rules.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let (set, used) = RuleSet::for_root(&repo).unwrap();
    assert!(used.is_some());
    assert_eq!(set.len(), builtin().len());
}

#[test]
fn secrets_path_only_rules_report_the_file() {
    let set = RuleSet::from_toml(
        "[[rules]]\nid = \"pem-file\"\ndescription = \"key file\"\npath = '\\.pem$'\n",
    )
    .unwrap();
    let f = scan_bytes(&set, "certs/server.pem", b"anything");
    assert_eq!(ids(&f), ["pem-file"]);
    assert_eq!((f[0].line, f[0].column), (1, 1));
    assert!(scan_bytes(&set, "certs/server.crt", b"anything").is_empty());
}

#[test]
fn secrets_repository_scans_clean_with_its_config() {
    // This repository has no finding under its own `.citadel-secrets.toml` (which keeps
    // `target/` unread): what CI's `citadel scan secrets .` checks.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let (set, _) = RuleSet::for_root(&repo).unwrap();
    let (found, stats) = scan_path(&set, &repo).unwrap();
    let listed: Vec<String> = found
        .iter()
        .map(|f| format!("{}:{} {}", f.path, f.line, f.rule_id))
        .collect();
    assert!(stats.files > 100, "{stats:?}");
    assert!(listed.is_empty(), "{listed:?}");
}
