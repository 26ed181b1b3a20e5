//! Monitoring through the binary: drift of synthetic traffic written through the inference-log
//! writer (a stable endpoint and one whose prompts grew 3× and latency doubled), the gateway's
//! periodic check and its gauge, and the audit log's OCSF export, whole and followed.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use citadel_server::{Gateway, Loader, ServerConfig};
use citadel_service::endpoints::ServingEndpoint;
use citadel_service::{
    Citadel, Home, InferenceLogConfig, InferenceRecord, InferenceRoute, InferenceStatus,
    RecordOutcome,
};
use serde_json::Value;
use time::OffsetDateTime;

use crate::harness::{run_fails, TestHome, EXIT_PERMISSION_DENIED};

/// The quickstart's endpoint: its synthetic traffic keeps its shape.
const STABLE: &str = "prod.endpoints.assistant";
/// A second endpoint on the same champion, whose recent traffic changes.
const SHIFTED: &str = "prod.endpoints.shifted";
/// Requests in the baseline (spread over the 6 days before the last two hours) and in the
/// window (the last 45 minutes), per endpoint.
const BASELINE_REQUESTS: u32 = 1200;
const WINDOW_REQUESTS: u32 = 300;

/// A deterministic source of uniform numbers in [0, 1) (SplitMix64), so reruns see the same
/// traffic.
struct Uniform(u64);

impl Uniform {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as f64 / (u64::MAX as f64 + 1.0)
    }
}

