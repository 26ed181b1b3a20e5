//! The acceptance tamper tests: audit rows edited, deleted, inserted, reordered or cut off
//! directly in SQL, behind the store's back; `verify_audit` names the right seq and what is wrong.

use citadel_audit::{AuditEvent, EventDraft, FailureKind, GENESIS_HASH};
use futures::TryStreamExt;
use sqlx::AnyConnection;
use time::OffsetDateTime;

use crate::harness::{admin, append_events, TestDb};
use crate::store_test;

/// 25 events, checkpoints at 10, 20 and (exit) 25.
async fn chain_of_25(db: &TestDb) -> Vec<AuditEvent> {
    append_events(&db.store, 25).await;
    db.store.checkpoint_now().await.unwrap();
    let events: Vec<AuditEvent> = db.store.audit_stream(1).try_collect().await.unwrap();
    assert_eq!(events.len(), 25);
    events
}

async fn first_failure(db: &TestDb) -> (u64, FailureKind) {
    let report = db
        .store
        .verify_audit(&db.signer.public_key())
        .await
        .unwrap();
    let failure = report.failure.expect("tampering must be detected");
    (failure.seq, failure.kind)
}

async fn exec(conn: &mut AnyConnection, sql: &str) {
    sqlx::query(sql).execute(conn).await.unwrap();
}

/// Writes every column of `e` except seq into row `seq`.
async fn overwrite_row(conn: &mut AnyConnection, seq: u64, e: &AuditEvent) {
    sqlx::query(
        "UPDATE audit_events SET time = $1, actor_id = $2, actor_name = $3, action = $4, \
         securable = $5, params = $6, outcome = $7, reason = $8, request_id = $9, prev_hash = $10, \
         hash = $11 WHERE seq = $12",
    )
    .bind(e.time.clone())
    .bind(e.actor_id.clone())
    .bind(e.actor_name.clone())
    .bind(e.action.clone())
    .bind(e.securable.clone())
    .bind(e.params.to_string())
    .bind(e.outcome.as_str())
    .bind(e.reason.clone())
    .bind(e.request_id.clone())
    .bind(e.prev_hash.clone())
    .bind(e.hash.clone())
    .bind(i64::try_from(seq).unwrap())
    .execute(conn)
    .await
    .unwrap();
}

async fn insert_row(conn: &mut AnyConnection, e: &AuditEvent) {
    exec(conn, &format!("INSERT INTO audit_events (seq, time, actor_name, action, params, outcome, request_id, prev_hash, hash) VALUES ({}, 'x', 'x', 'x', '{{}}', 'success', 'x', 'x', 'x')", e.seq)).await;
    overwrite_row(conn, e.seq, e).await;
}

store_test!(intact_chain_verifies);
async fn intact_chain_verifies(db: &TestDb) {
    chain_of_25(db).await;
    let report = db
        .store
        .verify_audit(&db.signer.public_key())
        .await
        .unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.checkpoints_verified, 3);
}

store_test!(edited_row_is_named);
async fn edited_row_is_named(db: &TestDb) {
    chain_of_25(db).await;
    exec(
        &mut db.raw().await,
        "UPDATE audit_events SET actor_name = 'mallory' WHERE seq = 7",
    )
    .await;
    assert_eq!(first_failure(db).await, (7, FailureKind::Edited));
}

store_test!(row_edited_into_an_unreadable_value_is_named);
async fn row_edited_into_an_unreadable_value_is_named(db: &TestDb) {
    chain_of_25(db).await;
    let mut conn = db.raw().await;
    exec(
        &mut conn,
        "UPDATE audit_events SET outcome = 'bogus' WHERE seq = 9",
    )
    .await;
    assert_eq!(first_failure(db).await, (9, FailureKind::Edited));
    exec(
        &mut conn,
        "UPDATE audit_events SET params = 'not json' WHERE seq = 4",
    )
    .await;
    assert_eq!(first_failure(db).await, (4, FailureKind::Edited));
}

store_test!(edited_and_rehashed_row_is_named);
async fn edited_and_rehashed_row_is_named(db: &TestDb) {
    let mut events = chain_of_25(db).await;
    events[6].outcome = citadel_audit::Outcome::Denied;
    events[6].hash = events[6].compute_hash();
    overwrite_row(&mut db.raw().await, 7, &events[6]).await;
    assert_eq!(first_failure(db).await, (7, FailureKind::Edited));
}

store_test!(deleted_row_is_named);
async fn deleted_row_is_named(db: &TestDb) {
    chain_of_25(db).await;
    exec(
        &mut db.raw().await,
        "DELETE FROM audit_events WHERE seq = 7",
    )
    .await;
    assert_eq!(first_failure(db).await, (7, FailureKind::Deleted));
}

