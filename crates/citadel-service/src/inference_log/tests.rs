//! The inference log end to end on a fresh home: batching, back-pressure, sampling, shutdown,
//! exports read back (JSONL and Parquet), authorization and audit.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration as StdDuration;

use citadel_core::{PrincipalKind, SecurableId, SecurableKind, TokenScope};
use citadel_store::AuditFilter;
use parquet::basic::{LogicalType, TimeUnit, Type as PhysicalType};
use parquet::file::reader::{FileReader, SerializedFileReader};
use serde_json::{json, Value};
use tempfile::TempDir;
use time::{Duration, OffsetDateTime};

use super::writer::sampled_in;
use super::*;
use crate::{Home, InitOptions, TokenRequest};

pub(crate) struct Fixture {
    _dir: TempDir,
    out: std::path::PathBuf,
    pub(crate) citadel: Citadel,
    admin: Context,
    pub(crate) endpoint: FullName,
    pub(crate) endpoint_id: SecurableId,
}

pub(crate) async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::at(dir.path().join("home"));
    let report = Citadel::init(
        &home,
        InitOptions {
            admin_name: "admin".into(),
        },
    )
    .await
    .unwrap();
    let citadel = Citadel::open(&home).await.unwrap();
    let admin = citadel
        .authenticate(Some(&report.admin_token))
        .await
        .unwrap();
    let endpoint: FullName = "prod.endpoints.bot".parse().unwrap();
    let endpoint_id = create_endpoint(&citadel, &admin, &endpoint).await;
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    Fixture {
        _dir: dir,
        out,
        citadel,
        admin,
        endpoint,
        endpoint_id,
    }
}

/// An endpoint securable, as the endpoints module will create it.
async fn create_endpoint(citadel: &Citadel, ctx: &Context, name: &FullName) -> SecurableId {
    let target = SecurableRef::new(SecurableKind::Endpoint, name.clone()).unwrap();
    let mut tx = citadel.store.begin_write().await.unwrap();
    let row = crate::securable_ref::create_in_schema(&mut tx, ctx, &target)
        .await
        .unwrap();
    tx.commit(ctx.event("test.endpoint.create").on(target.audit_label()))
        .await
        .unwrap();
    row.id
}

fn base_time() -> OffsetDateTime {
    // Whole microseconds: the precision the database keeps.
    let now = OffsetDateTime::now_utc() - Duration::hours(1);
    now.replace_nanosecond(now.nanosecond() / 1000 * 1000)
        .unwrap()
}

pub(crate) fn record(fx: &Fixture, i: u64, status: InferenceStatus) -> InferenceRecord {
    InferenceRecord {
        time: base_time() + Duration::milliseconds(i64::try_from(i).unwrap()),
        endpoint: fx.endpoint.to_string(),
        endpoint_id: fx.endpoint_id,
        model: (i % 3 != 0).then(|| "prod.models.bot".into()),
        model_version: (i % 3 != 0).then_some(3),
        principal_id: Some(fx.admin.principal.id),
        principal_name: Some("admin".into()),
        request_id: format!("req-{i}"),
        route: [
            InferenceRoute::Completions,
            InferenceRoute::Chat,
            InferenceRoute::Invocations,
        ][usize::try_from(i % 3).unwrap()],
        prompt: (i % 2 == 0).then(|| format!("hello <PERSON> nº{i} \"quoted\"\nline")),
        completion: (i % 4 != 1).then(|| format!("answer {i}")),
        tokens_in: i + 1,
        tokens_out: 2 * i,
        latency_ms: 5 + i,
        ttft_ms: (i % 2 == 1).then_some(i),
        guardrails: vec![json!({"check": "pii", "action": "mask", "entities": ["PERSON"]})],
        status,
        http_status: if status == InferenceStatus::Ok {
            200
        } else {
            429
        },
        client_addr: (i % 5 != 0).then(|| "192.0.2.7".into()),
    }
}

fn config(
    sample_rate: f64,
    interval_ms: u64,
    max_rows: usize,
    capacity: usize,
) -> InferenceLogConfig {
    InferenceLogConfig {
        sample_rate,
        flush_interval_ms: interval_ms,
        max_batch_rows: max_rows,
        queue_capacity: capacity,
    }
}

