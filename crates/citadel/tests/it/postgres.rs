//! The whole service on PostgreSQL: a home whose config points at a fresh database runs the grant
//! lifecycle and keeps a verifiable audit chain. Runs when `CITADEL_TEST_DATABASE_URL` is set
//! (`.ci/run` sets it); otherwise it reports that it checked nothing.

use sqlx::Connection;

use super::harness::*;

/// A database created for one test and dropped afterwards.
pub struct FreshDatabase {
    admin_url: String,
    name: String,
    runtime: tokio::runtime::Runtime,
}

impl FreshDatabase {
    pub fn create(admin_url: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let name = format!("citadel_it_{}", uuid_suffix());
        runtime.block_on(async {
            let mut conn = sqlx::PgConnection::connect(admin_url).await.unwrap();
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
        });
        Self {
            admin_url: admin_url.to_owned(),
            name,
            runtime,
        }
    }

    pub fn url(&self) -> String {
        let base = self
            .admin_url
            .rsplit_once('/')
            .map_or(self.admin_url.as_str(), |(base, _)| base);
        format!("{base}/{}", self.name)
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        self.runtime.block_on(async move {
            if let Ok(mut conn) = sqlx::PgConnection::connect(&url).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await;
                let _ = conn.close().await;
            }
        });
    }
}

fn uuid_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}_{nanos}", std::process::id())
}

#[test]
fn the_service_runs_on_postgresql() {
    let Ok(admin_url) = std::env::var("CITADEL_TEST_DATABASE_URL") else {
        eprintln!("CITADEL_TEST_DATABASE_URL is not set: PostgreSQL not exercised");
        return;
    };
    let database = FreshDatabase::create(&admin_url);
    let home = TestHome::init_with_database(Some(&database.url()));
    assert!(
        !home.path("citadel.db").exists(),
        "the home must not fall back to SQLite"
    );
    let config = std::fs::read_to_string(home.path("citadel.toml")).unwrap();
    assert!(config.contains("postgres://"), "{config}");

    let alice = home.user_with_token("alice");
    run_fails(
        home.as_token(&alice).args(["schema", "create", "dev.pg"]),
        EXIT_PERMISSION_DENIED,
    );
    home.admin_ok(&[
        "grant",
        "USE_CATALOG",
        "ON",
        "catalog",
        "dev",
        "TO",
        "alice",
    ]);
    home.admin_ok(&[
        "grant",
        "CREATE_SCHEMA",
        "ON",
        "catalog",
        "dev",
        "TO",
        "alice",
    ]);
    run_ok(home.as_token(&alice).args(["schema", "create", "dev.pg"]));
    assert_eq!(
        home.audit_events(&["--actor", "alice", "--outcome", "denied"])
            .len(),
        1
    );
    run_ok(home.admin().args(["audit", "verify"]));

    let err = run_fails(
        bare_command(&home.root)
            .env("CITADEL_DATABASE_URL", database.url())
            .arg("init"),
        EXIT_INVALID,
    );
    assert!(err.contains("already"), "{err}");
}

#[test]
fn secrets_keys_and_datasets_run_on_postgresql() {
    let Ok(admin_url) = std::env::var("CITADEL_TEST_DATABASE_URL") else {
        eprintln!("CITADEL_TEST_DATABASE_URL is not set: PostgreSQL not exercised");
        return;
    };
    let database = FreshDatabase::create(&admin_url);
    let home = TestHome::init_with_database(Some(&database.url()));
    home.admin_ok(&["secrets", "scope", "create", "dev.data.pg"]);
    for value in ["pg-secret-one", "pg-secret-two"] {
        run_ok(
            home.admin()
                .args(["secrets", "put", "dev.data.pg", "k"])
                .write_stdin(value),
        );
    }
    let rows =
        "{\"id\":1,\"email\":\"ann@example.com\"}\n{\"id\":2,\"email\":\"bob@example.com\"}\n";
    let file = home.path("rows.jsonl");
    std::fs::write(&file, rows).unwrap();
    home.admin_ok(&[
        "data",
        "ingest",
        file.to_str().unwrap(),
        "--as",
        "dev.data.rows",
    ]);
    home.admin_ok(&["data", "scan", "dev.data.rows@v1"]);
    home.admin_ok(&["keys", "rotate"]);
    assert_eq!(
        home.admin_ok(&["secrets", "get", "dev.data.pg", "k", "--version", "1"]),
        "pg-secret-one"
    );
    home.admin_ok(&["data", "erase", "dev.data.rows", "--where", "id=1"]);
    let read = home.admin_ok(&["data", "read", "dev.data.rows"]);
    assert!(read.contains("bob@example.com") && !read.contains("ann@example.com"));
    run_ok(home.admin().args(["audit", "verify"]));
}

#[test]
fn model_versions_run_on_postgresql() {
    let Ok(admin_url) = std::env::var("CITADEL_TEST_DATABASE_URL") else {
        eprintln!("CITADEL_TEST_DATABASE_URL is not set: PostgreSQL not exercised");
        return;
    };
    let database = FreshDatabase::create(&admin_url);
    let home = TestHome::init_with_database(Some(&database.url()));
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../citadel-engine/tests/fixtures/tiny-gpt2");
    for _ in 0..2 {
        home.admin_ok(&[
            "model",
            "import",
            fixture.to_str().unwrap(),
            "--as",
            "dev.models.tiny",
        ]);
    }
    let shown: serde_json::Value =
        serde_json::from_str(&home.admin_ok(&["model", "show", "dev.models.tiny", "--json"]))
            .unwrap();
    assert_eq!(shown["version"], 2);
    home.admin_ok(&["keys", "rotate"]);
    let verified = home.admin_ok(&["model", "verify", "dev.models.tiny@1"]);
    assert!(verified.starts_with("ok:"), "{verified}");
    run_ok(home.admin().args(["audit", "verify"]));
}

#[test]
fn the_registry_and_quickstart_run_on_postgresql() {
    let Ok(admin_url) = std::env::var("CITADEL_TEST_DATABASE_URL") else {
        eprintln!("CITADEL_TEST_DATABASE_URL is not set: skipped");
        return;
    };
    let database = FreshDatabase::create(&admin_url);
    let (home, printed) = TestHome::quickstart(Some(&database.url()));
    assert!(printed.contains("chain intact"), "{printed}");
    let config = std::fs::read_to_string(home.path("citadel.toml")).unwrap();
    assert!(config.contains("postgres://"), "{config}");
    let shown: serde_json::Value = serde_json::from_str(&home.admin_ok(&[
        "model",
        "show",
        "prod.support.assistant@champion",
        "--json",
    ]))
    .unwrap();
    assert_eq!(shown["status"], "approved");
    let runs: serde_json::Value =
        serde_json::from_str(&home.admin_ok(&["run", "list", "--json"])).unwrap();
    assert_eq!(runs[0]["status"], "succeeded");
    assert_eq!(runs[0]["steps_done"], 100);
    home.admin_ok(&["lineage", "prod.support.assistant@champion"]);
}
