//! The realtime load client: many users, one `/v1/portal/ws` connection each, then broadcasts.
//!
//! `realtime <tokens-file> <connections> <in-flight> <broadcasts> <server-pids> <ws-urls>`
//!
//! - `tokens-file`: the seed's `tokens.txt` ("<user id> <session token>" per line). The first line
//!   (an Owner) sends the broadcasts; the connections use the next `connections` lines.
//! - `in-flight`: how many handshakes may be under way at once (the join storm's width).
//! - `server-pids`, `ws-urls`: comma-separated, one per node; connection `i` goes to node
//!   `i % nodes`, and the broadcasts are sent to the first node. The server RSS is read from
//!   `/proc/<pid>/status` of every node.
//!
//! It opens every connection, counts as connected the moment each one's `presence:snapshot` has
//! arrived, waits for the join announcements to drain and then `SETTLE` more, reads the server
//! RSS, then sends the broadcasts one a second and measures, per delivery, the time from sending
//! the request to the `notification:new` frame arriving. Prints one JSON object.

use portal_bench::{percentile, rss_kb, wait_for};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// How long the connections stay idle after the storm before the server's RSS is read.
const SETTLE: Duration = Duration::from_secs(8);

/// What all connections share: counters, and where each broadcast's deliveries are recorded.
struct Shared {
    started: Instant,
    connected: AtomicUsize,
    failed: AtomicUsize,
    closed: AtomicUsize,
    frames: AtomicU64,
    /// Microseconds since `started` at which the last snapshot arrived.
    last_connected_us: AtomicU64,
    /// Microseconds since `started` at which the last frame of any kind arrived.
    last_frame_us: AtomicU64,
    /// Per broadcast: when it was sent, and the delivery latencies in microseconds.
    sent_us: Vec<AtomicU64>,
    latencies_us: Mutex<Vec<u64>>,
}

impl Shared {
    fn since_start_us(&self) -> u64 {
        self.started.elapsed().as_micros() as u64
    }
}

fn total_rss_kb(pids: &[String]) -> u64 {
    pids.iter().map(|p| rss_kb(p)).sum()
}

