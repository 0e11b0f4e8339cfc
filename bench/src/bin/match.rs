//! The matchmaking load client: pairings per second with nobody else waiting, with a thousand
//! callers waiting whom no newcomer can be paired with, and while a thousand-long queue drains.
//!
//! `match <tokens-file> <server-pid> <base-url> <database-url>`
//!
//! - `tokens-file`: the seed's `tokens.txt` ("<user id> <session token>" per line); each token is
//!   used for one enqueue at most, so no caller is ever refused for a full slot or an entry of
//!   their own (every seeded user holds at least one free slot and no direct chat).
//! - `server-pid`: the server whose CPU time is read from `/proc/<pid>/stat`.
//! - `database-url`: the server's database, for counting the queue between phases and for turning
//!   the waiting callers' tags into the drain phase's one tag (below).
//!
//! Environment: `MATCH_CLIENTS` (8), the clients enqueueing at once, each over a keep-alive
//! connection of its own with the cookie of the caller it enqueues; `MATCH_PAIRS` (1000), the
//! pairings of each paired phase; `MATCH_WAITING` (1000), the callers left waiting; `CLK_TCK`, the
//! clock ticks of `/proc/<pid>/stat` per second (100 when unset); `MATCH_PG_DATABASE`, a PostgreSQL
//! database whose backends' CPU is measured too (found by their process titles, as `bench/lib.sh`
//! does); `MATCH_ANALYZE` (0), when 1, runs `ANALYZE` on the database before each phase, outside
//! its window, for a PostgreSQL whose autovacuum is off (the planner then has the statistics
//! autovacuum would have gathered by then).
//!
//! Phases, in this order, each on callers of its own:
//!
//! 1. `baseline`: `MATCH_PAIRS` pairings with an empty queue. Client `c` enqueues two callers one
//!    after the other on its own tag `pairc<c>`: the first answers `searching`, the second
//!    `matched` (it pairs with the first at once).
//! 2. `fill`: `MATCH_WAITING` callers enqueue, each on a tag of its own (`wait<i>`), so no one can
//!    be paired with them; every answer is `searching`.
//! 3. `waiting`: phase 1 again with those callers in the queue.
//! 4. `drain`: the waiting callers' tags are rewritten in the database to one tag, `drain` (a queue
//!    the server never builds itself: callers who share a tag pair as they arrive, so a long queue
//!    of compatible callers cannot form through enqueues), then `MATCH_WAITING` new callers
//!    enqueue on `drain`, each answered `matched` with the head of the queue.
//! 5. `baseline again`: phase 1 once more, after the others, with their direct chats in the
//!    database.
//!
//! Each phase reports its pairings (answers `matched`) and enqueues per second over its window
//! (its first request to its last answer), the latency of the enqueue that pairs (or of every
//! enqueue, in `fill`), and the CPU of the server, of PostgreSQL's backends and of this client per
//! pairing (per enqueue in `fill`), from `/proc` at the window's ends. Prints one JSON object per
//! phase, one a line.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use portal_bench::{cpu_ticks, percentile, postgres_ticks, round, Error, Http};
use serde_json::{json, Value};
use sqlx::AnyPool;

/// What every phase shares.
struct Run {
    tokens: Vec<String>,
    /// The next unused token.
    next_token: AtomicUsize,
    host: String,
    pid: String,
    database: Option<String>,
    clients: usize,
    ticks_per_s: f64,
}

impl Run {
    /// `n` tokens no phase has used.
    fn take(&self, n: usize) -> Result<usize, Error> {
        let first = self.next_token.fetch_add(n, Ordering::Relaxed);
        if first + n > self.tokens.len() {
            return Err(format!("{} tokens, the run needs more (seed more users)", self.tokens.len()).into());
        }
        Ok(first)
    }
}

/// How a phase's units of work look.
#[derive(Clone, Copy)]
enum Kind {
    /// Two enqueues on the client's own tag: `searching`, then `matched`.
    Pair,
    /// One enqueue on a tag of its own: `searching`.
    Fill,
    /// One enqueue on `drain`: `matched`.
    Drain,
}

/// What the clients of one phase record.
#[derive(Default)]
struct Tally {
    /// Latency of the unit's last enqueue (the one that pairs), and of a pair's first one, in µs.
    last_us: Vec<u64>,
    first_us: Vec<u64>,
    matched: usize,
    searching: usize,
    errors: usize,
    first_error: Option<String>,
}

