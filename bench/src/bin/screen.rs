//! The browser-room screen under load (92-browser-rooms §7.4): one chat's machine shows a page
//! that changes every animation frame, and 1, 10, 50 … viewers watch it. Reports, per viewer
//! count, the frames the server accepted per second, the frames each viewer received per second,
//! the deliveries per second, and the server's CPU per accepted frame and per delivery.
//!
//! usage: screen <tokens-file> <viewer-counts, e.g. 1,10,50> <server-pid> <base-url> <page-port> <window-s>
//! Token 0 (an Admin) makes the chat and starts its machine; tokens 1… are the viewers. Each viewer
//! joins the chat's room on its realtime connection, then opens the screen.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use portal_bench::{cpu_ticks, wait_for, Error, Http};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// A page that changes on every animation frame, so the screencast always has a new image.
const PAGE: &str = r#"<!doctype html><html><head><title>Moving</title>
<style>body{margin:0;font:64px sans-serif}#box{width:100vw;height:100vh}</style></head>
<body><div id="box"></div><script>
let n = 0;
function tick() {
  n++;
  const box = document.getElementById('box');
  box.style.background = 'hsl(' + (n * 7 % 360) + ',70%,50%)';
  box.textContent = 'frame ' + n;
  requestAnimationFrame(tick);
}
requestAnimationFrame(tick);
</script></body></html>"#;

#[derive(Default)]
struct Counts {
    frames: AtomicU64,
    bytes: AtomicU64,
    /// The highest frame number any viewer saw: the server's accepted frames.
    newest: AtomicU32,
    watching: AtomicUsize,
    failed: AtomicUsize,
}

