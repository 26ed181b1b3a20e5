//! The audit chain through every write path: WriteTx commits, standalone events, group commit,
//! checkpoints, queries, export (checked by the third-party Python verifier) and rollback.

use std::path::Path;
use std::process::Command;

use citadel_audit::export::read_jsonl;
use citadel_audit::{Actor, ChainStart, EventDraft, Outcome};
use citadel_core::PrincipalKind;
use citadel_store::{AuditFilter, AuditWriter};
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::harness::{append_events, event, TestDb};
use crate::store_test;

store_test!(every_write_path_extends_one_verified_chain);
async fn every_write_path_extends_one_verified_chain(db: &TestDb) {
    let store = &db.store;
    let mut tx = store.begin_write().await.unwrap();
    let alice = tx
        .create_principal(PrincipalKind::User, "alice", None)
        .await
        .unwrap();
    let seq = tx
        .commit(
            event("principal.create")
                .on("principal:alice")
                .with_params(json!({"name": "alice"})),
        )
        .await
        .unwrap();
    assert_eq!(seq, 1);
    assert_eq!(
        store.principal(alice.id).await.unwrap().unwrap().name,
        "alice"
    );

    let denied =
        EventDraft::new(&Actor::anonymous(), "req-2", "auth.authenticate").denied("unknown token");
    assert_eq!(store.audit(denied).await.unwrap(), 2);

    let writer = AuditWriter::spawn(store.clone(), 64);
    let mut seqs = Vec::new();
    for _ in 0..20 {
        seqs.push(writer.append(event("model.read")).await.unwrap());
    }
    assert_eq!(seqs, (3..=22).collect::<Vec<_>>());

    // Checkpoints every 10 events, then one at exit; none when the head has not moved.
    let cp = store.checkpoint_now().await.unwrap().unwrap();
    assert_eq!(cp.seq, 22);
    assert!(store.checkpoint_now().await.unwrap().is_none());
    let cps: Vec<u64> = store
        .audit_checkpoints()
        .await
        .unwrap()
        .iter()
        .map(|c| c.seq)
        .collect();
    assert_eq!(cps.len(), 3);
    assert_eq!(cps[2], 22);
    assert!(cps[0] >= 10 && cps[1] >= 20);

    let head = store.audit_head().await.unwrap();
    assert_eq!(head.seq, 22);
    let report = store.verify_audit(&db.signer.public_key()).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events_verified, 22);
    assert_eq!(report.checkpoints_verified, 3);
    assert_eq!(report.head_hash.as_deref(), Some(head.hash.as_str()));
}

store_test!(dropped_write_tx_persists_nothing);
async fn dropped_write_tx_persists_nothing(db: &TestDb) {
    let store = &db.store;
    {
        let mut tx = store.begin_write().await.unwrap();
        tx.create_principal(PrincipalKind::User, "ghost", None)
            .await
            .unwrap();
    }
    assert!(store.principal_by_name("ghost").await.unwrap().is_none());
    assert_eq!(store.audit_head().await.unwrap().seq, 0);
    assert!(store
        .audit_query(&AuditFilter::default())
        .await
        .unwrap()
        .is_empty());
    // The store is still writable afterwards (the lock was released).
    append_events(store, 1).await;
    assert_eq!(store.audit_head().await.unwrap().seq, 1);
}