/// One synthetic request: prompts of 150–250 characters, completions of 300–500, latency of
/// 200–300 ms, 5% blocked, 3% refused; `shifted` makes prompts 3× longer and latency 2× slower.
fn request(
    endpoint: &ServingEndpoint,
    time: OffsetDateTime,
    rng: &mut Uniform,
    shifted: bool,
) -> InferenceRecord {
    let scale = if shifted { 3.0 } else { 1.0 };
    let prompt_chars = ((150.0 + 100.0 * rng.next()) * scale) as usize;
    let latency_ms = ((200.0 + 100.0 * rng.next()) * if shifted { 2.0 } else { 1.0 }) as u64;
    let completion_chars = (300.0 + 200.0 * rng.next()) as usize;
    let blocked = rng.next() < 0.05;
    let refused = rng.next() < 0.03;
    let completion = if refused {
        format!(
            "I'm sorry, but I can't help with that.{}",
            " ".repeat(completion_chars)
        )
    } else {
        "answer ".repeat(completion_chars / 7)
    };
    let version = endpoint.config.traffic[0].version;
    InferenceRecord {
        time,
        endpoint: endpoint.name.clone(),
        endpoint_id: endpoint.id,
        model: Some(endpoint.config.model.clone()),
        model_version: Some(version),
        principal_id: None,
        principal_name: Some("synthetic".into()),
        request_id: uuid::Uuid::now_v7().to_string(),
        route: InferenceRoute::Chat,
        prompt: Some("ticket ".repeat(prompt_chars / 7)),
        completion: (!blocked).then_some(completion),
        tokens_in: (prompt_chars / 4) as u64,
        tokens_out: if blocked {
            0
        } else {
            (completion_chars / 4) as u64
        },
        latency_ms,
        ttft_ms: None,
        guardrails: Vec::new(),
        status: if blocked {
            InferenceStatus::Blocked
        } else {
            InferenceStatus::Ok
        },
        http_status: if blocked { 400 } else { 200 },
        client_addr: Some("127.0.0.1".into()),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Writes a stable baseline for both endpoints, then a window that is stable for [`STABLE`] and
/// shifted for [`SHIFTED`], through the gateway's own writer.
async fn write_traffic(citadel: &Citadel, now: OffsetDateTime) {
    let endpoints = citadel.serving_endpoints().await.unwrap();
    let writer = citadel
        .inference_log_writer(InferenceLogConfig::default())
        .unwrap();
    let mut rng = Uniform(7);
    for (name, shifted) in [(STABLE, false), (SHIFTED, true)] {
        let endpoint = endpoints.iter().find(|e| e.name == name).unwrap();
        for i in 0..BASELINE_REQUESTS {
            let time = now - time::Duration::hours(2) - time::Duration::minutes(7 * i64::from(i));
            let outcome = writer.record(request(endpoint, time, &mut rng, false));
            assert_eq!(outcome, RecordOutcome::Queued);
        }
        for i in 0..WINDOW_REQUESTS {
            let time = now - time::Duration::minutes(5) - time::Duration::seconds(8 * i64::from(i));
            let outcome = writer.record(request(endpoint, time, &mut rng, shifted));
            assert_eq!(outcome, RecordOutcome::Queued);
        }
    }
    writer.shutdown().await;
    assert_eq!(writer.dropped(), 0);
}

/// Each feature's verdict in a summary of `monitor drift --json`.
fn verdicts(summary: &Value) -> Vec<(String, String)> {
    summary["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["feature"].as_str().unwrap().to_owned(),
                f["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn drift_json(home: &TestHome, endpoint: &str) -> Value {
    let out = home.admin_ok(&[
        "monitor",
        "drift",
        endpoint,
        "--window",
        "1h",
        "--baseline",
        "7d",
        "--json",
    ]);
    serde_json::from_str(&out).unwrap()
}

#[test]
fn drift_fires_on_a_known_shift_and_not_on_stable_traffic() {
    let (home, _) = TestHome::quickstart(None);
    home.admin_ok(&[
        "endpoint",
        "create",
        SHIFTED,
        "--model",
        "prod.support.assistant@champion",
    ]);
    let rt = runtime();
    let citadel = rt.block_on(Citadel::open(&Home::at(&home.root))).unwrap();
    rt.block_on(write_traffic(&citadel, OffsetDateTime::now_utc()));

    // Stable traffic: every feature assessed, none drifting.
    let stable = drift_json(&home, STABLE);
    assert_eq!(stable["endpoint"], STABLE);
    assert_eq!(stable["verdict"], "stable", "{stable:#}");
    for (feature, verdict) in verdicts(&stable["all"]) {
        assert_eq!(verdict, "stable", "{feature} in {stable:#}");
    }
    assert!(stable["score"].as_f64().unwrap() < 0.1, "{stable:#}");

    // Prompts 3× longer (so tokens in too) and latency doubled: those drift, nothing else.
    let shifted = drift_json(&home, SHIFTED);
    assert_eq!(shifted["verdict"], "drift", "{shifted:#}");
    for (feature, verdict) in verdicts(&shifted["all"]) {
        let expected = match feature.as_str() {
            "prompt_chars" | "tokens_in" | "latency_ms" => "drift",
            _ => "stable",
        };
        assert_eq!(verdict, expected, "{feature} in {shifted:#}");
    }
    assert!(shifted["score"].as_f64().unwrap() > 1.0, "{shifted:#}");
    // The same per model version: the champion served everything.
    assert_eq!(shifted["versions"].as_array().unwrap().len(), 1);
    assert_eq!(shifted["versions"][0]["verdict"], "drift");
    // Every request counts for the block rate; only answered ones for lengths and latency.
    let features = shifted["all"]["features"].as_array().unwrap();
    assert_eq!(features[5]["feature"], "block_rate");
    assert_eq!(features[5]["window_count"], WINDOW_REQUESTS);
    assert_eq!(features[5]["baseline_count"], BASELINE_REQUESTS);
    assert_eq!(features[0]["feature"], "prompt_chars");
    let answered = features[0]["window_count"].as_u64().unwrap();
    assert!(
        (250..u64::from(WINDOW_REQUESTS)).contains(&answered),
        "{shifted:#}"
    );

    // The table names the features and the verdicts.
    let table = home.admin_ok(&["monitor", "drift", SHIFTED]);
    for word in [
        "prompt_chars",
        "latency_ms",
        "DRIFT",
        "PSI",
        "p-value",
        "model version",
    ] {
        assert!(table.contains(word), "{word} missing from\n{table}");
    }

    // A window too short for any verdict says so instead of alarming.
    let short = home.admin_ok(&["monitor", "drift", SHIFTED, "--window", "2m", "--json"]);
    let short: Value = serde_json::from_str(&short).unwrap();
    assert_eq!(short["verdict"], "insufficient_data", "{short:#}");

    // Reading drift needs MANAGE on the endpoint, as reading its log does; both are audited.
    let eve = home.user_with_token("eve");
    run_fails(
        home.as_token(&eve).args(["monitor", "drift", SHIFTED]),
        EXIT_PERMISSION_DENIED,
    );
    let events = home.audit_events(&["--action", "endpoint.drift.read"]);
    assert!(events
        .iter()
        .any(|e| e["outcome"] == "success" && e["securable"] == format!("endpoint:{SHIFTED}")));
    assert!(events
        .iter()
        .any(|e| e["outcome"] == "denied" && e["actor_name"] == "eve"));

    // The gateway's periodic check sees the same and publishes the gauge.
    rt.block_on(async {
        let gateway = Gateway::new(citadel.clone(), ServerConfig::default(), Loader::Engine)
            .await
            .unwrap();
        let reports = citadel_server::drift::evaluate(&gateway, OffsetDateTime::now_utc()).await;
        let shifted = reports.iter().find(|r| r.endpoint == SHIFTED).unwrap();
        assert_eq!(shifted.verdict, citadel_service::monitoring::Verdict::Drift);
        let metrics = gateway.metrics.render().unwrap();
        let gauge = format!(
            "citadel_drift_score{{endpoint=\"{SHIFTED}\",version=\"all\",feature=\"latency_ms\"}}"
        );
        let line = metrics.lines().find(|l| l.starts_with(&gauge));
        let value: f64 = line.unwrap().rsplit(' ').next().unwrap().parse().unwrap();
        assert!(value > 0.2, "{metrics}");
        gateway.log.shutdown().await;
        citadel.close().await.unwrap();
    });
}

/// The `citadel` binary in `home`, as the admin, with piped output.
fn spawn_citadel(home: &TestHome, args: &[&str]) -> Child {
    Command::new(assert_cmd::cargo::cargo_bin("citadel"))
        .arg("--home")
        .arg(&home.root)
        .args(args)
        .env_remove("CITADEL_TOKEN")
        .env_remove("CITADEL_HOME")
        .env_remove("CITADEL_DATABASE_URL")
        .env_remove("CITADEL_MASTER_KEY")
        .env_remove("CITADEL_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Checks the attributes every OCSF event needs, and Citadel's product metadata.
fn assert_ocsf(event: &Value) {
    let class_uid = event["class_uid"].as_u64().unwrap();
    assert!([3001, 3002, 3004, 6003].contains(&class_uid), "{event}");
    assert_eq!(event["category_uid"].as_u64().unwrap(), class_uid / 1000);
    let activity_id = event["activity_id"].as_u64().unwrap();
    assert_eq!(
        event["type_uid"].as_u64().unwrap(),
        class_uid * 100 + activity_id
    );
    assert!(
        event["severity_id"].is_u64() && event["status_id"].is_u64(),
        "{event}"
    );
    assert!(
        event["time"].as_i64().unwrap() > 1_700_000_000_000,
        "{event}"
    );
    assert_eq!(event["metadata"]["product"]["name"], "Citadel");
    assert!(event["metadata"]["product"]["vendor_name"].is_string());
    assert!(event["metadata"]["version"]
        .as_str()
        .unwrap()
        .starts_with("1."));
    assert!(event["metadata"]["sequence"].is_u64(), "{event}");
    assert!(
        event["unmapped"]["hash"].as_str().unwrap().len() == 64,
        "{event}"
    );
}

#[test]
fn audit_events_export_and_follow_as_ocsf() {
    let home = TestHome::init();
    home.admin_ok(&["principal", "create", "user", "bob"]);
    let export = home.admin_ok(&["audit", "export", "--format", "ocsf"]);
    let events: Vec<Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    events.iter().for_each(assert_ocsf);
    let created = events
        .iter()
        .find(|e| e["message"] == "principal.create")
        .unwrap();
    assert_eq!(created["class_uid"], 3001);
    assert_eq!(created["actor"]["user"]["name"], "admin");
    let sequences: Vec<u64> = events
        .iter()
        .map(|e| e["metadata"]["sequence"].as_u64().unwrap())
        .collect();
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "{sequences:?}");
    let last = *sequences.last().unwrap();

    // --follow without OCSF is refused with the fix.
    let refused = home
        .admin()
        .args(["audit", "export", "--follow"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--format ocsf"));

    // Follow from after the last event seen; an event written later arrives as a line.
    let mut follower = spawn_citadel(
        &home,
        &[
            "audit",
            "export",
            "--format",
            "ocsf",
            "--follow",
            "--interval",
            "100ms",
            "--after",
            &last.to_string(),
        ],
    );
    let stdout = follower.stdout.take().unwrap();
    let (lines, received) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if lines.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    home.admin_ok(&["principal", "create", "user", "zed"]);
    let mut seen = Vec::new();
    let zed = loop {
        let line = received
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no event for zed in time; got {seen:?}"));
        let event: Value = serde_json::from_str(&line).unwrap();
        assert_ocsf(&event);
        assert!(
            event["metadata"]["sequence"].as_u64().unwrap() > last,
            "{event}"
        );
        if event["message"] == "principal.create" {
            break event;
        }
        seen.push(event);
    };
    assert_eq!(zed["class_uid"], 3001);
    assert_eq!(zed["user"]["name"], "zed");
    // The follow itself was audited when it started.
    let exports = home.audit_events(&["--action", "audit.export"]);
    assert!(
        exports
            .iter()
            .any(|e| e["params"]["format"] == "ocsf" && e["params"]["follow_secs"] == "0.1"),
        "{exports:?}"
    );

    // Ctrl-C ends it cleanly.
    let interrupted = Command::new("kill")
        .args(["-INT", &follower.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let status = follower.wait().unwrap();
    assert!(status.success(), "{status:?}");
    reader.join().unwrap();

    // A reader that goes away ends it cleanly too, at the next event it would have written.
    let mut follower = spawn_citadel(
        &home,
        &[
            "audit",
            "export",
            "--format",
            "ocsf",
            "--follow",
            "--interval",
            "100ms",
        ],
    );
    let mut stdout = BufReader::new(follower.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert_ocsf(&serde_json::from_str(&first).unwrap());
    drop(stdout);
    home.admin_ok(&["principal", "create", "user", "amy"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = follower.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the export outlived its reader"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}
