//! Fresh databases for tests, on both backends: a SQLite file, and a new database on the
//! PostgreSQL server at `LUNGDESK_TEST_POSTGRES_URL` (default: the one `scripts/postgres.sh`
//! sets up), dropped afterwards.

use std::sync::atomic::{AtomicU32, Ordering};

/// The default test server, as `scripts/postgres.sh` makes it.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://lungdesk:lungdesk@127.0.0.1:5432/postgres";

/// One fresh database.
#[derive(Debug)]
pub struct TestDatabase {
    pub name: &'static str,
    pub url: String,
    drop_with: Option<(String, String)>,
    _dir: Option<tempfile_dir::Dir>,
}

mod tempfile_dir {
    /// A temporary directory removed on drop (std only, so the library needs no tempfile).
    #[derive(Debug)]
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

static NEXT: AtomicU32 = AtomicU32::new(0);

fn unique() -> String {
    format!("{}_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed), super::db::unix_now() % 100_000)
}

impl TestDatabase {
    pub fn sqlite() -> Self {
        let dir = std::env::temp_dir().join(format!("lungdesk-cloud-test-{}", unique()));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        let url = format!("sqlite://{}", dir.join("cloud.sqlite").display());
        TestDatabase { name: "sqlite", url, drop_with: None, _dir: Some(tempfile_dir::Dir(dir)) }
    }

    /// A new database on the test server; `None` (with a message) when there is none, unless
    /// `LUNGDESK_REQUIRE_POSTGRES` is set (CI), where that is a failure.
    pub fn postgres() -> Option<Self> {
        let admin = std::env::var("LUNGDESK_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
        let name = format!("lungdesk_test_{}", unique());
        let created = run(&admin, &format!("CREATE DATABASE {name}"));
        if let Err(e) = created {
            assert!(
                std::env::var_os("LUNGDESK_REQUIRE_POSTGRES").is_none(),
                "PostgreSQL is required here but {} is not usable: {e}",
                super::db::redact(&admin)
            );
            eprintln!(
                "PostgreSQL backend SKIPPED: {} is not usable ({e}); run scripts/postgres.sh",
                super::db::redact(&admin)
            );
            return None;
        }
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        Some(TestDatabase {
            name: "postgres",
            url: format!("{base}/{name}"),
            drop_with: Some((admin, name)),
            _dir: None,
        })
    }

    /// SQLite, and PostgreSQL when a server is there.
    pub fn both() -> Vec<Self> {
        let mut all = vec![Self::sqlite()];
        all.extend(Self::postgres());
        all
    }
}

fn run(url: &str, statement: &str) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    rt.block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|e| e.to_string())?;
        // The statement is built from a generated name only.
        sqlx::query(sqlx::AssertSqlSafe(statement.to_owned())).execute(&pool).await.map_err(|e| e.to_string())?;
        pool.close().await;
        Ok(())
    })
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.drop_with {
            let _ = run(admin, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}
