//! The only code that talks to the database. One dialect-neutral SQL text per query (sqlx's `Any`
//! driver with `$n` placeholders), timestamps as integer microseconds, booleans as 0/1 integers.
//! PostgreSQL has statements of its own only where it needs locks SQLite's single writer makes
//! needless, and for the login, which it does in one statement (`users::log_in_with_code`) where
//! the general path, which SQLite takes, needs a transaction of five.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::{AnyConnection, AnyPool, Executor, Transaction};

use crate::config::DatabaseConfig;

pub mod audit;
pub mod bots;
pub mod browser;
pub mod chats;
pub mod codes;
pub mod history;
pub mod keys;
pub mod match_reports;
pub mod match_stats;
pub mod matchmaking;
pub mod notifications;
pub mod sessions;
pub mod sqlite_memory;
pub mod statistics;
pub mod strangers;
pub mod transport;
pub mod users;
mod write_thread;

pub type Tx = Transaction<'static, sqlx::Any>;
pub type Conn = AnyConnection;
/// A pooled connection for writes that need no transaction: each statement stands alone.
pub type Writer = PoolConnection<sqlx::Any>;

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
    /// Every read; on PostgreSQL every write too.
    pool: AnyPool,
    /// SQLite writes one transaction at a time, so its writes share one connection: writers queue
    /// for it (up to the acquire timeout) instead of in SQLite's busy handler, which sleeps for
    /// milliseconds between tries, and its page cache stays warm, since only other connections'
    /// writes empty a connection's cache.
    sqlite_writer: Option<AnyPool>,
    /// SQLite's writes are driven from one thread that shares a CPU with the writer connection's
    /// own thread (see `write_thread`).
    write_thread: Option<Arc<write_thread::WriteThread>>,
    backend: Backend,
    max_connections: u32,
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
        // busy_timeout is SQLite's own bounded retry of a busy or locked database; past it the
        // statement fails with SQLITE_BUSY, which the API answers with 503.
        let pragmas = format!(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; \
             PRAGMA busy_timeout={}; PRAGMA foreign_keys=ON;",
            config.busy_timeout_ms
        );
        let pool_options = |size: u32| {
            let options = AnyPoolOptions::new()
                .max_connections(size)
                .min_connections(1)
                // A broken connection fails its query and leaves the pool then; a ping before
                // every use would double the round trips of the hot reads.
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_millis(config.acquire_timeout_ms));
            if backend != Backend::Sqlite {
                return options;
            }
            let pragmas = pragmas.clone();
            options.after_connect(move |conn, _meta| {
                let pragmas = pragmas.clone();
                Box::pin(async move {
                    conn.execute(pragmas.as_str()).await?;
                    Ok(())
                })
            })
        };
        let pool = pool_options(max_connections).connect_with(options.clone()).await?;
        let (sqlite_writer, write_thread) = match backend {
            Backend::Sqlite if config.sqlite_write_thread => {
                let thread = write_thread::WriteThread::start().await.map_err(sqlx::Error::Io)?;
                // Opened on the write thread, so the connection's own thread inherits its CPU.
                let writer_options = pool_options(1).max_lifetime(None).idle_timeout(None);
                let writer = thread
                    .handle()
                    .spawn(async move { writer_options.connect_with(options).await })
                    .await
                    .map_err(|e| sqlx::Error::Io(std::io::Error::other(e)))??;
                (Some(writer), Some(Arc::new(thread)))
            }
            Backend::Sqlite => (Some(pool_options(1).connect_with(options).await?), None),
            Backend::Postgres => (None, None),
        };
        Ok(Store {
            pool,
            sqlite_writer,
            write_thread,
            backend,
            max_connections,
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

    /// The runtime that write requests run on, when the backend has one (SQLite).
    pub fn write_runtime(&self) -> Option<&tokio::runtime::Handle> {
        self.write_thread.as_deref().map(write_thread::WriteThread::handle)
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Where writes go: SQLite's single writer connection, or the pool.
    fn write_pool(&self) -> &AnyPool {
        self.sqlite_writer.as_ref().unwrap_or(&self.pool)
    }

    /// A write transaction. SQLite takes the write lock up front, so a transaction never fails on
    /// upgrading a read lock.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.write_pool().begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// A connection for statements that each write on their own.
    pub async fn writer(&self) -> Result<Writer, sqlx::Error> {
        self.write_pool().acquire().await
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
        if let Some(writer) = &self.sqlite_writer {
            writer.close().await;
        }
        self.pool.close().await;
    }
}

pub struct PoolStats {
    pub size: u32,
    pub checked_in: u32,
    pub checked_out: u32,
}

/// The database file of a `sqlite:` URL; `None` for another scheme or an in-memory database.
pub fn sqlite_file(url: &str) -> Option<&str> {
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next()?;
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(path)
}

fn sqlite_file_dir(url: &str) -> Option<std::path::PathBuf> {
    std::path::Path::new(sqlite_file(url)?)
        .parent()
        .map(|p| p.to_path_buf())
        .filter(|p| !p.as_os_str().is_empty())
}

/// Booleans are stored as 0/1 integers in both backends.
pub fn flag(value: bool) -> i64 {
    value as i64
}

/// Ids bound in one statement, well below what either backend accepts.
const IDS_PER_STATEMENT: usize = 1000;

/// The rows of `select` for a list of ids: `{ids}` in the text becomes `$1, …, $n` for `ids`,
/// and `{after}` the placeholder of `after`, bound last when given. A long list runs as several
/// statements, so an `ORDER BY` holds within each run of `IDS_PER_STATEMENT` ids.
async fn fetch_for_ids<T>(conn: &mut Conn, select: &str, ids: &[i64], after: Option<i64>) -> Result<Vec<T>, sqlx::Error>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
{
    let mut rows = Vec::new();
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        let list = (1..=chunk.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = select
            .replace("{ids}", &list)
            .replace("{after}", &format!("${}", chunk.len() + 1));
        let mut query = sqlx::query_as(&sql);
        for id in chunk {
            query = query.bind(*id);
        }
        if let Some(after) = after {
            query = query.bind(after);
        }
        rows.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(rows)
}