async fn stored(fx: &Fixture) -> Vec<InferenceRecord> {
    fx.citadel
        .query_inference_log(&fx.admin, &fx.endpoint, None, MAX_QUERY_ROWS)
        .await
        .unwrap()
}

async fn wait_written(writer: &InferenceLogWriter, n: u64) {
    let deadline = std::time::Instant::now() + StdDuration::from_secs(10);
    while writer.written() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {n} rows"
        );
        tokio::time::sleep(StdDuration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn rows_arrive_in_order_after_a_flush() {
    let fx = fixture().await;
    let writer = fx
        .citadel
        .inference_log_writer(config(1.0, 60_000, 1000, 100))
        .unwrap();
    let records: Vec<_> = (0..10)
        .map(|i| record(&fx, i, InferenceStatus::Ok))
        .collect();
    for r in &records {
        assert_eq!(writer.clone().record(r.clone()), RecordOutcome::Queued);
    }
    tokio::time::sleep(StdDuration::from_millis(50)).await;
    assert!(stored(&fx).await.is_empty(), "batched, not written per row");
    assert_eq!(writer.written(), 0);
    writer.flush().await;
    assert_eq!(stored(&fx).await, records);
    assert_eq!((writer.written(), writer.dropped()), (10, 0));
    writer.shutdown().await;
}

#[tokio::test]
async fn batches_go_out_when_full_or_when_the_interval_passes() {
    let fx = fixture().await;
    let by_size = fx
        .citadel
        .inference_log_writer(config(1.0, 60_000, 4, 100))
        .unwrap();
    for i in 0..9 {
        by_size.record(record(&fx, i, InferenceStatus::Ok));
    }
    wait_written(&by_size, 8).await;
    tokio::time::sleep(StdDuration::from_millis(50)).await;
    assert_eq!(
        stored(&fx).await.len(),
        8,
        "two full batches, the ninth row waits"
    );
    by_size.shutdown().await;
    assert_eq!(stored(&fx).await.len(), 9);

    let by_time = fx
        .citadel
        .inference_log_writer(config(1.0, 20, 1000, 100))
        .unwrap();
    by_time.record(record(&fx, 100, InferenceStatus::Ok));
    wait_written(&by_time, 1).await;
    assert_eq!(stored(&fx).await.len(), 10);
    by_time.shutdown().await;
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_instead_of_blocking() {
    let fx = fixture().await;
    let writer = fx
        .citadel
        .inference_log_writer(config(1.0, 60_000, 1000, 4))
        .unwrap();
    // On this single-threaded runtime the batching task cannot run until we await, so the queue
    // fills: `record` must return at once with the overflow counted.
    let outcomes: Vec<_> = (0..10)
        .map(|i| writer.record(record(&fx, i, InferenceStatus::Ok)))
        .collect();
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == RecordOutcome::Queued)
            .count(),
        4
    );
    assert!(outcomes[4..].iter().all(|o| *o == RecordOutcome::Dropped));
    assert_eq!(writer.dropped(), 6);
    writer.flush().await;
    let ids: Vec<_> = stored(&fx)
        .await
        .into_iter()
        .map(|r| r.request_id)
        .collect();
    assert_eq!(ids, ["req-0", "req-1", "req-2", "req-3"]);
    assert_eq!(writer.written(), 4);
    writer.shutdown().await;
}

