//! The soak's connection client: many users held on `/v1/portal/ws` for a long time, a share of
//! them reconnecting every minute, with the server's RSS sampled throughout.
//!
//! `churn <tokens-file> <first-line> <connections> <seconds> <churn-percent-a-minute> <server-pid> <ws-url>`
//!
//! - `tokens-file`: the seed's `tokens.txt` ("<user id> <session token>" per line); the
//!   connections use `connections` lines from line `first-line` (counted from 0), so that another
//!   client (the chat traffic of `bench/soak.sh`) can use the lines before it.
//! - `churn-percent-a-minute`: that share of the connections closes and opens again every minute,
//!   one at a time and evenly spread over the minute, each picked at random.
//!
//! It opens every connection (`HANDSHAKES` at once), then for `seconds` keeps them open and churns
//! them, reading every frame. The server's RSS is read every `SAMPLE` from the start of the run.
//! Errors are a handshake that fails or brings no `presence:snapshot` within `SNAPSHOT_LIMIT`, and
//! a connection that the server closes or that breaks without being asked to. Prints one JSON
//! object: the samples (seconds since the start, KB), the counters and the first errors.

use portal_bench::{rss_kb, wait_for, Error};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rand::seq::SliceRandom;
use tokio::sync::{Notify, Semaphore};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const HANDSHAKES: usize = 100;
const SNAPSHOT_LIMIT: Duration = Duration::from_secs(30);
const SAMPLE: Duration = Duration::from_secs(10);
/// Errors kept word for word; the rest are only counted.
const KEPT_ERRORS: usize = 20;

struct Shared {
    started: Instant,
    connects: AtomicUsize,
    reconnects: AtomicUsize,
    errors: AtomicUsize,
    frames: AtomicU64,
    first_errors: Mutex<Vec<String>>,
}

impl Shared {
    fn note_error(&self, error: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut kept = self.first_errors.lock().unwrap();
        if kept.len() < KEPT_ERRORS {
            kept.push(format!("{:.1}s {error}", self.started.elapsed().as_secs_f64()));
        }
    }
}

