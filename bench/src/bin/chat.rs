//! The chat-transport load client: one official chat, many devices in its room, encrypted
//! messages sent over HTTP and delivered over the realtime connection.
//!
//! `chat <tokens-file> <members> <senders> <messages-per-sender> <server-pids> <base-urls>`
//!
//! - `tokens-file`: the seed's `tokens.txt` ("<user id> <session token>" per line). The first line
//!   (an Owner) creates the chat; the devices use the next `members` lines.
//! - `senders`: how many of the devices send (the first ones); each sends `messages-per-sender`
//!   messages one after another, each after the answer to the previous one, over a keep-alive
//!   connection of its own.
//! - `server-pids`, `base-urls`: comma-separated, one per node (`http://127.0.0.1:8080`); device `i`
//!   uses node `i % nodes` for its realtime connection and its requests, and the chat is created
//!   on the first node. Server RSS and CPU are read from `/proc/<pid>` of every node.
//!
//! Environment: `CLK_TCK`, the clock ticks of `/proc/<pid>/stat` per second (100 when unset);
//! `CHAT_SEND_INTERVAL_MS`, the least time between two sends of one sender (0 when unset: each
//! send follows the previous answer; the soak sets a steady rate with it);
//! `CHAT_PG_DATABASE`, a PostgreSQL database whose backends' CPU is measured too (found by their
//! process titles, as `bench/lib.sh` does).
//!
//! Set-up: the Owner creates the chat (`POST /v1/admin/chats`); every device registers a random
//! 32-byte public key (`POST /v1/portal/keys`), opens `/v1/portal/ws` with its session cookie
//! (`HANDSHAKES` at once), reads `presence:snapshot` and sends `room:join` (`JOINS` joins awaiting
//! their answer at once, over all devices). Each device answers every `room:key_request` by
//! uploading a blob of 80 random bytes for each listed device (the server never opens blobs), and
//! is ready once it holds a key for the chat's current epoch (`room:key`, or the key of
//! `room:joined`). The run fails with the set-up's counters when a device fails, closes or is
//! refused the room, or when not all are ready within `READY_LIMIT`.
//!
//! Measurement: once every device is ready and the set-up's frames have drained (no frame for a
//! second), the senders post CiphertextV2 bundles whose `ct` is 48 bytes: the send time
//! (microseconds on the one clock of this process, little-endian) and 40 random bytes. Every
//! device records, per `message:new` of type `user`, the time from that send to the frame's
//! arrival. Deliveries per second are counted over the send window, from the first send to the
//! last delivery; the CPU of the servers, of this client and of PostgreSQL's backends over that
//! window too (in ticks, so a window of a second is coarse). The window ends when every accepted
//! message has reached every device, or when no delivery has come for `DELIVERY_QUIET`. Prints
//! one JSON object.

use portal_bench::{cpu_ticks, percentile, postgres_ticks, round, rss_kb, wait_for, Error, Http};
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use rand::RngCore;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::{mpsc, Semaphore};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// Realtime handshakes under way at once.
const HANDSHAKES: usize = 100;
/// `room:join`s awaiting their answer at once, over all devices. One: the joins of one chat run
/// one after another under the chat's lock anyway, and a join waits for that lock while holding a
/// database connection (`domain::transport::join`), so as many waiting joins as the pool has
/// connections (4 on SQLite) leave the lock's holder none, and joins fail with 503 after the
/// pool's acquire timeout.
const JOINS: usize = 1;
/// How long the set-up may take before the run fails.
const READY_LIMIT: Duration = Duration::from_secs(600);
/// After the last send, how long to wait for a delivery before counting the rest as lost.
const DELIVERY_QUIET: Duration = Duration::from_secs(10);
/// Bytes of `ct`: the send time (8) and random bytes, at least the 40 a bundle needs.
const CT_BYTES: usize = 48;
const BLOB_BYTES: usize = 80;
/// Items per upload (the server takes up to 500).
const BLOBS_PER_UPLOAD: usize = 500;

/// One node: where its HTTP and realtime endpoints are.
#[derive(Clone)]
struct Node {
    host: String,
    ws_url: String,
}

/// What a device shares with the rest of the run.
struct Device {
    /// The chat's epoch as this device last heard it.
    epoch: AtomicI64,
    /// Holds a key for `epoch`.
    ready: AtomicBool,
}