#[tokio::test]
async fn sampling_is_deterministic_and_keeps_every_refusal() {
    let fx = fixture().await;
    let run = || async {
        let writer = fx
            .citadel
            .inference_log_writer(config(0.25, 60_000, 10_000, 10_000))
            .unwrap();
        let kept: BTreeSet<u64> = (0..2000)
            .filter(|i| {
                writer.record(record(&fx, *i, InferenceStatus::Ok)) == RecordOutcome::Queued
            })
            .collect();
        assert_eq!(writer.sampled_out(), 2000 - kept.len() as u64);
        writer.shutdown().await;
        kept
    };
    let first = run().await;
    let second = run().await;
    assert_eq!(first, second, "the same request ids are kept every time");
    assert!(
        (400..600).contains(&first.len()),
        "about a quarter: {}",
        first.len()
    );
    assert!((0..2000).all(|i| sampled_in(&format!("req-{i}"), 0.25) == first.contains(&i)));

    let none = fx
        .citadel
        .inference_log_writer(config(0.0, 60_000, 100, 100))
        .unwrap();
    assert_eq!(
        none.record(record(&fx, 1, InferenceStatus::Ok)),
        RecordOutcome::SampledOut
    );
    for status in [
        InferenceStatus::Blocked,
        InferenceStatus::RateLimited,
        InferenceStatus::Error,
        InferenceStatus::Overloaded,
    ] {
        assert_eq!(none.record(record(&fx, 2, status)), RecordOutcome::Queued);
    }
    // An endpoint's own rate overrides the writer's.
    let all = fx
        .citadel
        .inference_log_writer(config(1.0, 60_000, 100, 100))
        .unwrap();
    assert_eq!(
        all.record_at_rate(record(&fx, 1, InferenceStatus::Ok), 0.0),
        RecordOutcome::SampledOut
    );
    assert_eq!(
        all.record_at_rate(record(&fx, 1, InferenceStatus::Blocked), 0.0),
        RecordOutcome::Queued
    );
    assert_eq!(all.sampled_out(), 1);
    all.shutdown().await;
    none.shutdown().await;
    assert_eq!(none.written(), 4);
    assert!(sampled_in("anything", 1.0) && !sampled_in("anything", 0.0));
}

#[tokio::test]
async fn shutdown_drains_the_queue_and_later_records_are_dropped() {
    let fx = fixture().await;
    let writer = fx
        .citadel
        .inference_log_writer(config(1.0, 60_000, 7, 1000))
        .unwrap();
    let other = writer.clone();
    for i in 0..100 {
        writer.record(record(&fx, i, InferenceStatus::Ok));
    }
    writer.shutdown().await;
    assert_eq!(stored(&fx).await.len(), 100);
    assert_eq!(writer.written(), 100);
    assert_eq!(
        other.record(record(&fx, 100, InferenceStatus::Error)),
        RecordOutcome::Dropped
    );
    assert_eq!(other.dropped(), 1);
    // Both return at once after the end.
    tokio::time::timeout(StdDuration::from_secs(5), async {
        other.flush().await;
        other.shutdown().await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn invalid_configs_are_refused() {
    let fx = fixture().await;
    for bad in [
        config(1.5, 200, 512, 8192),
        config(f64::NAN, 200, 512, 8192),
        config(-0.1, 200, 512, 8192),
        config(1.0, 0, 512, 8192),
        config(1.0, 200, 0, 8192),
        config(1.0, 200, 512, 0),
    ] {
        let err = fx.citadel.inference_log_writer(bad).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidInput, "{err}");
    }
    assert_eq!(InferenceLogConfig::default(), config(1.0, 200, 512, 8192));
}

pub(crate) async fn write_records(fx: &Fixture, records: &[InferenceRecord]) {
    let writer = fx
        .citadel
        .inference_log_writer(InferenceLogConfig::default())
        .unwrap();
    for r in records {
        assert_eq!(writer.record(r.clone()), RecordOutcome::Queued);
    }
    writer.shutdown().await;
}

#[tokio::test]
async fn jsonl_export_writes_one_parseable_object_per_line() {
    let fx = fixture().await;
    let records: Vec<_> = (0..25)
        .map(|i| {
            let status = if i % 6 == 0 {
                InferenceStatus::Blocked
            } else {
                InferenceStatus::Ok
            };
            record(&fx, i, status)
        })
        .collect();
    write_records(&fx, &records).await;
    // Another endpoint's rows stay out of this export.
    let other_name: FullName = "prod.endpoints.other".parse().unwrap();
    let other_id = create_endpoint(&fx.citadel, &fx.admin, &other_name).await;
    let mut foreign = record(&fx, 3, InferenceStatus::Ok);
    foreign.endpoint_id = other_id;
    write_records(&fx, &[foreign]).await;

    let path = fx.out.join("log.jsonl");
    let report = fx
        .citadel
        .export_inference_log(&fx.admin, &fx.endpoint, LogFormat::Jsonl, None, None, &path)
        .await
        .unwrap();
    assert_eq!(report.rows, 25);
    assert_eq!(report.path, path);
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 25);
    let parsed: Vec<InferenceRecord> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(parsed, records);
    let first: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(first["status"], "blocked");
    assert_eq!(first["route"], "completions");
    assert_eq!(first["model"], Value::Null);
    assert!(first["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600,
        "prompts are user data"
    );

    // A time window: [since, until).
    let windowed = fx.out.join("window.jsonl");
    let since = records[5].time;
    let until = records[9].time;
    let report = fx
        .citadel
        .export_inference_log(
            &fx.admin,
            &fx.endpoint,
            LogFormat::Jsonl,
            Some(since),
            Some(until),
            &windowed,
        )
        .await
        .unwrap();
    assert_eq!(report.rows, 4);

    // An existing file is never overwritten.
    let err = fx
        .citadel
        .export_inference_log(&fx.admin, &fx.endpoint, LogFormat::Jsonl, None, None, &path)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    let leftovers = std::fs::read_dir(&fx.out)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".citadel-export-")
        })
        .count();
    assert_eq!(leftovers, 0, "no temporary file is left behind");
}