/// Opens one realtime connection and waits for its `presence:snapshot`.
async fn open(
    url: &str,
    token: &str,
    shared: &Shared,
) -> Result<tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>, Error> {
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("cookie", format!("psession={token}").parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    let snapshot = tokio::time::timeout(SNAPSHOT_LIMIT, async {
        while let Some(message) = socket.next().await {
            shared.frames.fetch_add(1, Ordering::Relaxed);
            match message? {
                // The server's JSON objects do not promise a key order.
                Message::Text(text) if text.contains("\"event\":\"presence:snapshot\"") => return Ok(()),
                Message::Close(frame) => return Err(format!("closed before the snapshot: {frame:?}").into()),
                _ => {}
            }
        }
        Err::<(), Error>("ended before the snapshot".into())
    })
    .await;
    match snapshot {
        Ok(Ok(())) => Ok(socket),
        Ok(Err(err)) => Err(err),
        Err(_) => Err("no snapshot in time".into()),
    }
}

/// One user's connection for the whole run: opened, read, and opened again each time `churn`
/// is notified, until `done`.
async fn connection(
    url: String,
    token: String,
    churn: Arc<Notify>,
    done: Arc<Notify>,
    shared: Arc<Shared>,
    gate: Arc<Semaphore>,
) {
    let mut first = true;
    loop {
        let socket = {
            let _permit = gate.acquire().await;
            open(&url, &token, &shared).await
        };
        let mut socket = match socket {
            Ok(socket) => socket,
            Err(err) => {
                shared.note_error(format!("handshake: {err}"));
                return;
            }
        };
        if first {
            shared.connects.fetch_add(1, Ordering::Relaxed);
            first = false;
        } else {
            shared.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        loop {
            tokio::select! {
                message = socket.next() => match message {
                    Some(Ok(Message::Close(frame))) => {
                        shared.note_error(format!("closed by the server: {frame:?}"));
                        return;
                    }
                    Some(Ok(_)) => { shared.frames.fetch_add(1, Ordering::Relaxed); }
                    Some(Err(err)) => {
                        shared.note_error(format!("broken: {err}"));
                        return;
                    }
                    None => {
                        shared.note_error("ended without a close".to_owned());
                        return;
                    }
                },
                _ = churn.notified() => {
                    let _ = socket.close(None).await;
                    break;
                }
                _ = done.notified() => {
                    let _ = socket.close(None).await;
                    return;
                }
            }
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 8 {
        return Err("usage: churn <tokens-file> <first-line> <connections> <seconds> <churn-percent-a-minute> <server-pid> <ws-url>".into());
    }
    let first_line: usize = args[2].parse()?;
    let connections: usize = args[3].parse()?;
    let seconds: u64 = args[4].parse()?;
    let churn_percent: f64 = args[5].parse()?;
    let (pid, url) = (args[6].clone(), args[7].clone());
    let tokens: Vec<String> = std::fs::read_to_string(&args[1])?
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_owned))
        .skip(first_line)
        .take(connections)
        .collect();
    if tokens.len() < connections {
        return Err(format!(
            "{} tokens from line {first_line} for {connections} connections",
            tokens.len()
        )
        .into());
    }

    let shared = Arc::new(Shared {
        started: Instant::now(),
        connects: AtomicUsize::new(0),
        reconnects: AtomicUsize::new(0),
        errors: AtomicUsize::new(0),
        frames: AtomicU64::new(0),
        first_errors: Mutex::new(Vec::new()),
    });
    let samples = Arc::new(Mutex::new(Vec::new()));
    let sampling = {
        let (samples, shared, pid) = (samples.clone(), shared.clone(), pid.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SAMPLE);
            loop {
                tick.tick().await;
                let at = shared.started.elapsed().as_secs();
                samples.lock().unwrap().push((at, rss_kb(&pid)));
            }
        })
    };

    let gate = Arc::new(Semaphore::new(HANDSHAKES));
    let done = Arc::new(Notify::new());
    let mut churns = Vec::with_capacity(connections);
    let mut tasks = Vec::with_capacity(connections);
    for token in tokens {
        let churn = Arc::new(Notify::new());
        churns.push(churn.clone());
        tasks.push(tokio::spawn(connection(
            url.clone(),
            token,
            churn,
            done.clone(),
            shared.clone(),
            gate.clone(),
        )));
    }
    wait_for(Duration::from_secs(600), || {
        shared.connects.load(Ordering::Relaxed) + shared.errors.load(Ordering::Relaxed) >= connections
    })
    .await;
    let connected_s = shared.started.elapsed().as_secs_f64();

    // Churn: one reconnection at a time, evenly spread, at the asked share a minute.
    let per_minute = (connections as f64 * churn_percent / 100.0).round().max(1.0);
    let mut every = tokio::time::interval(Duration::from_secs_f64(60.0 / per_minute));
    every.tick().await;
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut order: Vec<usize> = (0..connections).collect();
    order.shuffle(&mut rand::thread_rng());
    let mut next = order.iter().cycle();
    while Instant::now() < until {
        every.tick().await;
        if let Some(&i) = next.next() {
            churns[i].notify_one();
        }
    }
    done.notify_waiters();
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    sampling.abort();

    let samples = samples.lock().unwrap().clone();
    let errors = shared.first_errors.lock().unwrap().clone();
    println!(
        "{}",
        serde_json::json!({
            "connections": connections,
            "connected": shared.connects.load(Ordering::Relaxed),
            "connected_s": (connected_s * 10.0).round() / 10.0,
            "reconnects": shared.reconnects.load(Ordering::Relaxed),
            "errors": shared.errors.load(Ordering::Relaxed),
            "first_errors": errors,
            "frames": shared.frames.load(Ordering::Relaxed),
            "rss_samples": samples,
        })
    );
    Ok(())
}
