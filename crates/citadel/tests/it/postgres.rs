//! The whole service on PostgreSQL: a home whose config points at a fresh database runs the grant
//! lifecycle and keeps a verifiable audit chain. Runs when `CITADEL_TEST_DATABASE_URL` is set
//! (`.ci/run` sets it); otherwise it reports that it checked nothing.

use sqlx::Connection;

use super::harness::*;

/// A database created for one test and dropped afterwards.
struct FreshDatabase {
    admin_url: String,
    name: String,
    runtime: tokio::runtime::Runtime,
}

impl FreshDatabase {
    fn create(admin_url: &str) -> Self {
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

    fn url(&self) -> String {
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