/// One enqueue; the `state` of the answer, or the failure.
async fn enqueue(http: &mut Http, token: &str, tag: &str) -> Result<String, String> {
    http.set_token(token);
    let body = json!({ "interests": [tag] }).to_string();
    match http.post("/v1/portal/match", &body).await {
        Ok((200, answer)) => serde_json::from_str::<Value>(&answer)
            .ok()
            .and_then(|v| v["state"].as_str().map(str::to_owned))
            .ok_or_else(|| format!("enqueue: an answer without state: {answer}")),
        Ok((status, answer)) => Err(format!("enqueue: {status} {answer}")),
        Err(err) => Err(format!("enqueue: {err}")),
    }
}

/// Counts one answer against the state expected of it. In `drain`, a newcomer may find the
/// queue's last heads taken by others and wait instead: counted, not an error.
fn note(tally: &mut Tally, state: Result<String, String>, expected: &str, waiting_allowed: bool) {
    match state {
        Ok(state) => {
            match state.as_str() {
                "matched" => tally.matched += 1,
                "searching" => tally.searching += 1,
                _ => {}
            }
            if state != expected && !(waiting_allowed && state == "searching") {
                tally.errors += 1;
                tally
                    .first_error
                    .get_or_insert(format!("enqueue answered {state}, expected {expected}"));
            }
        }
        Err(err) => {
            tally.errors += 1;
            tally.first_error.get_or_insert(err);
        }
    }
}

/// One client of a phase: units `next..units` taken one at a time.
async fn client(
    run: Arc<Run>,
    kind: Kind,
    c: usize,
    first_token: usize,
    units: usize,
    next: Arc<AtomicUsize>,
) -> Tally {
    let mut http = Http::new(&run.host, "");
    let mut tally = Tally::default();
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= units {
            break;
        }
        match kind {
            Kind::Pair => {
                let tag = format!("pairc{c}");
                let started = Instant::now();
                let state = enqueue(&mut http, &run.tokens[first_token + 2 * i], &tag).await;
                let between = Instant::now();
                note(&mut tally, state, "searching", false);
                let state = enqueue(&mut http, &run.tokens[first_token + 2 * i + 1], &tag).await;
                tally.last_us.push(between.elapsed().as_micros() as u64);
                tally.first_us.push((between - started).as_micros() as u64);
                note(&mut tally, state, "matched", false);
            }
            Kind::Fill | Kind::Drain => {
                let (tag, expected) = match kind {
                    Kind::Fill => (format!("wait{i}"), "searching"),
                    _ => ("drain".to_owned(), "matched"),
                };
                let started = Instant::now();
                let state = enqueue(&mut http, &run.tokens[first_token + i], &tag).await;
                tally.last_us.push(started.elapsed().as_micros() as u64);
                note(&mut tally, state, expected, matches!(kind, Kind::Drain));
            }
        }
    }
    tally
}

/// Runs `units` units of `kind` over the run's clients and prints the phase's line.
async fn phase(run: &Arc<Run>, name: &str, kind: Kind, units: usize, queue_before: i64) -> Result<Value, Error> {
    let per_unit = match kind {
        Kind::Pair => 2,
        Kind::Fill | Kind::Drain => 1,
    };
    let first_token = run.take(units * per_unit)?;
    let next = Arc::new(AtomicUsize::new(0));
    let server_before = cpu_ticks(&run.pid);
    let client_before = cpu_ticks("self");
    let postgres_before = postgres_ticks(run.database.as_deref());
    let started = Instant::now();
    let tasks: Vec<_> = (0..run.clients)
        .map(|c| tokio::spawn(client(run.clone(), kind, c, first_token, units, next.clone())))
        .collect();
    let mut tally = Tally::default();
    for task in tasks {
        let one = task.await?;
        tally.last_us.extend(one.last_us);
        tally.first_us.extend(one.first_us);
        tally.matched += one.matched;
        tally.searching += one.searching;
        tally.errors += one.errors;
        if tally.first_error.is_none() {
            tally.first_error = one.first_error;
        }
    }
    let window_s = started.elapsed().as_secs_f64();
    let ticks = |after: u64, before: u64| after.saturating_sub(before) as f64 / run.ticks_per_s;
    let server_cpu_s = ticks(cpu_ticks(&run.pid), server_before);
    let client_cpu_s = ticks(cpu_ticks("self"), client_before);
    let postgres_cpu_s = ticks(postgres_ticks(run.database.as_deref()), postgres_before);
    tally.last_us.sort_unstable();
    tally.first_us.sort_unstable();
    let enqueues = units * per_unit;
    // What each unit's CPU is counted against: a pairing, or in `fill` an enqueue.
    let counted = match kind {
        Kind::Fill => enqueues,
        Kind::Pair | Kind::Drain => tally.matched,
    };
    let per = |cpu_s: f64| match counted {
        0 => 0.0,
        n => round(cpu_s * 1e6 / n as f64, 0),
    };
    let line = json!({
        "phase": name,
        "clients": run.clients,
        "queue_before": queue_before,
        "enqueues": enqueues,
        "pairings": tally.matched,
        "searching": tally.searching,
        "errors": tally.errors,
        "window_s": round(window_s, 3),
        "pairings_per_s": round(tally.matched as f64 / window_s, 1),
        "enqueues_per_s": round(enqueues as f64 / window_s, 1),
        "latency_p50_ms": percentile(&tally.last_us, 50.0),
        "latency_p99_ms": percentile(&tally.last_us, 99.0),
        "latency_max_ms": percentile(&tally.last_us, 100.0),
        "first_enqueue_p50_ms": percentile(&tally.first_us, 50.0),
        "first_enqueue_p99_ms": percentile(&tally.first_us, 99.0),
        "server_cpu_s": round(server_cpu_s, 2),
        "server_cpu_us_per_unit": per(server_cpu_s),
        "postgres_cpu_us_per_unit": per(postgres_cpu_s),
        "client_cpu_us_per_unit": per(client_cpu_s),
        "first_error": tally.first_error,
    });
    println!("{line}");
    Ok(line)
}