store_test!(deleted_row_with_renumbering_is_named);
async fn deleted_row_with_renumbering_is_named(db: &TestDb) {
    chain_of_25(db).await;
    let mut conn = db.raw().await;
    exec(&mut conn, "DELETE FROM audit_events WHERE seq = 7").await;
    exec(
        &mut conn,
        "UPDATE audit_events SET seq = seq + 1000 WHERE seq > 7",
    )
    .await;
    exec(
        &mut conn,
        "UPDATE audit_events SET seq = seq - 1001 WHERE seq > 1000",
    )
    .await;
    exec(&mut conn, "UPDATE audit_head SET seq = seq - 1").await;
    assert_eq!(first_failure(db).await, (7, FailureKind::Deleted));
}

store_test!(inserted_row_is_named);
async fn inserted_row_is_named(db: &TestDb) {
    let events = chain_of_25(db).await;
    let mut conn = db.raw().await;
    // Make room at seq 7 and insert a well-formed forged event linked to event 6.
    exec(
        &mut conn,
        "UPDATE audit_events SET seq = seq + 1000 WHERE seq >= 7",
    )
    .await;
    exec(
        &mut conn,
        "UPDATE audit_events SET seq = seq - 999 WHERE seq > 1000",
    )
    .await;
    exec(&mut conn, "UPDATE audit_head SET seq = seq + 1").await;
    let forged = EventDraft::new(&admin(), "req-forged", "grant.create")
        .on("catalog:prod")
        .seal(7, &events[5].hash, OffsetDateTime::now_utc())
        .unwrap();
    insert_row(&mut conn, &forged).await;
    assert_eq!(first_failure(db).await, (7, FailureKind::Inserted));
}

store_test!(row_appended_past_the_head_is_named);
async fn row_appended_past_the_head_is_named(db: &TestDb) {
    let events = chain_of_25(db).await;
    let forged = EventDraft::new(&admin(), "req-forged", "grant.create")
        .seal(26, &events[24].hash, OffsetDateTime::now_utc())
        .unwrap();
    insert_row(&mut db.raw().await, &forged).await;
    assert_eq!(first_failure(db).await, (26, FailureKind::Inserted));
}

store_test!(swapped_rows_are_reordered);
async fn swapped_rows_are_reordered(db: &TestDb) {
    let events = chain_of_25(db).await;
    let mut conn = db.raw().await;
    overwrite_row(&mut conn, 7, &events[7]).await;
    overwrite_row(&mut conn, 8, &events[6]).await;
    assert_eq!(first_failure(db).await, (7, FailureKind::Reordered));
}

store_test!(chain_cut_before_the_last_checkpoint_is_named);
async fn chain_cut_before_the_last_checkpoint_is_named(db: &TestDb) {
    chain_of_25(db).await;
    let mut conn = db.raw().await;
    exec(&mut conn, "DELETE FROM audit_events WHERE seq > 22").await;
    // Even with the head rewound to match, the signed checkpoint at 25 proves the cut.
    let row: (String,) = sqlx::query_as("SELECT hash FROM audit_events WHERE seq = 22")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_head SET seq = 22, hash = $1")
        .bind(row.0)
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(first_failure(db).await, (23, FailureKind::Truncated));
}

store_test!(events_cut_after_the_last_checkpoint_are_named);
async fn events_cut_after_the_last_checkpoint_are_named(db: &TestDb) {
    append_events(&db.store, 25).await;
    exec(
        &mut db.raw().await,
        "DELETE FROM audit_events WHERE seq > 22",
    )
    .await;
    assert_eq!(first_failure(db).await, (23, FailureKind::Truncated));
}

store_test!(forged_checkpoint_signature_is_named);
async fn forged_checkpoint_signature_is_named(db: &TestDb) {
    chain_of_25(db).await;
    let zeros = "00".repeat(64);
    exec(
        &mut db.raw().await,
        &format!("UPDATE audit_checkpoints SET signature = '{zeros}' WHERE seq = 20"),
    )
    .await;
    assert_eq!(
        first_failure(db).await,
        (20, FailureKind::BadCheckpointSignature)
    );
}

store_test!(rewritten_chain_fails_at_the_next_checkpoint);
async fn rewritten_chain_fails_at_the_next_checkpoint(db: &TestDb) {
    let mut events = chain_of_25(db).await;
    let mut conn = db.raw().await;
    // Rewrite from event 12 on with recomputed hashes: only the signature at 20 catches it.
    events[11].action = "grant.delete".into();
    let mut prev = events[10].hash.clone();
    for e in &mut events[11..] {
        e.prev_hash = prev;
        e.hash = e.compute_hash();
        prev = e.hash.clone();
        overwrite_row(&mut conn, e.seq, e).await;
    }
    sqlx::query("UPDATE audit_head SET hash = $1")
        .bind(prev)
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        first_failure(db).await,
        (20, FailureKind::CheckpointMismatch)
    );
}

store_test!(empty_log_verifies);
async fn empty_log_verifies(db: &TestDb) {
    let report = db
        .store
        .verify_audit(&db.signer.public_key())
        .await
        .unwrap();
    assert!(report.is_intact());
    assert_eq!(db.store.audit_head().await.unwrap().hash, GENESIS_HASH);
}
