//! Migrations: both engines' folders stay in lockstep, reopening is idempotent and keeps data,
//! and the SQLite connection settings are the durable ones.

use std::collections::BTreeSet;
use std::path::Path;

use citadel_store::{sqlite_url, Store, StoreOptions};
use sqlx::{Connection, Row};

use crate::harness::{append_events, TestDb};
use crate::store_test;

fn migration_names(engine: &str) -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(engine);
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn sqlite_and_postgres_migrations_have_the_same_files() {
    let sqlite = migration_names("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, migration_names("postgres"));
}

store_test!(reopening_keeps_data_and_chain);
async fn reopening_keeps_data_and_chain(db: &TestDb) {
    append_events(&db.store, 3).await;
    let again = db.second_store().await;
    append_events(&again, 2).await;
    assert_eq!(db.store.audit_head().await.unwrap().seq, 5);
    assert!(again
        .verify_audit(&db.signer.public_key())
        .await
        .unwrap()
        .is_intact());
    again.close().await;
}

#[tokio::test]
async fn sqlite_runs_with_wal_full_sync_and_foreign_keys() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir.path().join("c.db"));
    let store = Store::open(StoreOptions::new(url.clone())).await.unwrap();
    assert_eq!(store.backend(), citadel_store::Backend::Sqlite);
    // A fresh raw connection sees the persistent WAL mode.
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    let mode: String = sqlx::query("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get(0);
    assert_eq!(mode, "wal");
    // Foreign keys are enforced on the store's own connections.
    let mut tx = store.begin_write().await.unwrap();
    let err = tx
        .grant(
            citadel_core::SecurableId::new(),
            citadel_core::PrincipalId::new(),
            citadel_core::Privilege::Select,
            citadel_core::Effect::Allow,
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, citadel_store::StoreError::Database(_)),
        "{err}"
    );
    drop(tx);
    store.close().await;
}

#[tokio::test]
async fn unsupported_urls_are_refused_without_echoing_credentials() {
    let err = Store::open(StoreOptions::new("mysql://root:hunter2@db/x"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("mysql") && !text.contains("hunter2"),
        "{text}"
    );
    let debug = format!("{:?}", StoreOptions::new("postgres://u:hunter2@h/db"));
    assert!(!debug.contains("hunter2"), "{debug}");
}