/// The queue's length before a phase, after `ANALYZE` when asked for.
async fn queue_length(pool: &AnyPool, analyze: bool) -> Result<i64, Error> {
    if analyze {
        sqlx::query("ANALYZE").execute(pool).await?;
    }
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM match_entries")
        .fetch_one(pool)
        .await?;
    Ok(n)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        return Err("usage: match <tokens-file> <server-pid> <base-url> <database-url>".into());
    }
    let setting = |name: &str, default: usize| -> Result<usize, Error> {
        match std::env::var(name) {
            Ok(v) => Ok(v.parse()?),
            Err(_) => Ok(default),
        }
    };
    let clients = setting("MATCH_CLIENTS", 8)?.max(1);
    let pairs = setting("MATCH_PAIRS", 1000)?;
    let waiting = setting("MATCH_WAITING", 1000)?;
    let analyze = setting("MATCH_ANALYZE", 0)? == 1;
    let run = Arc::new(Run {
        tokens: std::fs::read_to_string(&args[1])?
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1).map(str::to_owned))
            .collect(),
        next_token: AtomicUsize::new(0),
        host: args[3].trim_end_matches('/').trim_start_matches("http://").to_owned(),
        pid: args[2].clone(),
        database: std::env::var("MATCH_PG_DATABASE").ok().filter(|d| !d.is_empty()),
        clients,
        ticks_per_s: std::env::var("CLK_TCK")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100.0),
    });
    let needed = 3 * 2 * pairs + 2 * waiting;
    if run.tokens.len() < needed {
        return Err(format!("{} tokens, the run needs {needed}", run.tokens.len()).into());
    }
    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(&args[4]).await?;
    let failed = Mutex::new(Vec::new());
    let check = |line: &Value| {
        if line["errors"].as_u64() != Some(0) {
            failed
                .lock()
                .unwrap()
                .push(format!("{}: {}", line["phase"], line["first_error"]));
        }
    };

    check(&phase(&run, "baseline", Kind::Pair, pairs, queue_length(&pool, analyze).await?).await?);
    check(&phase(&run, "fill", Kind::Fill, waiting, queue_length(&pool, analyze).await?).await?);
    let queued = queue_length(&pool, analyze).await?;
    check(&phase(&run, "waiting", Kind::Pair, pairs, queued).await?);

    // The waiting callers share one tag from now on: each newcomer pairs with the queue's head.
    sqlx::query("UPDATE match_entry_tags SET tag = 'drain' WHERE tag LIKE 'wait%'")
        .execute(&pool)
        .await?;
    sqlx::query("UPDATE match_entries SET interests = '[\"drain\"]' WHERE interests LIKE '[\"wait%'")
        .execute(&pool)
        .await?;
    let queued = queue_length(&pool, analyze).await?;
    check(&phase(&run, "drain", Kind::Drain, waiting, queued).await?);
    check(
        &phase(
            &run,
            "baseline again",
            Kind::Pair,
            pairs,
            queue_length(&pool, analyze).await?,
        )
        .await?,
    );
    let left = queue_length(&pool, analyze).await?;
    println!("{}", json!({ "queue_at_end": left }));

    let failed = failed.into_inner().unwrap();
    if !failed.is_empty() {
        return Err(format!(
            "enqueues failed or answered otherwise than expected: {}",
            failed.join("; ")
        )
        .into());
    }
    Ok(())
}
