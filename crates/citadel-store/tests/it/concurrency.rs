//! Appends from many tasks and two independent stores (pools) on one database at once keep one
//! valid chain: the head lock serializes them across connections, as across processes.

use std::collections::BTreeSet;

use citadel_core::PrincipalKind;
use citadel_store::AuditWriter;
use tokio::task::JoinSet;

use crate::harness::{event, TestDb};
use crate::store_test;

store_test!(two_stores_and_many_tasks_keep_one_chain);
async fn two_stores_and_many_tasks_keep_one_chain(db: &TestDb) {
    let stores = [db.store.clone(), db.second_store().await];
    let mut tasks = JoinSet::new();
    for (s, store) in stores.iter().enumerate() {
        let writer = AuditWriter::spawn(store.clone(), 32);
        for t in 0..8 {
            let store = store.clone();
            let writer = writer.clone();
            tasks.spawn(async move {
                let mut seqs = Vec::new();
                for i in 0..25 {
                    let seq = match i % 3 {
                        0 => writer.append(event("test.group")).await.unwrap(),
                        1 => store.audit(event("test.single")).await.unwrap(),
                        _ => {
                            let mut tx = store.begin_write().await.unwrap();
                            tx.create_principal(
                                PrincipalKind::User,
                                &format!("u{s}-{t}-{i}"),
                                None,
                            )
                            .await
                            .unwrap();
                            tx.commit(event("principal.create")).await.unwrap()
                        }
                    };
                    seqs.push(seq);
                }
                seqs
            });
        }
    }
    let mut all = BTreeSet::new();
    while let Some(seqs) = tasks.join_next().await {
        for seq in seqs.unwrap() {
            assert!(all.insert(seq), "seq {seq} handed out twice");
        }
    }
    assert_eq!(all.len(), 400);
    assert_eq!(
        all.iter().copied().collect::<Vec<_>>(),
        (1..=400).collect::<Vec<_>>()
    );
    stores[1].checkpoint_now().await.unwrap();
    let report = db
        .store
        .verify_audit(&db.signer.public_key())
        .await
        .unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events_verified, 400);
    // A checkpoint is due once 10 events passed; a group-commit batch may carry past that.
    assert!(report.checkpoints_verified >= 5, "{report:?}");
    stores[1].close().await;
}

store_test!(group_commit_batches_hand_out_contiguous_seqs);
async fn group_commit_batches_hand_out_contiguous_seqs(db: &TestDb) {
    let bench = citadel_store::bench_audit_append(&db.store, 3000, 64)
        .await
        .unwrap();
    assert_eq!(bench.events, 3000);
    assert!(bench.events_per_s > 0.0);
    let head = db.store.audit_head().await.unwrap();
    assert_eq!(head.seq, 3000);
    let report = db
        .store
        .verify_audit(&db.signer.public_key())
        .await
        .unwrap();
    assert!(report.is_intact(), "{report:?}");
}

const CHILD_URL_VAR: &str = "CITADEL_TEST_CHILD_DATABASE_URL";

/// The body of each child process of `two_processes_keep_one_chain` (does nothing on its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_process_appender() {
    let Ok(url) = std::env::var(CHILD_URL_VAR) else {
        return;
    };
    let store = citadel_store::Store::open(citadel_store::StoreOptions::new(url))
        .await
        .unwrap();
    let writer = AuditWriter::spawn(store.clone(), 32);
    let mut tasks = JoinSet::new();
    for t in 0..4 {
        let (store, writer) = (store.clone(), writer.clone());
        tasks.spawn(async move {
            for i in 0..50 {
                if (t + i) % 2 == 0 {
                    writer.append(event("test.child.group")).await.unwrap();
                } else {
                    store.audit(event("test.child.single")).await.unwrap();
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    store.close().await;
}

store_test!(two_processes_keep_one_chain);
async fn two_processes_keep_one_chain(db: &TestDb) {
    let exe = std::env::current_exe().unwrap();
    let spawn = || {
        std::process::Command::new(&exe)
            .args([
                "concurrency::child_process_appender",
                "--exact",
                "--test-threads=1",
            ])
            .env(CHILD_URL_VAR, &db.url)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut children = [spawn(), spawn()];
    append_in_parent(db).await;
    for child in &mut children {
        assert!(child.wait().unwrap().success());
    }
    db.store.checkpoint_now().await.unwrap();
    let report = db
        .store
        .verify_audit(&db.signer.public_key())
        .await
        .unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events_verified, 2 * 200 + 100);
}

async fn append_in_parent(db: &TestDb) {
    for _ in 0..100 {
        db.store.audit(event("test.parent")).await.unwrap();
    }
}