async fn connection(url: String, token: String, shared: Arc<Shared>, gate: Arc<Semaphore>) {
    let permit = gate.acquire_owned().await;
    let mut request = match url.as_str().into_client_request() {
        Ok(request) => request,
        Err(_) => {
            shared.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    if let Ok(cookie) = format!("psession={token}").parse() {
        request.headers_mut().insert("cookie", cookie);
    }
    let mut socket = match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => socket,
        Err(_) => {
            shared.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let mut permit = Some(permit);
    while let Some(message) = socket.next().await {
        let text = match message {
            Ok(Message::Text(text)) => text,
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        };
        let at = shared.since_start_us();
        shared.frames.fetch_add(1, Ordering::Relaxed);
        shared.last_frame_us.fetch_max(at, Ordering::Relaxed);
        // The server's JSON objects do not promise a key order, so the event name is looked for
        // anywhere in the frame.
        if permit.is_some() && text.contains("\"event\":\"presence:snapshot\"") {
            // The handshake slot is free once the connection is fully open.
            permit = None;
            shared.connected.fetch_add(1, Ordering::Relaxed);
            shared.last_connected_us.fetch_max(at, Ordering::Relaxed);
        } else if text.contains("\"notification:new\"") {
            if let Some(k) = broadcast_number(&text) {
                let sent = shared.sent_us.get(k).map(|s| s.load(Ordering::Acquire)).unwrap_or(0);
                if sent > 0 {
                    shared.latencies_us.lock().unwrap().push(at.saturating_sub(sent));
                }
            }
        }
    }
    if permit.is_some() {
        shared.failed.fetch_add(1, Ordering::Relaxed);
    } else {
        shared.closed.fetch_add(1, Ordering::Relaxed);
    }
}

/// The broadcast's number, from its title "bench broadcast <k>".
fn broadcast_number(text: &str) -> Option<usize> {
    let at = text.find("bench broadcast ")? + "bench broadcast ".len();
    let digits: String = text[at..].chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// `POST /v1/admin/notifications` as the Owner, on a connection of its own; returns the status.
async fn broadcast(http_host: &str, owner_token: &str, k: usize) -> Result<u16, Error> {
    let body = format!(r#"{{"title":"bench broadcast {k}","body":"A broadcast to everyone online."}}"#);
    let request = format!(
        "POST /v1/admin/notifications HTTP/1.1\r\nHost: {http_host}\r\nCookie: psession={owner_token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(http_host).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let status = String::from_utf8_lossy(&answer)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok(status)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 7 {
        return Err(
            "usage: realtime <tokens-file> <connections> <in-flight> <broadcasts> <server-pids> <ws-urls>".into(),
        );
    }
    let tokens: Vec<String> = std::fs::read_to_string(&args[1])?
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_owned))
        .collect();
    let connections: usize = args[2].parse()?;
    let in_flight: usize = args[3].parse()?;
    let broadcasts: usize = args[4].parse()?;
    let pids: Vec<String> = args[5].split(',').map(str::to_owned).collect();
    let urls: Vec<String> = args[6].split(',').map(str::to_owned).collect();
    if tokens.len() < connections + 1 {
        return Err(format!("{} tokens for {connections} connections and the sender", tokens.len()).into());
    }
    let http_host = urls[0]
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();

    let rss_idle_kb = total_rss_kb(&pids);
    let shared = Arc::new(Shared {
        started: Instant::now(),
        connected: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        closed: AtomicUsize::new(0),
        frames: AtomicU64::new(0),
        last_connected_us: AtomicU64::new(0),
        last_frame_us: AtomicU64::new(0),
        sent_us: (0..broadcasts).map(|_| AtomicU64::new(0)).collect(),
        latencies_us: Mutex::new(Vec::with_capacity(connections * broadcasts)),
    });
    let gate = Arc::new(Semaphore::new(in_flight.max(1)));
    for (i, token) in tokens[1..=connections].iter().enumerate() {
        let url = urls[i % urls.len()].clone();
        tokio::spawn(connection(url, token.clone(), shared.clone(), gate.clone()));
    }
    let settled = |shared: &Shared| shared.connected.load(Ordering::Relaxed) + shared.failed.load(Ordering::Relaxed);
    wait_for(Duration::from_secs(300), || settled(&shared) >= connections).await;
    let connect_s = shared.last_connected_us.load(Ordering::Relaxed) as f64 / 1e6;
    // The join announcements are still arriving: wait until no frame has come for a second.
    wait_for(Duration::from_secs(300), || {
        shared.since_start_us() > shared.last_frame_us.load(Ordering::Relaxed) + 1_000_000
    })
    .await;
    let join_drained_s = shared.last_frame_us.load(Ordering::Relaxed) as f64 / 1e6;
    let join_frames = shared.frames.load(Ordering::Relaxed);
    // Idle connections: the storm's queues are empty, and the server's allocator has had its
    // background purge (every 5 s, for pages freed more than a second ago) to give back what they
    // held, so the reading is what an idle connection keeps rather than what the storm left behind.
    tokio::time::sleep(SETTLE).await;
    let rss_connected_kb = total_rss_kb(&pids);
    let connected = shared.connected.load(Ordering::Relaxed);

    let mut statuses = Vec::new();
    for k in 0..broadcasts {
        shared.sent_us[k].store(shared.since_start_us(), Ordering::Release);
        statuses.push(broadcast(&http_host, &tokens[0], k).await.unwrap_or(0));
        let expected = connected * (k + 1);
        wait_for(Duration::from_secs(10), || {
            shared.latencies_us.lock().unwrap().len() >= expected
        })
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut latencies = shared.latencies_us.lock().unwrap().clone();
    latencies.sort_unstable();
    let still_open = connected - shared.closed.load(Ordering::Relaxed);
    let per_connection_kb = if connected > 0 {
        (rss_connected_kb.saturating_sub(rss_idle_kb)) as f64 / connected as f64
    } else {
        0.0
    };
    println!(
        "{}",
        serde_json::json!({
            "connections": connections,
            "connected": connected,
            "failed": shared.failed.load(Ordering::Relaxed),
            "still_open": still_open,
            "connect_s": connect_s,
            "join_drained_s": join_drained_s,
            "join_frames": join_frames,
            "rss_idle_kb": rss_idle_kb,
            "rss_connected_kb": rss_connected_kb,
            "kb_per_connection": (per_connection_kb * 10.0).round() / 10.0,
            "broadcast_statuses": statuses,
            "deliveries": latencies.len(),
            "expected_deliveries": connected * broadcasts,
            "delivery_p50_ms": percentile(&latencies, 50.0),
            "delivery_p99_ms": percentile(&latencies, 99.0),
            "delivery_max_ms": percentile(&latencies, 100.0),
        })
    );
    Ok(())
}
