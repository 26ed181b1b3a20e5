//! The official OpenAI Python client against the real `citadel serve` over TLS: model listing,
//! chat (whole and streamed), completions and error mapping, checked by
//! `tests/python/openai_client_check.py`.
//!
//! The interpreter comes from `CITADEL_TEST_PYTHON` (`.ci/run` sets it to its venv, which has
//! `openai` installed). Without it the test says it was skipped; with it, an interpreter that
//! cannot import `openai` fails the test.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::gateway::invoker;
use crate::harness::{bare_process, stderr, TestHome};

const ENDPOINT: &str = "prod.endpoints.assistant";
const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/python/openai_client_check.py"
);
/// What `citadel serve` prints once it listens.
const LISTENING: &str = "citadel gateway listening on https://";

/// A child process, killed when dropped (also when a test panics).
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `citadel serve` as a child process, stopped when dropped.
struct Server {
    _process: KillOnDrop,
    address: SocketAddr,
    /// Everything the server wrote to stderr, for diagnostics.
    log: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `citadel serve` on a free loopback port with the home's certificate (the
    /// quickstart's `tls/`, the configuration's default) and waits for its address.
    fn start(home: &TestHome) -> Self {
        let mut process = KillOnDrop(
            bare_process(&home.root)
                // The test may run as root (CI containers); the flag only lifts that refusal.
                .args(["serve", "--listen", "127.0.0.1:0", "--allow-root"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let mut lines = BufReader::new(process.0.stderr.take().unwrap()).lines();
        let log = Arc::new(Mutex::new(String::new()));
        let mut address = None;
        for line in lines.by_ref() {
            let line = line.unwrap();
            log.lock().unwrap().push_str(&format!("{line}\n"));
            if let Some(rest) = line.strip_prefix(LISTENING) {
                address = rest.split_whitespace().next().map(|a| a.parse().unwrap());
                break;
            }
        }
        let server_log = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                server_log.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        let Some(address) = address else {
            let status = process.0.wait().unwrap();
            panic!(
                "citadel serve exited ({status}) before listening:\n{}",
                log.lock().unwrap()
            );
        };
        Self {
            _process: process,
            address,
            log,
        }
    }

    /// Waits until `/healthz` answers over TLS with a certificate that chains to `ca`.
    fn wait_healthy(&self, ca: &Path) {
        let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
        let client = reqwest::Client::builder()
            .add_root_certificate(ca)
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let url = format!("https://{}/healthz", self.address);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let last_error = runtime.block_on(async {
            loop {
                let error = match client.get(&url).send().await {
                    Ok(response) if response.status().is_success() => return None,
                    Ok(response) => format!("answered {}", response.status()),
                    Err(err) => format!("{err:?}"),
                };
                if Instant::now() > deadline {
                    return Some(error);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        if let Some(error) = last_error {
            panic!("{url} never became healthy: {error}\n{}", self.log());
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

#[test]
fn the_official_openai_python_client_works_against_citadel_serve() {
    let Ok(python) = std::env::var("CITADEL_TEST_PYTHON") else {
        println!(
            "skipped: CITADEL_TEST_PYTHON is not set (point it at a Python with the openai \
             package, e.g. python3 -m venv /tmp/oai && /tmp/oai/bin/pip install openai; \
             .ci/run sets it)"
        );
        return;
    };
    let import = Command::new(&python)
        .args(["-c", "import openai, httpx"])
        .output()
        .unwrap_or_else(|e| panic!("CITADEL_TEST_PYTHON={python} does not run: {e}"));
    assert!(
        import.status.success(),
        "CITADEL_TEST_PYTHON={python} cannot import openai ({}): install it with \
         `{python} -m pip install openai`",
        stderr(&import).lines().last().unwrap_or_default()
    );

    let (home, _) = TestHome::quickstart(None);
    // The quickstart deployed the champion as ENDPOINT and wrote the TLS files.
    let token = invoker(&home, "python-bot", ENDPOINT);
    let ca = home.path("tls/ca.crt");
    let server = Server::start(&home);
    server.wait_healthy(&ca);

    let output = Command::new(&python)
        .arg(SCRIPT)
        .arg("--base-url")
        .arg(format!("https://{}/v1", server.address))
        .arg("--ca")
        .arg(&ca)
        .args(["--model", ENDPOINT])
        .env("CITADEL_GATEWAY_TOKEN", &token)
        .output()
        .unwrap();
    println!("{}", String::from_utf8_lossy(&output.stdout));
    assert!(
        output.status.success(),
        "the OpenAI client check failed ({}):\n{}\n{}\nserver log:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        stderr(&output),
        server.log()
    );
}
