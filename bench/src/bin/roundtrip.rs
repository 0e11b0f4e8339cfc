//! What one database round trip costs through the server's own store: `roundtrip <database-url>
//! <statements>` opens the store as `portal serve` does and runs that many `SELECT 1` one after
//! another on one pooled connection, then prints the wall time and this process's CPU time per
//! statement as JSON. On SQLite the statement runs on the driver's worker thread, so the figures
//! are the cost of handing a statement to that thread and its answer back; on PostgreSQL they are
//! the client's side of a network round trip (the server's backend has its own CPU on top).
//!
//! For SQLite it also runs the statement through rusqlite on the calling thread, with no hand-off
//! at all (`direct_*`): what the store's statements would cost without the driver's thread.

use std::time::Instant;

use portal::config::DatabaseConfig;
use portal::store::{sqlite_file, Store};

/// User plus system CPU time of this process, in clock ticks.
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("read /proc/self/stat");
    // The command name may hold spaces; the fields after its closing parenthesis do not.
    let fields: Vec<&str> = stat[stat.rfind(')').expect("stat format") + 2..].split(' ').collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

fn ticks_per_second() -> f64 {
    // The kernel's USER_HZ; 100 on every Linux this runs on.
    100.0
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: roundtrip <database-url> <statements>");
        std::process::exit(2);
    }
    let statements: u32 = args[2].parse().expect("statements: a number");
    let store = Store::connect(&args[1], &DatabaseConfig::default())
        .await
        .expect("connect");
    let mut conn = store.acquire().await.expect("a connection");
    // Warm the statement cache and the connection first.
    for _ in 0..100 {
        sqlx::query("SELECT 1").execute(&mut *conn).await.expect("SELECT 1");
    }
    let clock = Clock::start();
    for _ in 0..statements {
        sqlx::query("SELECT 1").execute(&mut *conn).await.expect("SELECT 1");
    }
    let (wall_us, cpu_us) = clock.per_statement(statements);
    let mut out = format!(
        "{{\"statements\":{statements},\"wall_us_per_statement\":{wall_us:.1},\"cpu_us_per_statement\":{cpu_us:.1}"
    );
    if let Some(path) = sqlite_file(&args[1]) {
        // A direct call takes a microsecond or so: many more of them, so the CPU clock's 10 ms
        // ticks do not blur the figure.
        let (wall_us, cpu_us) = direct_sqlite(path, statements * DIRECT_FACTOR);
        out.push_str(&format!(
            ",\"direct_wall_us_per_statement\":{wall_us:.2},\"direct_cpu_us_per_statement\":{cpu_us:.2}"
        ));
    }
    out.push('}');
    println!("{out}");
}

const DIRECT_FACTOR: u32 = 50;

/// Wall and CPU time from its start.
struct Clock {
    started: Instant,
    cpu_before: u64,
}

impl Clock {
    fn start() -> Clock {
        Clock {
            cpu_before: cpu_ticks(),
            started: Instant::now(),
        }
    }

    /// Microseconds of wall and CPU time per statement, `statements` having run since the start.
    fn per_statement(&self, statements: u32) -> (f64, f64) {
        let wall = self.started.elapsed().as_secs_f64();
        let cpu = (cpu_ticks() - self.cpu_before) as f64 / ticks_per_second();
        let per = |seconds: f64| seconds * 1e6 / statements as f64;
        (per(wall), per(cpu))
    }
}

/// `SELECT 1` through a prepared, cached statement on this thread: microseconds of wall and CPU
/// time per statement.
fn direct_sqlite(path: &str, statements: u32) -> (f64, f64) {
    let conn = rusqlite::Connection::open(path).expect("open the SQLite file");
    let mut select = conn.prepare_cached("SELECT 1").expect("prepare SELECT 1");
    let mut run = || {
        let one: i64 = select.query_row([], |row| row.get(0)).expect("SELECT 1");
        assert_eq!(one, 1);
    };
    for _ in 0..100 {
        run();
    }
    let clock = Clock::start();
    for _ in 0..statements {
        run();
    }
    clock.per_statement(statements)
}