/// Counters of the whole run, and the delivery latencies.
struct Shared {
    started: Instant,
    chat_id: i64,
    devices: Vec<Device>,
    connected: AtomicUsize,
    failed: AtomicUsize,
    ready: AtomicUsize,
    joined: AtomicUsize,
    join_errors: AtomicUsize,
    epoch_changes: AtomicUsize,
    key_requests: AtomicUsize,
    blobs_stored: AtomicUsize,
    blobs_rejected: AtomicUsize,
    upload_errors: AtomicUsize,
    /// Connections that ended during the run, and the last close code seen.
    closed: AtomicUsize,
    last_close_code: AtomicU64,
    /// Frames and their bytes received by all devices.
    frames: AtomicU64,
    bytes: AtomicU64,
    /// Microseconds since `started` of the last frame of any kind, and of the last delivery.
    last_frame_us: AtomicU64,
    last_delivery_us: AtomicU64,
    latencies_us: Mutex<Vec<u64>>,
    first_error: Mutex<Option<String>>,
}

impl Shared {
    fn since_start_us(&self) -> u64 {
        self.started.elapsed().as_micros() as u64
    }

    fn note_error(&self, error: String) {
        self.first_error.lock().unwrap().get_or_insert(error);
    }

    /// The device now holds a key for `epoch`; it counts as ready when that is the current one.
    fn key_for(&self, device: usize, epoch: i64) {
        let state = &self.devices[device];
        if state.epoch.load(Ordering::Acquire) == epoch && !state.ready.swap(true, Ordering::AcqRel) {
            self.ready.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn epoch_changed(&self, device: usize, epoch: i64) {
        let state = &self.devices[device];
        if state.epoch.swap(epoch, Ordering::AcqRel) != epoch && state.ready.swap(false, Ordering::AcqRel) {
            self.ready.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// The top of a server frame; `data` is skipped.
#[derive(Deserialize)]
struct Head {
    event: String,
}

#[derive(Deserialize)]
struct MessageFrame {
    data: MessageData,
}

#[derive(Deserialize)]
struct MessageData {
    #[serde(rename = "type")]
    kind: String,
    content: String,
}

#[derive(Deserialize)]
struct Bundle {
    ct: String,
}

/// The event of a frame. The server writes `data` before `event`, so the name is read from the
/// frame's end when it ends that way (a frame whose last member is `"event":"<name>"`), without
/// parsing the rest: a `room:members` list of a large room is long and of no use here. Any other
/// frame is parsed.
fn event_of(text: &str) -> Option<Cow<'_, str>> {
    const KEY: &str = r#","event":""#;
    if let Some(head) = text.strip_suffix(r#""}"#) {
        if let Some(at) = head.rfind(KEY) {
            let name = &head[at + KEY.len()..];
            if !name.contains(['"', '\\']) {
                return Some(Cow::Borrowed(name));
            }
        }
    }
    serde_json::from_str::<Head>(text)
        .ok()
        .map(|head| Cow::Owned(head.event))
}

/// The send time carried in a user message's `ct`, in microseconds since the run's start. This
/// client's bundles are written without spaces, so `ct` is found as text in the escaped
/// `content`; a frame of another form is parsed.
fn sent_at_us(text: &str) -> Option<u64> {
    const CT: &str = r#"\"ct\":\""#;
    let ct = match text.find(CT) {
        // 12 base64 characters are 9 bytes, the first 8 the send time.
        Some(at) => STANDARD.decode(text.get(at + CT.len()..at + CT.len() + 12)?).ok()?,
        None => {
            let frame: MessageFrame = serde_json::from_str(text).ok()?;
            if frame.data.kind != "user" {
                return None;
            }
            let bundle: Bundle = serde_json::from_str(&frame.data.content).ok()?;
            STANDARD.decode(bundle.ct).ok()?
        }
    };
    Some(u64::from_le_bytes(ct.get(..8)?.try_into().ok()?))
}

fn random_base64(len: usize) -> String {
    let mut bytes = vec![0; len];
    rand::thread_rng().fill_bytes(&mut bytes);
    STANDARD.encode(bytes)
}

/// A `room:key_request`'s epoch and devices, for the uploader.
struct KeyRequest {
    epoch: i64,
    devices: Vec<(i64, String)>,
}

/// Uploads a blob for every device of each request, one request after another.
async fn uploader(mut http: Http, shared: Arc<Shared>, mut requests: mpsc::UnboundedReceiver<KeyRequest>) {
    let path = format!("/v1/portal/chats/{}/keys", shared.chat_id);
    while let Some(request) = requests.recv().await {
        for chunk in request.devices.chunks(BLOBS_PER_UPLOAD) {
            let blobs: Vec<Value> = chunk
                .iter()
                .map(|(user_id, device_id)| {
                    json!({"user_id": user_id, "device_id": device_id, "blob": random_base64(BLOB_BYTES)})
                })
                .collect();
            let body = json!({"epoch": request.epoch, "blobs": blobs}).to_string();
            match http.post(&path, &body).await {
                Ok((200, answer)) => {
                    let answer: Value = serde_json::from_str(&answer).unwrap_or(Value::Null);
                    let stored = answer["stored"].as_u64().unwrap_or(0) as usize;
                    let rejected = answer["rejected"].as_array().map_or(0, Vec::len);
                    shared.blobs_stored.fetch_add(stored, Ordering::Relaxed);
                    shared.blobs_rejected.fetch_add(rejected, Ordering::Relaxed);
                }
                Ok((status, answer)) => {
                    shared.upload_errors.fetch_add(1, Ordering::Relaxed);
                    shared.note_error(format!("key upload: {status} {answer}"));
                }
                Err(err) => {
                    shared.upload_errors.fetch_add(1, Ordering::Relaxed);
                    shared.note_error(format!("key upload: {err}"));
                }
            }
        }
    }
}

/// One device: its key, its realtime connection, its join and its key uploads, until the
/// connection ends.
async fn device(
    index: usize,
    node: Node,
    token: String,
    shared: Arc<Shared>,
    handshakes: Arc<Semaphore>,
    joins: Arc<Semaphore>,
) {
    let fail = |error: String| {
        shared.failed.fetch_add(1, Ordering::Relaxed);
        shared.note_error(error);
    };
    let mut http = Http::new(&node.host, &token);
    let key = json!({"public_key": random_base64(32)}).to_string();
    match http.post("/v1/portal/keys", &key).await {
        Ok((200, _)) => {}
        Ok((status, answer)) => return fail(format!("key registration: {status} {answer}")),
        Err(err) => return fail(format!("key registration: {err}")),
    }
    let handshake = handshakes.acquire_owned().await;
    let mut request = match node.ws_url.as_str().into_client_request() {
        Ok(request) => request,
        Err(err) => return fail(format!("realtime URL: {err}")),
    };
    if let Ok(cookie) = format!("psession={token}").parse() {
        request.headers_mut().insert("cookie", cookie);
    }
    let mut socket = match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => socket,
        Err(err) => return fail(format!("realtime handshake: {err}")),
    };
    let (requests, queue) = mpsc::unbounded_channel();
    tokio::spawn(uploader(http, shared.clone(), queue));

    let mut handshake = Some(handshake);
    // The join waits for a place among the joins in flight; its place is given back on the answer.
    let mut join_place = None;
    let mut waiting_to_join = None;
    loop {
        tokio::select! {
            place = async { waiting_to_join.as_mut().expect("guarded").await }, if waiting_to_join.is_some() => {
                waiting_to_join = None;
                join_place = Some(place);
                let join = json!({"event": "room:join", "data": {"chat_id": shared.chat_id}}).to_string();
                if socket.send(Message::text(join)).await.is_err() {
                    break;
                }
            }
            message = socket.next() => {
                let text = match message {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(frame))) => {
                        let code = frame.map_or(0, |f| u16::from(f.code));
                        shared.last_close_code.store(u64::from(code), Ordering::Relaxed);
                        break;
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => break,
                };
                let at = shared.since_start_us();
                shared.last_frame_us.fetch_max(at, Ordering::Relaxed);
                shared.frames.fetch_add(1, Ordering::Relaxed);
                shared.bytes.fetch_add(text.len() as u64, Ordering::Relaxed);
                let Some(event) = event_of(&text) else { continue };
                match event.as_ref() {
                    "message:new" => {
                        if let Some(sent) = sent_at_us(&text) {
                            shared.latencies_us.lock().unwrap().push(at.saturating_sub(sent));
                            shared.last_delivery_us.fetch_max(at, Ordering::Relaxed);
                        }
                    }
                    "presence:snapshot" if handshake.is_some() => {
                        handshake = None;
                        shared.connected.fetch_add(1, Ordering::Relaxed);
                        waiting_to_join = Some(Box::pin(joins.clone().acquire_owned()));
                    }
                    "room:joined" => {
                        join_place = None;
                        shared.joined.fetch_add(1, Ordering::Relaxed);
                        let data = data_of(&text);
                        let epoch = data["epoch"].as_i64().unwrap_or(0);
                        shared.epoch_changed(index, epoch);
                        if data["key"]["epoch"].as_i64() == Some(epoch) {
                            shared.key_for(index, epoch);
                        }
                    }
                    "room:error" => {
                        join_place = None;
                        shared.join_errors.fetch_add(1, Ordering::Relaxed);
                        shared.note_error(format!("room:error {}", data_of(&text)));
                    }
                    "room:key" => {
                        if let Some(epoch) = data_of(&text)["epoch"].as_i64() {
                            shared.key_for(index, epoch);
                        }
                    }
                    "room:epoch_changed" => {
                        shared.epoch_changes.fetch_add(1, Ordering::Relaxed);
                        if let Some(epoch) = data_of(&text)["epoch"].as_i64() {
                            shared.epoch_changed(index, epoch);
                        }
                    }
                    "room:key_request" => {
                        shared.key_requests.fetch_add(1, Ordering::Relaxed);
                        let data = data_of(&text);
                        let devices = data["devices"]
                            .as_array()
                            .map(|list| {
                                list.iter()
                                    .filter_map(|d| Some((d["user_id"].as_i64()?, d["device_id"].as_str()?.to_owned())))
                                    .collect()
                            })
                            .unwrap_or_default();
                        let epoch = data["epoch"].as_i64().unwrap_or(0);
                        let _ = requests.send(KeyRequest { epoch, devices });
                    }
                    _ => {}
                }
            }
        }
    }
    drop(join_place);
    if handshake.is_some() {
        shared.failed.fetch_add(1, Ordering::Relaxed);
    } else {
        shared.closed.fetch_add(1, Ordering::Relaxed);
    }
}

fn data_of(text: &str) -> Value {
    serde_json::from_str::<Value>(text)
        .map(|mut frame| frame["data"].take())
        .unwrap_or(Value::Null)
}

/// `CHAT_SEND_INTERVAL_MS`, when set and not 0.
fn send_interval() -> Option<Duration> {
    let ms: u64 = std::env::var("CHAT_SEND_INTERVAL_MS").ok()?.parse().ok()?;
    (ms > 0).then(|| Duration::from_millis(ms))
}

/// One sender: `messages` bundles, each sent once the previous one was answered (and, with
/// `CHAT_SEND_INTERVAL_MS`, no sooner than that after the previous send). Returns the
/// time of its first send and the answer times in microseconds.
async fn sender(device: usize, node: Node, token: String, messages: usize, shared: Arc<Shared>) -> (u64, Vec<u64>) {
    let mut http = Http::new(&node.host, &token);
    let path = format!("/v1/portal/chats/{}/messages", shared.chat_id);
    let mut answers = Vec::with_capacity(messages);
    let mut first = u64::MAX;
    let mut ct = [0u8; CT_BYTES];
    let mut pace = send_interval().map(tokio::time::interval);
    for _ in 0..messages {
        if let Some(pace) = pace.as_mut() {
            pace.tick().await;
        }
        let epoch = shared.devices[device].epoch.load(Ordering::Acquire);
        rand::thread_rng().fill_bytes(&mut ct[8..]);
        let sent = shared.since_start_us();
        ct[..8].copy_from_slice(&sent.to_le_bytes());
        let bundle = format!(r#"{{"v":2,"epoch":{epoch},"ct":"{}"}}"#, STANDARD.encode(ct));
        let body = json!({ "content": bundle }).to_string();
        first = first.min(sent);
        match http.post(&path, &body).await {
            Ok((200, _)) => answers.push(shared.since_start_us() - sent),
            Ok((status, answer)) => shared.note_error(format!("send: {status} {answer}")),
            Err(err) => shared.note_error(format!("send: {err}")),
        }
    }
    (first, answers)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 7 {
        return Err(
            "usage: chat <tokens-file> <members> <senders> <messages-per-sender> <server-pids> <base-urls>".into(),
        );
    }
    let tokens: Vec<String> = std::fs::read_to_string(&args[1])?
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_owned))
        .collect();
    let members: usize = args[2].parse()?;
    let senders: usize = args[3].parse()?;
    let messages: usize = args[4].parse()?;
    let pids: Vec<String> = args[5].split(',').map(str::to_owned).collect();
    let nodes: Vec<Node> = args[6]
        .split(',')
        .map(|base| {
            let base = base.trim_end_matches('/');
            Node {
                host: base.trim_start_matches("http://").to_owned(),
                ws_url: format!("{}/v1/portal/ws", base.replacen("http://", "ws://", 1)),
            }
        })
        .collect();
    if tokens.len() < members + 1 {
        return Err(format!("{} tokens for {members} devices and the chat's creator", tokens.len()).into());
    }
    if senders > members {
        return Err(format!("{senders} senders among {members} devices").into());
    }
    let ticks_per_s: f64 = std::env::var("CLK_TCK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100.0);
    let database = std::env::var("CHAT_PG_DATABASE").ok().filter(|d| !d.is_empty());
    let rss_kb = || pids.iter().map(|p| rss_kb(p)).sum::<u64>();
    let server_ticks = || pids.iter().map(|p| cpu_ticks(p)).sum::<u64>();
    let rss_idle_kb = rss_kb();

    let slug = format!("bench-{:08x}", rand::random::<u32>());
    let mut owner = Http::new(&nodes[0].host, &tokens[0]);
    let created = json!({"name": "bench", "slug": slug}).to_string();
    let chat_id = match owner.post("/v1/admin/chats", &created).await? {
        (200, answer) => serde_json::from_str::<Value>(&answer)?["chat_id"]
            .as_i64()
            .ok_or("the created chat has no chat_id")?,
        (status, answer) => return Err(format!("creating the chat: {status} {answer}").into()),
    };

    let shared = Arc::new(Shared {
        started: Instant::now(),
        chat_id,
        devices: (0..members)
            .map(|_| Device {
                epoch: AtomicI64::new(0),
                ready: AtomicBool::new(false),
            })
            .collect(),
        connected: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        ready: AtomicUsize::new(0),
        joined: AtomicUsize::new(0),
        join_errors: AtomicUsize::new(0),
        epoch_changes: AtomicUsize::new(0),
        key_requests: AtomicUsize::new(0),
        blobs_stored: AtomicUsize::new(0),
        blobs_rejected: AtomicUsize::new(0),
        upload_errors: AtomicUsize::new(0),
        closed: AtomicUsize::new(0),
        last_close_code: AtomicU64::new(0),
        frames: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        last_frame_us: AtomicU64::new(0),
        last_delivery_us: AtomicU64::new(0),
        latencies_us: Mutex::new(Vec::with_capacity(members * senders * messages)),
        first_error: Mutex::new(None),
    });
    let handshakes = Arc::new(Semaphore::new(HANDSHAKES));
    let joins = Arc::new(Semaphore::new(JOINS));
    for (i, token) in tokens[1..=members].iter().enumerate() {
        let node = nodes[i % nodes.len()].clone();
        tokio::spawn(device(
            i,
            node,
            token.clone(),
            shared.clone(),
            handshakes.clone(),
            joins.clone(),
        ));
    }
    let count = |c: &AtomicUsize| c.load(Ordering::Relaxed);
    // A device that failed, closed or was refused the room will never be ready.
    let all_ready = wait_for(READY_LIMIT, || {
        count(&shared.ready) >= members
            || count(&shared.failed) + count(&shared.closed) + count(&shared.join_errors) > 0
    })
    .await;
    if !all_ready || count(&shared.ready) < members {
        return Err(format!(
            "{} of {members} devices ready after {:.0} s (connected {}, failed {}, joined {}, join errors {}, \
             key requests {}, blobs stored {}, upload errors {}, connections closed {}, last close code {}); \
             first error: {}",
            count(&shared.ready),
            shared.started.elapsed().as_secs_f64(),
            count(&shared.connected),
            count(&shared.failed),
            count(&shared.joined),
            count(&shared.join_errors),
            count(&shared.key_requests),
            count(&shared.blobs_stored),
            count(&shared.upload_errors),
            count(&shared.closed),
            shared.last_close_code.load(Ordering::Relaxed),
            shared
                .first_error
                .lock()
                .unwrap()
                .clone()
                .unwrap_or_else(|| "none".into()),
        )
        .into());
    }
    let ready_s = shared.since_start_us() as f64 / 1e6;
    // The set-up's last frames (member lists, join messages) drain before the sends begin.
    wait_for(Duration::from_secs(60), || {
        shared.since_start_us() > shared.last_frame_us.load(Ordering::Relaxed) + 1_000_000
    })
    .await;
    let rss_ready_kb = rss_kb();
    let setup_frames = shared.frames.load(Ordering::Relaxed);
    let setup_bytes = shared.bytes.load(Ordering::Relaxed);

    let ticks_before = server_ticks();
    let client_before = cpu_ticks("self");
    let postgres_before = postgres_ticks(database.as_deref());
    let started_sending = shared.since_start_us();
    let mut sending = Vec::new();
    for i in 0..senders {
        let node = nodes[i % nodes.len()].clone();
        let token = tokens[1 + i].clone();
        sending.push(tokio::spawn(sender(i, node, token, messages, shared.clone())));
    }
    let mut answers = Vec::new();
    let mut first_send = u64::MAX;
    for task in sending {
        let (first, times) = task.await?;
        first_send = first_send.min(first);
        answers.extend(times);
    }
    let sent_ok = answers.len();
    let expected = members * senders * messages;
    let delivered = |shared: &Shared| shared.latencies_us.lock().unwrap().len();
    // Every accepted message reaches every device, or nothing more arrives for a while.
    loop {
        let before = delivered(&shared);
        if before >= members * sent_ok || !wait_for(DELIVERY_QUIET, || delivered(&shared) != before).await {
            break;
        }
    }
    let server_cpu_s = server_ticks().saturating_sub(ticks_before) as f64 / ticks_per_s;
    let client_cpu_s = cpu_ticks("self").saturating_sub(client_before) as f64 / ticks_per_s;
    let postgres_cpu_s = postgres_ticks(database.as_deref()).saturating_sub(postgres_before) as f64 / ticks_per_s;
    let rss_end_kb = rss_kb();

    let mut latencies = shared.latencies_us.lock().unwrap().clone();
    latencies.sort_unstable();
    answers.sort_unstable();
    let deliveries = latencies.len();
    let first_send = if first_send == u64::MAX {
        started_sending
    } else {
        first_send
    };
    let window_s = (shared
        .last_delivery_us
        .load(Ordering::Relaxed)
        .saturating_sub(first_send)) as f64
        / 1e6;
    let per_s = |n: usize| if window_s > 0.0 { n as f64 / window_s } else { 0.0 };
    let per = |cpu_s: f64, n: usize| if n > 0 { round(cpu_s * 1e6 / n as f64, 2) } else { 0.0 };
    println!(
        "{}",
        json!({
            "chat_id": chat_id,
            "members": members,
            "senders": senders,
            "messages_per_sender": messages,
            "ready": count(&shared.ready),
            "ready_s": round(ready_s, 2),
            "setup_frames": setup_frames,
            "setup_mb": round(setup_bytes as f64 / 1e6, 1),
            "join_errors": count(&shared.join_errors),
            "epoch_changes": count(&shared.epoch_changes),
            "key_requests": count(&shared.key_requests),
            "blobs_stored": count(&shared.blobs_stored),
            "blobs_rejected": count(&shared.blobs_rejected),
            "upload_errors": count(&shared.upload_errors),
            "sent": sent_ok,
            "send_errors": senders * messages - sent_ok,
            "deliveries": deliveries,
            "expected_deliveries": expected,
            "closed": count(&shared.closed),
            "last_close_code": shared.last_close_code.load(Ordering::Relaxed),
            "window_s": round(window_s, 3),
            "messages_per_s": round(per_s(sent_ok), 1),
            "deliveries_per_s": round(per_s(deliveries), 1),
            "latency_p50_ms": percentile(&latencies, 50.0),
            "latency_p99_ms": percentile(&latencies, 99.0),
            "latency_max_ms": percentile(&latencies, 100.0),
            "send_answer_p50_ms": percentile(&answers, 50.0),
            "send_answer_p99_ms": percentile(&answers, 99.0),
            "server_cpu_s": round(server_cpu_s, 2),
            "server_cpu_us_per_delivery": per(server_cpu_s, deliveries),
            "server_cpu_us_per_message": per(server_cpu_s, sent_ok),
            "client_cpu_s": round(client_cpu_s, 2),
            "client_cpu_us_per_delivery": per(client_cpu_s, deliveries),
            "postgres_cpu_s": round(postgres_cpu_s, 2),
            "postgres_cpu_us_per_message": per(postgres_cpu_s, sent_ok),
            "rss_idle_kb": rss_idle_kb,
            "rss_ready_kb": rss_ready_kb,
            "rss_end_kb": rss_end_kb,
            "first_error": *shared.first_error.lock().unwrap(),
        })
    );
    Ok(())
}
