//! A fresh Citadel home per test and helpers to run the binary in it.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

/// Exit codes documented in `citadel --help`.
pub const EXIT_UNAUTHENTICATED: i32 = 2;
pub const EXIT_PERMISSION_DENIED: i32 = 3;
pub const EXIT_INVALID: i32 = 4;
pub const EXIT_INTEGRITY: i32 = 5;

/// An initialized home in a temporary folder, with its admin token.
pub struct TestHome {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub admin_token: String,
}

impl TestHome {
    /// Runs `citadel init` in a new temporary folder.
    pub fn init() -> Self {
        Self::init_with_database(None)
    }

    /// Runs `citadel init` with `CITADEL_DATABASE_URL` set to `url` (which `init` records in the
    /// home's config), or on the embedded SQLite database when `None`.
    pub fn init_with_database(url: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("home");
        let mut init = bare_command(&root);
        if let Some(url) = url {
            init.env("CITADEL_DATABASE_URL", url);
        }
        let output = init.args(["init", "--json"]).output().unwrap();
        assert!(output.status.success(), "init failed: {}", stderr(&output));
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let admin_token = report["admin_token"].as_str().unwrap().to_owned();
        Self {
            _dir: dir,
            root,
            admin_token,
        }
    }

    /// Runs `citadel quickstart` into a new temporary folder (on PostgreSQL when `url` is
    /// given): people and grants, anonymized datasets, a trained model approved and promoted to
    /// prod. Returns the home and what the quickstart printed.
    pub fn quickstart(url: Option<&str>) -> (Self, String) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("home");
        let mut cmd = bare_command(&root);
        if let Some(url) = url {
            cmd.env("CITADEL_DATABASE_URL", url);
        }
        let output = cmd.arg("quickstart").output().unwrap();
        assert!(
            output.status.success(),
            "quickstart failed: {}\n{}",
            stderr(&output),
            String::from_utf8_lossy(&output.stdout)
        );
        let admin_token = std::fs::read_to_string(root.join("credentials"))
            .unwrap()
            .trim()
            .to_owned();
        let home = Self {
            _dir: dir,
            root,
            admin_token,
        };
        (home, String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// A new control token for an existing principal.
    pub fn token_for(&self, name: &str) -> String {
        self.admin_ok(&["token", "create", "--principal", name, "--quiet"])
            .trim()
            .to_owned()
    }

    /// `citadel` in this home, as the admin (through the credentials file).
    pub fn admin(&self) -> Command {
        bare_command(&self.root)
    }

    /// `citadel` in this home with an explicit token.
    pub fn as_token(&self, token: &str) -> Command {
        let mut cmd = bare_command(&self.root);
        cmd.env("CITADEL_TOKEN", token);
        cmd
    }

    /// Runs an admin command that must succeed; returns stdout.
    pub fn admin_ok(&self, args: &[&str]) -> String {
        run_ok(self.admin().args(args))
    }

    /// Creates a user and returns a control token for it.
    pub fn user_with_token(&self, name: &str) -> String {
        self.admin_ok(&["principal", "create", "user", name]);
        self.admin_ok(&["token", "create", "--principal", name, "--quiet"])
            .trim()
            .to_owned()
    }

    /// Grants `name` `USE_CATALOG` on `dev` and `USE_SCHEMA` on `dev.data`: the way in to
    /// anything kept in that schema.
    pub fn grant_use_dev_data(&self, name: &str) {
        self.admin_ok(&["grant", "USE_CATALOG", "ON", "catalog", "dev", "TO", name]);
        self.admin_ok(&[
            "grant",
            "USE_SCHEMA",
            "ON",
            "schema",
            "dev.data",
            "TO",
            name,
        ]);
    }

    /// Audit events matching `args` (as `audit query … --json`).
    pub fn audit_events(&self, args: &[&str]) -> Vec<serde_json::Value> {
        let mut all = vec!["audit", "query", "--json", "--limit", "10000"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.admin_ok(&all)).unwrap()
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }
}

/// Runs SQL against the home's SQLite database with the sqlite driver of sqlx (to tamper with
/// it the way an attacker with file access could).
pub fn sql(home: &TestHome, statements: &[&str]) {
    let url = format!("sqlite://{}", home.path("citadel.db").display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        for statement in statements {
            sqlx::query(statement).execute(&mut conn).await.unwrap();
        }
        conn.close().await.unwrap();
    });
}

/// `citadel --home ROOT` with no token from the environment.
pub fn bare_command(root: &Path) -> Command {
    Command::from_std(bare_process(root))
}

/// [`bare_command`] as a plain process, for a long-running child such as `citadel serve`.
pub fn bare_process(root: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_citadel"));
    cmd.arg("--home")
        .arg(root)
        .env_remove("CITADEL_TOKEN")
        .env_remove("CITADEL_HOME")
        .env_remove("CITADEL_DATABASE_URL")
        .env_remove("CITADEL_MASTER_KEY")
        .env_remove("CITADEL_MASTER_KEY_PREVIOUS")
        .env_remove("CITADEL_LOG");
    cmd
}

pub fn run_ok(cmd: &mut Command) -> String {
    let output = cmd.output().unwrap();
    assert!(
        output.status.success(),
        "command failed ({:?}): {}",
        output.status.code(),
        stderr(&output)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Runs a command that must fail with `code`; returns stderr.
pub fn run_fails(cmd: &mut Command, code: i32) -> String {
    let output = cmd.output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(code),
        "expected exit {code}; stdout: {} stderr: {}",
        String::from_utf8_lossy(&output.stdout),
        stderr(&output)
    );
    stderr(&output)
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(files_under(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