fn column_types(path: &Path) -> Vec<(String, PhysicalType, Option<LogicalType>, i16)> {
    let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let schema = reader.metadata().file_metadata().schema_descr_ptr();
    (0..schema.num_columns())
        .map(|i| {
            let col = schema.column(i);
            (
                col.name().to_owned(),
                col.physical_type(),
                col.logical_type_ref().cloned(),
                col.max_def_level(),
            )
        })
        .collect()
}

#[tokio::test]
async fn parquet_export_has_typed_nullable_columns_and_every_value() {
    let fx = fixture().await;
    let records: Vec<_> = (0..2100)
        .map(|i| {
            let status = if i % 10 == 0 {
                InferenceStatus::RateLimited
            } else {
                InferenceStatus::Ok
            };
            record(&fx, i, status)
        })
        .collect();
    write_records(&fx, &records).await;
    let path = fx.out.join("log.parquet");
    let report = fx
        .citadel
        .export_inference_log(
            &fx.admin,
            &fx.endpoint,
            LogFormat::Parquet,
            None,
            None,
            &path,
        )
        .await
        .unwrap();
    assert_eq!(report.rows, 2100);

    let types = column_types(&path);
    let string = Some(LogicalType::String);
    let expected = vec![
        (
            "time",
            PhysicalType::INT64,
            Some(LogicalType::timestamp(true, TimeUnit::MILLIS)),
            0,
        ),
        ("endpoint", PhysicalType::BYTE_ARRAY, string.clone(), 0),
        ("endpoint_id", PhysicalType::BYTE_ARRAY, string.clone(), 0),
        ("model", PhysicalType::BYTE_ARRAY, string.clone(), 1),
        ("model_version", PhysicalType::INT64, None, 1),
        ("principal_id", PhysicalType::BYTE_ARRAY, string.clone(), 1),
        (
            "principal_name",
            PhysicalType::BYTE_ARRAY,
            string.clone(),
            1,
        ),
        ("request_id", PhysicalType::BYTE_ARRAY, string.clone(), 0),
        ("route", PhysicalType::BYTE_ARRAY, string.clone(), 0),
        ("prompt", PhysicalType::BYTE_ARRAY, string.clone(), 1),
        ("completion", PhysicalType::BYTE_ARRAY, string.clone(), 1),
        ("tokens_in", PhysicalType::INT64, None, 0),
        ("tokens_out", PhysicalType::INT64, None, 0),
        ("latency_ms", PhysicalType::INT64, None, 0),
        ("ttft_ms", PhysicalType::INT64, None, 1),
        ("guardrails", PhysicalType::BYTE_ARRAY, string.clone(), 0),
        ("status", PhysicalType::BYTE_ARRAY, string.clone(), 0),
        ("http_status", PhysicalType::INT64, None, 0),
        ("client_addr", PhysicalType::BYTE_ARRAY, string, 1),
    ];
    let expected: Vec<_> = expected
        .into_iter()
        .map(|(n, p, l, d)| (n.to_owned(), p, l, d))
        .collect();
    assert_eq!(types, expected);

    let rows: Vec<Value> = citadel_data::format::ParquetReader::open(&path)
        .unwrap()
        .map(|row| Value::Object(row.unwrap()))
        .collect();
    assert_eq!(rows.len(), records.len());
    for (row, rec) in rows.iter().zip(&records) {
        let millis = rec
            .time
            .replace_nanosecond(rec.time.millisecond() as u32 * 1_000_000)
            .unwrap();
        let expected = json!({
            "time": export::rfc3339(millis),
            "endpoint": rec.endpoint,
            "endpoint_id": rec.endpoint_id.to_string(),
            "model": rec.model,
            "model_version": rec.model_version,
            "principal_id": rec.principal_id.map(|p| p.to_string()),
            "principal_name": rec.principal_name,
            "request_id": rec.request_id,
            "route": rec.route.as_str(),
            "prompt": rec.prompt,
            "completion": rec.completion,
            "tokens_in": rec.tokens_in,
            "tokens_out": rec.tokens_out,
            "latency_ms": rec.latency_ms,
            "ttft_ms": rec.ttft_ms,
            "guardrails": Value::Array(rec.guardrails.clone()).to_string(),
            "status": rec.status.as_str(),
            "http_status": rec.http_status,
            "client_addr": rec.client_addr,
        });
        assert_eq!(row, &expected);
    }
}