async fn serve_page(port: u16) -> Result<(), Error> {
    let router = axum::Router::new().route("/", axum::routing::get(|| async { axum::response::Html(PAGE) }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(())
}

/// One viewer: its realtime connection joins the room, then its screen counts frames.
async fn viewer(ws_base: String, chat_id: i64, token: String, counts: Arc<Counts>) {
    let fail = |why: String| {
        eprintln!("viewer: {why}");
        counts.failed.fetch_add(1, Ordering::Relaxed);
    };
    let connect = |path: String| {
        let mut request = format!("{ws_base}{path}").into_client_request().expect("a URL");
        request
            .headers_mut()
            .insert("cookie", format!("psession={token}").parse().expect("a cookie"));
        tokio_tungstenite::connect_async(request)
    };
    let mut realtime = match connect("/v1/portal/ws".into()).await {
        Ok((socket, _)) => socket,
        Err(err) => return fail(format!("realtime: {err}")),
    };
    let join = json!({"event": "room:join", "data": {"chat_id": chat_id}}).to_string();
    if realtime.send(Message::Text(join.into())).await.is_err() {
        return fail("room:join not sent".into());
    }
    loop {
        match realtime.next().await {
            Some(Ok(Message::Text(text))) => {
                let event: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                match event["event"].as_str() {
                    Some("room:joined") => break,
                    Some("room:error") => return fail(format!("room:join refused: {text}")),
                    _ => {}
                }
            }
            Some(Ok(_)) => {}
            _ => return fail("realtime closed before room:joined".into()),
        }
    }
    // The realtime connection stays open (the screen needs the joined room) and is read so that
    // its events never pile up.
    tokio::spawn(async move { while realtime.next().await.is_some() {} });
    let mut screen = match connect(format!("/v1/portal/chats/{chat_id}/screen")).await {
        Ok((socket, _)) => socket,
        Err(err) => return fail(format!("screen: {err}")),
    };
    counts.watching.fetch_add(1, Ordering::Relaxed);
    while let Some(message) = screen.next().await {
        match message {
            Ok(Message::Binary(bytes)) if bytes.len() > 24 => {
                let number = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
                counts.frames.fetch_add(1, Ordering::Relaxed);
                counts.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                counts.newest.fetch_max(number, Ordering::Relaxed);
            }
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    counts.watching.fetch_sub(1, Ordering::Relaxed);
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 7 {
        return Err("usage: screen <tokens-file> <viewer-counts> <server-pid> <base-url> <page-port> <window-s>".into());
    }
    let tokens: Vec<String> = std::fs::read_to_string(&args[1])?
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_owned))
        .collect();
    let sizes: Vec<usize> = args[2].split(',').map(|n| n.trim().parse()).collect::<Result<_, _>>()?;
    let pid = args[3].clone();
    let base = args[4].trim_end_matches('/').to_owned();
    let page_port: u16 = args[5].parse()?;
    let window = Duration::from_secs(args[6].parse()?);
    let most = sizes.iter().copied().max().unwrap_or(1);
    if tokens.len() < most + 1 {
        return Err(format!("{} tokens for {most} viewers and the chat's maker", tokens.len()).into());
    }
    let ticks_per_s: f64 = std::env::var("CLK_TCK").ok().and_then(|v| v.parse().ok()).unwrap_or(100.0);
    serve_page(page_port).await?;

    let host = base.trim_start_matches("http://").to_owned();
    let mut admin = Http::new(&host, &tokens[0]);
    let slug = format!("screen-{:08x}", rand::random::<u32>());
    let chat = json!({"name": "screen bench", "slug": slug,
                      "browser_config": {"browser": "chromium", "start_url": format!("http://127.0.0.1:{page_port}/")}});
    let chat_id = match admin.post("/v1/admin/chats", &chat.to_string()).await? {
        (200, answer) => serde_json::from_str::<Value>(&answer)?["chat_id"]
            .as_i64()
            .ok_or("the created chat has no chat_id")?,
        (status, answer) => return Err(format!("creating the chat: {status} {answer}").into()),
    };
    match admin.post(&format!("/v1/admin/chats/{chat_id}/start"), "{}").await? {
        (200, _) => {}
        (status, answer) => return Err(format!("starting the machine: {status} {answer}").into()),
    }

    let ws_base = base.replacen("http://", "ws://", 1);
    let counts = Arc::new(Counts::default());
    let mut started = 0;
    println!("viewers\taccepted_fps\tfps_per_viewer\tdeliveries_per_s\tkb_per_frame\tserver_cpu_us_per_frame\tserver_cpu_us_per_delivery\tserver_cpu_pct");
    for size in sizes {
        while started < size {
            started += 1;
            tokio::spawn(viewer(ws_base.clone(), chat_id, tokens[started].clone(), counts.clone()));
        }
        let all = wait_for(Duration::from_secs(60), || {
            counts.watching.load(Ordering::Relaxed) + counts.failed.load(Ordering::Relaxed) >= size
        })
        .await;
        if !all || counts.failed.load(Ordering::Relaxed) > 0 {
            return Err(format!(
                "{} of {size} viewers watching, {} failed",
                counts.watching.load(Ordering::Relaxed),
                counts.failed.load(Ordering::Relaxed)
            )
            .into());
        }
        // The first frames of new viewers are behind them before the window opens.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (frames, bytes, newest, ticks) = (
            counts.frames.load(Ordering::Relaxed),
            counts.bytes.load(Ordering::Relaxed),
            counts.newest.load(Ordering::Relaxed),
            cpu_ticks(&pid),
        );
        let opened = Instant::now();
        tokio::time::sleep(window).await;
        let seconds = opened.elapsed().as_secs_f64();
        let delivered = counts.frames.load(Ordering::Relaxed) - frames;
        let sent_bytes = counts.bytes.load(Ordering::Relaxed) - bytes;
        let accepted = u64::from(counts.newest.load(Ordering::Relaxed) - newest);
        let cpu_us = (cpu_ticks(&pid) - ticks) as f64 / ticks_per_s * 1e6;
        println!(
            "{size}\t{:.1}\t{:.1}\t{:.0}\t{:.1}\t{:.0}\t{:.1}\t{:.1}",
            accepted as f64 / seconds,
            delivered as f64 / seconds / size as f64,
            delivered as f64 / seconds,
            sent_bytes as f64 / delivered.max(1) as f64 / 1024.0,
            cpu_us / accepted.max(1) as f64,
            cpu_us / delivered.max(1) as f64,
            cpu_us / seconds / 1e4,
        );
    }
    let _ = admin.post(&format!("/v1/admin/chats/{chat_id}/stop"), "{}").await;
    Ok(())
}
