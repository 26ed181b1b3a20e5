//! Test databases (SQLite file or PostgreSQL database per test), raw SQL access for tampering,
//! and the `store_test!` macro that runs one test body on both engines.

use std::sync::Arc;

use citadel_audit::{Actor, EventDraft, Signer};
use citadel_store::{sqlite_url, Store, StoreOptions};
use sqlx::{Connection, Executor};

pub const URL_VAR: &str = "CITADEL_TEST_DATABASE_URL";
/// Tests sign a checkpoint every this many events.
pub const CHECKPOINT_EVERY: u64 = 10;

pub struct TestDb {
    pub store: Store,
    pub url: String,
    pub signer: Arc<Signer>,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

pub fn signer() -> Arc<Signer> {
    Arc::new(Signer::from_pkcs8(&Signer::generate_pkcs8().unwrap()).unwrap())
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let url = sqlite_url(&dir.path().join("citadel.db"));
        Self::open(url, Some(dir), None).await
    }

    /// `None` when no PostgreSQL server is configured for tests.
    pub async fn postgres() -> Option<TestDb> {
        let admin_url = std::env::var(URL_VAR).ok()?;
        let name = format!("citadel_t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap();
        admin.close().await.unwrap();
        let (base, _) = admin_url.rsplit_once('/').unwrap();
        let url = format!("{base}/{name}");
        Some(Self::open(url, None, Some((admin_url, name))).await)
    }

    async fn open(
        url: String,
        dir: Option<tempfile::TempDir>,
        postgres: Option<(String, String)>,
    ) -> TestDb {
        let signer = signer();
        let store = Store::open(
            StoreOptions::new(url.clone())
                .signer(signer.clone())
                .checkpoint_every(CHECKPOINT_EVERY),
        )
        .await
        .unwrap();
        TestDb {
            store,
            url,
            signer,
            _dir: dir,
            postgres,
        }
    }

    /// Another store on the same database (as a second process would open it).
    pub async fn second_store(&self) -> Store {
        Store::open(
            StoreOptions::new(self.url.clone())
                .signer(self.signer.clone())
                .checkpoint_every(CHECKPOINT_EVERY),
        )
        .await
        .unwrap()
    }

    /// A raw connection that bypasses the store, for tampering.
    pub async fn raw(&self) -> sqlx::AnyConnection {
        sqlx::any::install_default_drivers();
        sqlx::AnyConnection::connect(&self.url).await.unwrap()
    }

    pub async fn cleanup(self) {
        self.store.close().await;
    }
}

impl Drop for TestDb {
    /// Drops the PostgreSQL database even when the test panicked.
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.postgres.take() else {
            return;
        };
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
                admin
                    .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await
                    .unwrap();
            });
        });
        let _ = dropper.join();
    }
}

pub fn admin() -> Actor {
    Actor::principal("0190b6e2-0000-7000-8000-000000000001", "admin")
}

/// A plain event by the admin.
pub fn event(action: &str) -> EventDraft {
    EventDraft::new(&admin(), "req-test", action)
}

/// Appends `n` standalone events.
pub async fn append_events(store: &Store, n: u64) {
    for i in 0..n {
        store
            .audit(event("test.append").on(format!("catalog:c{i}")))
            .await
            .unwrap();
    }
}

/// Runs `$body(&TestDb)` on SQLite, and on PostgreSQL when configured.
#[macro_export]
macro_rules! store_test {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::harness::TestDb::sqlite().await;
                super::$name(&db).await;
                db.cleanup().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(db) = $crate::harness::TestDb::postgres().await else {
                    eprintln!("skipped: {} is not set", $crate::harness::URL_VAR);
                    return;
                };
                super::$name(&db).await;
                db.cleanup().await;
            }
        }
    };
}