#[tokio::test]
async fn reading_and_exporting_need_manage_and_are_audited() {
    let fx = fixture().await;
    write_records(&fx, &[record(&fx, 1, InferenceStatus::Ok)]).await;
    fx.citadel
        .create_principal(&fx.admin, PrincipalKind::User, "bob")
        .await
        .unwrap();
    let (_, token) = fx
        .citadel
        .create_token(
            &fx.admin,
            TokenRequest {
                principal: Some("bob".into()),
                ttl: None,
                scope: TokenScope::Control,
                name: "laptop".into(),
            },
        )
        .await
        .unwrap();
    let bob = fx.citadel.authenticate(Some(&token)).await.unwrap();

    let path = fx.out.join("bob.jsonl");
    let err = fx
        .citadel
        .export_inference_log(&bob, &fx.endpoint, LogFormat::Parquet, None, None, &path)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::PermissionDenied, "{err}");
    assert!(!path.exists());
    let err = fx
        .citadel
        .query_inference_log(&bob, &fx.endpoint, None, 10)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::PermissionDenied);
    let missing: FullName = "prod.endpoints.nothing".parse().unwrap();
    let err = fx
        .citadel
        .export_inference_log(&fx.admin, &missing, LogFormat::Jsonl, None, None, &path)
        .await
        .unwrap_err();
    assert_ne!(err.kind(), crate::ErrorKind::Internal, "{err}");
    assert!(!path.exists());
    let err = fx
        .citadel
        .query_inference_log(&fx.admin, &fx.endpoint, None, MAX_QUERY_ROWS + 1)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::InvalidInput);

    fx.citadel
        .export_inference_log(&fx.admin, &fx.endpoint, LogFormat::Jsonl, None, None, &path)
        .await
        .unwrap();
    let events = fx
        .citadel
        .store
        .audit_query(&AuditFilter {
            action: Some("endpoint.logs.*".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    let summary: Vec<(String, String, String, Option<String>)> = events
        .iter()
        .map(|e| {
            (
                e.actor_name.clone(),
                e.action.clone(),
                e.outcome.to_string(),
                e.securable.clone(),
            )
        })
        .collect();
    let on = Some("endpoint:prod.endpoints.bot".to_owned());
    let on_missing = Some("endpoint:prod.endpoints.nothing".to_owned());
    assert_eq!(
        summary,
        [
            (
                "bob".into(),
                "endpoint.logs.export".into(),
                "denied".into(),
                on.clone()
            ),
            (
                "bob".into(),
                "endpoint.logs.read".into(),
                "denied".into(),
                on.clone()
            ),
            (
                "admin".into(),
                "endpoint.logs.export".into(),
                "denied".into(),
                on_missing
            ),
            (
                "admin".into(),
                "endpoint.logs.export".into(),
                "success".into(),
                on
            ),
        ]
    );
    let last = events.last().unwrap();
    assert_eq!(last.params["rows"], 1);
    assert_eq!(last.params["format"], "jsonl");
}
