//! The inference table: batched inserts in one transaction without audit events, and paged reads
//! by endpoint and time that return every row once, in order.

use citadel_core::{PrincipalId, SecurableId};
use citadel_store::{InferenceLogRecord, StoredInference};
use time::{Duration, OffsetDateTime};

use crate::harness::TestDb;
use crate::store_test;

fn record(endpoint_id: SecurableId, time: OffsetDateTime, i: u64) -> InferenceLogRecord {
    InferenceLogRecord {
        time,
        endpoint: "prod.endpoints.bot".into(),
        endpoint_id,
        model: (i % 3 != 0).then(|| "prod.models.bot".into()),
        model_version: (i % 3 != 0).then_some(u32::try_from(i % 4 + 1).unwrap()),
        principal_id: Some(PrincipalId::new()),
        principal_name: Some(format!("svc-{i}")),
        request_id: format!("req-{i}"),
        route: ["completions", "chat", "invocations"][usize::try_from(i % 3).unwrap()].into(),
        prompt: (i % 2 == 0).then(|| format!("prompt {i} with <EMAIL> and ünïcode")),
        completion: (i % 5 != 0).then(|| format!("completion {i}")),
        tokens_in: i,
        tokens_out: 2 * i,
        latency_ms: 10 + i,
        ttft_ms: (i % 2 == 1).then_some(i / 2),
        guardrails: format!(r#"[{{"check":"pii","action":"mask","n":{i}}}]"#),
        status: if i % 7 == 0 { "blocked" } else { "ok" }.into(),
        http_status: if i % 7 == 0 { 400 } else { 200 },
        client_addr: (i % 4 != 0).then(|| "127.0.0.1".into()),
    }
}

async fn read_all(
    db: &TestDb,
    endpoint: SecurableId,
    since: Option<OffsetDateTime>,
    until: Option<OffsetDateTime>,
) -> Vec<StoredInference> {
    let mut out: Vec<StoredInference> = Vec::new();
    loop {
        let page = db
            .store
            .inference_log_page(
                endpoint,
                since,
                until,
                out.last().map(StoredInference::cursor),
                97,
            )
            .await
            .unwrap();
        if page.is_empty() {
            return out;
        }
        assert!(page.len() <= 97);
        out.extend(page);
    }
}

store_test!(batched_rows_round_trip_in_pages);
async fn batched_rows_round_trip_in_pages(db: &TestDb) {
    let endpoint = SecurableId::new();
    let other = SecurableId::new();
    let start = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap() - Duration::hours(1);
    // 1,203 rows cross the per-statement chunk size; every ten rows share one microsecond, so
    // pages must break ties by write order.
    let rows: Vec<InferenceLogRecord> = (0..1203u64)
        .map(|i| {
            record(
                endpoint,
                start + Duration::milliseconds(i64::try_from(i / 10).unwrap()),
                i,
            )
        })
        .collect();
    let head_before = db.store.audit_head().await.unwrap().seq;
    db.store.insert_inference_log(&rows[..700]).await.unwrap();
    db.store
        .insert_inference_log(&[record(other, start, 99_999)])
        .await
        .unwrap();
    db.store.insert_inference_log(&rows[700..]).await.unwrap();
    db.store.insert_inference_log(&[]).await.unwrap();
    assert_eq!(
        db.store.audit_head().await.unwrap().seq,
        head_before,
        "data-plane rows carry no audit event"
    );

    let all = read_all(db, endpoint, None, None).await;
    let read: Vec<InferenceLogRecord> = all.iter().map(|s| s.record.clone()).collect();
    assert_eq!(read, rows, "every row once, in time then write order");
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));

    let window = read_all(
        db,
        endpoint,
        Some(start + Duration::milliseconds(20)),
        Some(start + Duration::milliseconds(30)),
    )
    .await;
    let ids: Vec<&str> = window
        .iter()
        .map(|s| s.record.request_id.as_str())
        .collect();
    let expected: Vec<String> = (200..300).map(|i| format!("req-{i}")).collect();
    assert_eq!(ids, expected, "since is inclusive, until exclusive");

    let recent = db
        .store
        .recent_inference_log(endpoint, None, 3)
        .await
        .unwrap();
    let ids: Vec<&str> = recent
        .iter()
        .map(|s| s.record.request_id.as_str())
        .collect();
    assert_eq!(
        ids,
        ["req-1200", "req-1201", "req-1202"],
        "newest, oldest first"
    );
    let recent = db
        .store
        .recent_inference_log(endpoint, Some(start + Duration::seconds(3600)), 3)
        .await
        .unwrap();
    assert!(recent.is_empty());
    let other_rows = read_all(db, other, None, None).await;
    assert_eq!(other_rows.len(), 1);
    assert_eq!(other_rows[0].record.request_id, "req-99999");
}

store_test!(a_failing_batch_stores_nothing);
async fn a_failing_batch_stores_nothing(db: &TestDb) {
    let endpoint = SecurableId::new();
    let now = OffsetDateTime::now_utc();
    let mut rows: Vec<InferenceLogRecord> = (0..600).map(|i| record(endpoint, now, i)).collect();
    rows[599].route = "shell".into();
    assert!(db.store.insert_inference_log(&rows).await.is_err());
    assert!(read_all(db, endpoint, None, None).await.is_empty());
}