store_test!(failed_statement_rolls_back_with_its_transaction);
async fn failed_statement_rolls_back_with_its_transaction(db: &TestDb) {
    let store = &db.store;
    let mut tx = store.begin_write().await.unwrap();
    tx.create_principal(PrincipalKind::User, "bob", None)
        .await
        .unwrap();
    tx.commit(event("principal.create")).await.unwrap();
    let mut tx = store.begin_write().await.unwrap();
    tx.create_principal(PrincipalKind::User, "carol", None)
        .await
        .unwrap();
    let err = tx
        .create_principal(PrincipalKind::Group, "bob", None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    drop(tx);
    assert!(store.principal_by_name("carol").await.unwrap().is_none());
    assert_eq!(store.audit_head().await.unwrap().seq, 1);
}

store_test!(audit_query_filters);
async fn audit_query_filters(db: &TestDb) {
    let store = &db.store;
    let bob = Actor::principal("0190b6e2-0000-7000-8000-0000000000b0", "bob");
    store
        .audit(event("principal.create").on("principal:x"))
        .await
        .unwrap();
    store
        .audit(event("grant.create").on("catalog:dev"))
        .await
        .unwrap();
    store
        .audit(
            EventDraft::new(&bob, "r", "grant.create")
                .on("catalog:prod")
                .denied("no MANAGE"),
        )
        .await
        .unwrap();
    store
        .audit(EventDraft::new(&bob, "r", "model.read").failed("io"))
        .await
        .unwrap();
    let q = |f: AuditFilter| async move {
        store
            .audit_query(&f)
            .await
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect::<Vec<_>>()
    };
    assert_eq!(q(AuditFilter::default()).await, vec![1, 2, 3, 4]);
    assert_eq!(
        q(AuditFilter {
            actor: Some("bob".into()),
            ..Default::default()
        })
        .await,
        vec![3, 4]
    );
    assert_eq!(
        q(AuditFilter {
            actor: bob.id.clone(),
            ..Default::default()
        })
        .await,
        vec![3, 4]
    );
    assert_eq!(
        q(AuditFilter {
            action: Some("grant.create".into()),
            ..Default::default()
        })
        .await,
        vec![2, 3]
    );
    assert_eq!(
        q(AuditFilter {
            action: Some("grant.*".into()),
            ..Default::default()
        })
        .await,
        vec![2, 3]
    );
    assert_eq!(
        q(AuditFilter {
            securable: Some("catalog:prod".into()),
            ..Default::default()
        })
        .await,
        vec![3]
    );
    assert_eq!(
        q(AuditFilter {
            outcome: Some(Outcome::Denied),
            ..Default::default()
        })
        .await,
        vec![3]
    );
    assert_eq!(
        q(AuditFilter {
            outcome: Some(Outcome::Failed),
            ..Default::default()
        })
        .await,
        vec![4]
    );
    assert_eq!(
        q(AuditFilter {
            limit: Some(2),
            ..Default::default()
        })
        .await,
        vec![3, 4]
    );
    let now = OffsetDateTime::now_utc();
    assert_eq!(
        q(AuditFilter {
            since: Some(now + Duration::hours(1)),
            ..Default::default()
        })
        .await,
        Vec::<u64>::new()
    );
    assert_eq!(
        q(AuditFilter {
            since: Some(now - Duration::hours(1)),
            until: Some(now + Duration::hours(1)),
            ..Default::default()
        })
        .await,
        vec![1, 2, 3, 4]
    );
    let denied = &store
        .audit_query(&AuditFilter {
            outcome: Some(Outcome::Denied),
            ..Default::default()
        })
        .await
        .unwrap()[0];
    assert_eq!(denied.reason.as_deref(), Some("no MANAGE"));
    assert_eq!(denied.actor_name, "bob");
}

store_test!(secrets_never_reach_the_log);
async fn secrets_never_reach_the_log(db: &TestDb) {
    let store = &db.store;
    store
        .audit(event("token.create").with_params(
            json!({"token": "cit_pat_SECRET1", "note": "cit_pat_SECRET2", "ttl": 5.5}),
        ))
        .await
        .unwrap();
    let e = &store.audit_query(&AuditFilter::default()).await.unwrap()[0];
    assert!(!e.params.to_string().contains("SECRET"), "{}", e.params);
    assert_eq!(e.params["ttl"], "5.5");
}

store_test!(jsonl_export_verifies_in_rust_and_python);
async fn jsonl_export_verifies_in_rust_and_python(db: &TestDb) {
    let store = &db.store;
    let mut tx = store.begin_write().await.unwrap();
    tx.create_principal(PrincipalKind::User, "émile", None)
        .await
        .unwrap();
    tx.commit(
        event("principal.create")
            .with_params(json!({"name": "émile", "quote": "a\"b\\c\n\t\u{1}", "n": -3})),
    )
    .await
    .unwrap();
    append_events(store, 23).await;
    store.checkpoint_now().await.unwrap();
    let key = db.signer.public_key();

    let (bytes, count) = store.export_audit(Vec::new(), &key, None).await.unwrap();
    assert_eq!(count, 24);
    let parsed = read_jsonl(bytes.as_slice()).unwrap();
    let report = citadel_audit::verify(
        parsed.events,
        parsed.checkpoints,
        &parsed.public_key,
        ChainStart::Genesis,
    );
    assert!(report.is_intact(), "{report:?}");

    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("audit.jsonl");
    std::fs::write(&good, &bytes).unwrap();
    let (code, out) = run_python_verifier(&good);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("OK"), "{out}");

    // Edit one event in the file: the script names it.
    let text = String::from_utf8(bytes).unwrap();
    let tampered: String = text
        .lines()
        .map(|l| {
            if l.contains(r#""seq":7,"#) && l.contains(r#""type":"event""#) {
                l.replace("test.append", "test.forged")
            } else {
                l.to_owned()
            }
        })
        .map(|l| l + "\n")
        .collect();
    let bad = dir.path().join("tampered.jsonl");
    std::fs::write(&bad, tampered).unwrap();
    let (code, out) = run_python_verifier(&bad);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("seq 7"), "{out}");

    // A segment export (`--since`) verifies as a segment.
    let (segment, _) = store
        .export_audit(
            Vec::new(),
            &key,
            Some(OffsetDateTime::now_utc() - Duration::hours(1)),
        )
        .await
        .unwrap();
    assert_eq!(read_jsonl(segment.as_slice()).unwrap().events.len(), 24);
}

fn run_python_verifier(export: &Path) -> (Option<i32>, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/verify_audit_export.py");
    let output = Command::new("python3")
        .arg(script)
        .arg(export)
        .output()
        .expect("python3 is required for this test");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}
