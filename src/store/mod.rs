//! The only code that talks to the database. One dialect-neutral SQL text per query (sqlx's `Any`
//! driver with `$n` placeholders), timestamps as integer microseconds, booleans as 0/1 integers.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::{AnyConnection, AnyPool, Executor, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::config::DatabaseConfig;

pub mod audit;
pub mod bots;
pub mod chats;
pub mod codes;
pub mod history;
pub mod keys;
pub mod notifications;
pub mod sessions;
pub mod statistics;
pub mod users;

pub type Conn = AnyConnection;

/// A write transaction; it derefs to the connection the store functions take.
pub struct Tx {
    transaction: Transaction<'static, sqlx::Any>,
    /// SQLite: this node's turn to write, held until commit or drop (declared last, so the
    /// transaction has rolled back before the next writer starts).
    _turn: Option<OwnedMutexGuard<()>>,
}

impl Tx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.transaction.commit().await
    }
}

/// A pooled connection for writes that need no transaction: each statement stands alone. On
/// SQLite it holds this node's write turn, as a transaction does.
pub struct Writer {
    conn: PoolConnection<sqlx::Any>,
    _turn: Option<OwnedMutexGuard<()>>,
}

impl Deref for Writer {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.conn
    }
}

impl DerefMut for Writer {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }
}

impl Deref for Tx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.transaction
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.transaction
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Switches that make the store fail on purpose, so tests can prove that an action and its audit
/// row commit together or not at all.
#[derive(Debug, Default)]
pub struct Faults {
    pub fail_audit_insert: AtomicBool,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    max_connections: u32,
    /// SQLite has one writer at a time; writers queue here instead of in SQLite's busy handler,
    /// which sleeps for milliseconds between tries.
    write_turn: Arc<Mutex<()>>,
    acquire_timeout: Duration,
    pub faults: Arc<Faults>,
}

impl Store {
    /// Opens the pool. For SQLite the file's folder is created and WAL mode is set per connection.
    pub async fn connect(url: &str, config: &DatabaseConfig) -> Result<Store, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        };
        if backend == Backend::Sqlite {
            if let Some(dir) = sqlite_file_dir(url) {
                std::fs::create_dir_all(&dir).map_err(sqlx::Error::Io)?;
            }
        }
        let max_connections = config.max_connections.unwrap_or(match backend {
            Backend::Sqlite => 4,
            Backend::Postgres => 10,
        });
        let options: AnyConnectOptions = url.parse()?;
        let mut pool_options = AnyPoolOptions::new()
            .max_connections(max_connections)
            .min_connections(1)
            // A broken connection fails its query and leaves the pool then; a ping before every
            // use would double the round trips of the hot reads.
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_millis(config.acquire_timeout_ms));
        if backend == Backend::Sqlite {
            // busy_timeout is SQLite's own bounded retry of a busy or locked database; past it the
            // statement fails with SQLITE_BUSY, which the API answers with 503.
            // mmap: every write from another connection empties this connection's page cache;
            // with the file mapped, refilling it is a memory read, not a read() per page.
            let pragmas = format!(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; \
                 PRAGMA busy_timeout={}; PRAGMA foreign_keys=ON; PRAGMA mmap_size=268435456;",
                config.busy_timeout_ms
            );
            pool_options = pool_options.after_connect(move |conn, _meta| {
                let pragmas = pragmas.clone();
                Box::pin(async move {
                    conn.execute(pragmas.as_str()).await?;
                    Ok(())
                })
            });
        }
        let pool = pool_options.connect_with(options).await?;
        Ok(Store {
            pool,
            backend,
            max_connections,
            write_turn: Arc::new(Mutex::new(())),
            acquire_timeout: Duration::from_millis(config.acquire_timeout_ms),
            faults: Arc::new(Faults::default()),
        })
    }

    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        match self.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite").run(&self.pool).await,
            Backend::Postgres => sqlx::migrate!("migrations/postgres").run(&self.pool).await,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// SQLite: waits for this node's turn to write (as long as for a pooled connection at most).
    async fn write_turn(&self) -> Result<Option<OwnedMutexGuard<()>>, sqlx::Error> {
        if self.backend != Backend::Sqlite {
            return Ok(None);
        }
        tokio::time::timeout(self.acquire_timeout, self.write_turn.clone().lock_owned())
            .await
            .map(Some)
            .map_err(|_| sqlx::Error::PoolTimedOut)
    }

    /// A write transaction. SQLite takes the write lock up front, so two writers queue on the busy
    /// timeout instead of failing when a read lock cannot be upgraded.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        let turn = self.write_turn().await?;
        let transaction = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(Tx {
            transaction,
            _turn: turn,
        })
    }

    /// A connection for statements that each write on their own (see [`Writer`]).
    pub async fn writer(&self) -> Result<Writer, sqlx::Error> {
        let turn = self.write_turn().await?;
        Ok(Writer {
            conn: self.pool.acquire().await?,
            _turn: turn,
        })
    }

    pub async fn acquire(&self) -> Result<PoolConnection<sqlx::Any>, sqlx::Error> {
        self.pool.acquire().await
    }

    /// `SELECT 1` for the health check.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map(|_| ())
    }

    pub fn pool_stats(&self) -> PoolStats {
        let total = self.pool.size();
        let idle = self.pool.num_idle() as u32;
        PoolStats {
            size: self.max_connections,
            checked_in: idle,
            checked_out: total.saturating_sub(idle),
        }
    }

    pub fn fail_audit_inserts(&self, fail: bool) {
        self.faults.fail_audit_insert.store(fail, Ordering::SeqCst);
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

pub struct PoolStats {
    pub size: u32,
    pub checked_in: u32,
    pub checked_out: u32,
}

fn sqlite_file_dir(url: &str) -> Option<std::path::PathBuf> {
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next()?;
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    std::path::Path::new(path)
        .parent()
        .map(|p| p.to_path_buf())
        .filter(|p| !p.as_os_str().is_empty())
}

/// Booleans are stored as 0/1 integers in both backends.
pub fn flag(value: bool) -> i64 {
    value as i64
}
