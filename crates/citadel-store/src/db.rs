//! Opening the database: URL → backend, connection settings (SQLite pragmas), pool, migrations.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use citadel_audit::Signer;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};

use crate::error::StoreError;
use crate::tx::WriteTx;
use crate::Result;

/// How long a SQLite connection waits for another writer before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Default number of events between two signed checkpoints.
pub const DEFAULT_CHECKPOINT_EVERY: u64 = 1000;

/// Which database engine is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file (WAL, `synchronous=FULL`, foreign keys on).
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The backend a URL names.
    pub fn from_url(url: &str) -> Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl {
                scheme: url
                    .split(':')
                    .next()
                    .unwrap_or_default()
                    .chars()
                    .take(20)
                    .collect(),
            })
        }
    }
}

/// The SQLite URL of a database file, created if missing.
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// How to open a [`Store`].
#[derive(Clone)]
pub struct StoreOptions {
    /// `sqlite://PATH?mode=rwc` (see [`sqlite_url`]) or `postgres://…`.
    pub url: String,
    /// Signs a checkpoint every `checkpoint_every` events and at [`Store::checkpoint_now`].
    pub signer: Option<Arc<Signer>>,
    /// Events between two automatic checkpoints.
    pub checkpoint_every: u64,
    /// Pool size.
    pub max_connections: u32,
}

impl StoreOptions {
    /// Options for `url` with no signer, checkpoints every [`DEFAULT_CHECKPOINT_EVERY`] events.
    pub fn new(url: impl Into<String>) -> Self {
        StoreOptions {
            url: url.into(),
            signer: None,
            checkpoint_every: DEFAULT_CHECKPOINT_EVERY,
            max_connections: 8,
        }
    }

    /// Sets the checkpoint signer.
    #[must_use]
    pub fn signer(mut self, signer: Arc<Signer>) -> Self {
        self.signer = Some(signer);
        self
    }

    /// Sets the automatic checkpoint interval (at least 1).
    #[must_use]
    pub fn checkpoint_every(mut self, events: u64) -> Self {
        self.checkpoint_every = events.max(1);
        self
    }
}

impl fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold a password: show only its scheme.
        f.debug_struct("StoreOptions")
            .field(
                "url",
                &format_args!("{}://…", self.url.split(':').next().unwrap_or_default()),
            )
            .field("signer", &self.signer)
            .field("checkpoint_every", &self.checkpoint_every)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// The metadata store: a connection pool plus the audit chain settings. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: AnyPool,
    backend: Backend,
    signer: Option<Arc<Signer>>,
    checkpoint_every: u64,
}

impl Store {
    /// Connects, applies the connection settings and runs pending migrations.
    pub async fn open(options: StoreOptions) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(&options.url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute(sqlite_pragmas().as_str()).await?;
                    }
                    Ok(())
                })
            })
            .connect(&options.url)
            .await?;
        match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await?,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await?,
        }
        Ok(Store {
            inner: Arc::new(Inner {
                pool,
                backend,
                signer: options.signer,
                checkpoint_every: options.checkpoint_every.max(1),
            }),
        })
    }

    /// Starts a write transaction; see [`WriteTx`].
    pub async fn begin_write(&self) -> Result<WriteTx> {
        WriteTx::begin(self).await
    }

    /// Which engine this store runs on.
    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// Closes every connection (waits for running queries).
    pub async fn close(&self) {
        self.inner.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.inner.pool
    }

    pub(crate) fn signer(&self) -> Option<&Signer> {
        self.inner.signer.as_deref()
    }

    pub(crate) fn checkpoint_every(&self) -> u64 {
        self.inner.checkpoint_every
    }
}

fn sqlite_pragmas() -> String {
    format!(
        "PRAGMA busy_timeout = {}; PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL; \
         PRAGMA synchronous = FULL;",
        SQLITE_BUSY_TIMEOUT.as_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Row;

    #[tokio::test]
    async fn sqlite_connections_are_durable_and_enforce_foreign_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(StoreOptions::new(sqlite_url(&dir.path().join("c.db"))))
            .await
            .unwrap();
        let pragma = |name: &'static str| {
            let pool = store.pool().clone();
            async move {
                let row = sqlx::query(&format!("PRAGMA {name}"))
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                row.try_get::<i64, _>(0).unwrap()
            }
        };
        assert_eq!(pragma("synchronous").await, 2, "FULL");
        assert_eq!(pragma("foreign_keys").await, 1);
        assert_eq!(pragma("busy_timeout").await, 10_000);
    }

    #[test]
    fn backends_come_from_url_schemes() {
        assert_eq!(
            Backend::from_url("sqlite:///x.db").unwrap(),
            Backend::Sqlite
        );
        assert_eq!(
            Backend::from_url("postgresql://h/db").unwrap(),
            Backend::Postgres
        );
        assert!(Backend::from_url("mysql://h/db").is_err());
    }
}
