//! What one database round trip costs through the server's own store: `roundtrip <database-url>
//! <statements>` opens the store as `portal serve` does and runs that many `SELECT 1` one after
//! another on one pooled connection, then prints the wall time and this process's CPU time per
//! statement as JSON. On SQLite the statement runs on the driver's worker thread, so the figures
//! are the cost of handing a statement to that thread and its answer back; on PostgreSQL they are
//! the client's side of a network round trip (the server's backend has its own CPU on top).

use std::time::Instant;

use portal::config::DatabaseConfig;
use portal::store::Store;

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
    let cpu_before = cpu_ticks();
    let started = Instant::now();
    for _ in 0..statements {
        sqlx::query("SELECT 1").execute(&mut *conn).await.expect("SELECT 1");
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = (cpu_ticks() - cpu_before) as f64 / ticks_per_second();
    let per = |seconds: f64| seconds * 1e6 / statements as f64;
    println!(
        "{{\"statements\":{statements},\"wall_us_per_statement\":{:.1},\"cpu_us_per_statement\":{:.1}}}",
        per(wall),
        per(cpu)
    );
}
