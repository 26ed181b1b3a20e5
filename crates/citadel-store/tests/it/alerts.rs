//! Alerts and silences on both engines: one open alert per rule and group, state changes with
//! their audit events, silences in force by time, and inference samples across endpoints.

use citadel_core::{PrincipalId, SecurableId};
use citadel_store::{AlertRecord, InferenceLogRecord, SilenceRecord, StoreError};
use time::{Duration, OffsetDateTime};

use crate::harness::{event, TestDb};
use crate::store_test;

fn alert(id: &str, key: &str, status: &str) -> AlertRecord {
    AlertRecord {
        id: id.into(),
        rule: "failed_authentications".into(),
        severity: "high".into(),
        group_label: Some("address".into()),
        group_key: key.into(),
        status: status.into(),
        value: Some(6.0),
        summary: "brute force".into(),
        // Whole seconds: times are stored to the microsecond.
        started_at: OffsetDateTime::from_unix_timestamp(1_767_268_800).unwrap(),
        fired_at: None,
        resolved_at: None,
        acked_at: None,
        acked_by: None,
        silenced_until: None,
        notification: None,
    }
}

async fn insert(db: &TestDb, record: &AlertRecord) -> Result<(), StoreError> {
    let mut tx = db.store.begin_write().await?;
    tx.insert_alert(record).await?;
    tx.commit(event("alert.fire")).await?;
    Ok(())
}

store_test!(one_open_alert_per_rule_and_group);
async fn one_open_alert_per_rule_and_group(db: &TestDb) {
    let first = alert("a1", "10.0.0.9", "firing");
    insert(db, &first).await.unwrap();
    let duplicate = insert(db, &alert("a2", "10.0.0.9", "pending")).await;
    assert!(
        matches!(duplicate, Err(StoreError::Conflict { .. })),
        "{duplicate:?}"
    );
    insert(db, &alert("a3", "10.0.0.7", "pending"))
        .await
        .unwrap();

    let open = db.store.open_alerts().await.unwrap();
    assert_eq!(open.len(), 2);
    assert_eq!(open.iter().find(|a| a.id == "a1").unwrap(), &first);

    // Resolved, the group may raise a new alert; the pending one is cleared.
    let mut resolved = first.clone();
    resolved.status = "resolved".into();
    resolved.resolved_at = Some(OffsetDateTime::now_utc());
    resolved.notification = Some("resolved 1/1 webhooks".into());
    let mut tx = db.store.begin_write().await.unwrap();
    assert!(tx.update_alert(&resolved).await.unwrap());
    assert!(tx.delete_pending_alert("a3").await.unwrap());
    assert!(
        !tx.delete_pending_alert("a1").await.unwrap(),
        "only pending alerts are deleted"
    );
    tx.commit(event("alert.resolve")).await.unwrap();
    insert(db, &alert("a4", "10.0.0.9", "firing"))
        .await
        .unwrap();

    let recent = db.store.recent_alerts(10).await.unwrap();
    assert_eq!(recent.len(), 2);
    let stored = db.store.alert("a1").await.unwrap().unwrap();
    assert_eq!(stored.status, "resolved");
    assert_eq!(
        stored.notification.as_deref(),
        Some("resolved 1/1 webhooks")
    );
    assert_eq!(stored.value, Some(6.0));
    assert!(db.store.alert("a3").await.unwrap().is_none());
    // Every change came with its audit event.
    let report = db
        .store
        .verify_audit(&db.signer.public_key())
        .await
        .unwrap();
    assert!(report.is_intact());
    assert_eq!(report.events_verified, 4);
}

store_test!(silences_are_in_force_until_they_end);
async fn silences_are_in_force_until_they_end(db: &TestDb) {
    let now = OffsetDateTime::now_utc();
    let silence = |id: &str, key: Option<&str>, ends_at| SilenceRecord {
        id: id.into(),
        rule: "failed_authentications".into(),
        group_key: key.map(str::to_owned),
        ends_at,
        created_by: "admin".into(),
        created_at: now,
        reason: "pen test".into(),
    };
    let mut tx = db.store.begin_write().await.unwrap();
    tx.insert_silence(&silence("s1", Some("10.0.0.9"), now + Duration::hours(2)))
        .await
        .unwrap();
    tx.insert_silence(&silence("s2", None, now - Duration::minutes(1)))
        .await
        .unwrap();
    tx.commit(event("alert.silence")).await.unwrap();
    let active = db.store.active_silences(now).await.unwrap();
    assert_eq!(active.len(), 1);
    assert!(active[0].covers("failed_authentications", "10.0.0.9", now));
    assert!(!active[0].covers("failed_authentications", "10.0.0.7", now));
    assert!(!active[0].covers(
        "failed_authentications",
        "10.0.0.9",
        now + Duration::hours(3)
    ));
}

store_test!(inference_samples_span_every_endpoint);
async fn inference_samples_span_every_endpoint(db: &TestDb) {
    let now = OffsetDateTime::now_utc();
    let rows: Vec<InferenceLogRecord> = (0..6)
        .map(|i| InferenceLogRecord {
            time: now - Duration::minutes(i),
            endpoint: format!("prod.endpoints.e{}", i % 2),
            endpoint_id: SecurableId::new(),
            model: None,
            model_version: None,
            principal_id: Some(PrincipalId::new()),
            principal_name: Some("svc".into()),
            request_id: format!("r{i}"),
            route: "chat".into(),
            prompt: None,
            completion: None,
            tokens_in: 1,
            tokens_out: 1,
            latency_ms: 100 * u64::try_from(i).unwrap(),
            ttft_ms: None,
            guardrails: "[]".into(),
            status: if i == 0 { "error" } else { "ok" }.into(),
            http_status: if i == 0 { 500 } else { 200 },
            client_addr: None,
        })
        .collect();
    db.store.insert_inference_log(&rows).await.unwrap();
    let samples = db
        .store
        .inference_samples_since(now - Duration::seconds(150), 100)
        .await
        .unwrap();
    assert_eq!(samples.len(), 3, "rows 0, 1 and 2 minutes old");
    assert!(samples.windows(2).all(|w| w[0].time <= w[1].time));
    let newest = samples.last().unwrap();
    assert_eq!((newest.http_status, newest.status.as_str()), (500, "error"));
    assert_eq!(samples[0].latency_ms, 200);
    assert_eq!(samples[0].endpoint, "prod.endpoints.e0");
    let limited = db
        .store
        .inference_samples_since(now - Duration::hours(1), 2)
        .await
        .unwrap();
    assert_eq!(limited.len(), 2);
    assert_eq!(limited[1].http_status, 500, "the most recent rows are kept");
}
