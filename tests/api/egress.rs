//! The egress filter of browser machines (92-browser-rooms §3), attacked as a co-browsed page would:
//! a real proxy listener on loopback, a page server of the test's own on loopback, and this
//! server's API listener, reached through `CONNECT` and absolute-form requests over raw TCP.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use portal::browser::egress::proxy::{Egress, ProxyListener, Refusal, Resolve};
use portal::browser::egress::rules::{EgressRules, OwnSockets, Reason};
use portal::metrics::Metrics;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::common::{Kind, TestApp};

/// A page server: answers every request on a connection with its request line and `Host`.
async fn page_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut pending = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&pending[..end]).into_owned();
                        pending.drain(..end + 4);
                        let line = head.lines().next().unwrap_or_default().to_owned();
                        let host = head
                            .lines()
                            .find_map(|l| l.strip_prefix("host: ").or_else(|| l.strip_prefix("Host: ")))
                            .unwrap_or_default()
                            .to_owned();
                        let body = format!("{line} | host {host}");
                        let reply = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len());
                        if stream.write_all(reply.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => pending.extend_from_slice(&buf[..n]),
                    }
                }
            });
        }
    });
    addr
}

/// A resolver from a fixed table, counting how often each name was asked.
fn resolver(table: &[(&str, &str)]) -> (Resolve, Arc<std::sync::Mutex<HashMap<String, usize>>>) {
    let table: HashMap<String, IpAddr> = table.iter().map(|(n, a)| (n.to_string(), a.parse().unwrap())).collect();
    let asked = Arc::new(std::sync::Mutex::new(HashMap::<String, usize>::new()));
    let counter = asked.clone();
    let resolve: Resolve = Arc::new(move |name: String| {
        *counter.lock().unwrap().entry(name.clone()).or_default() += 1;
        let found = table.get(&name).copied();
        Box::pin(async move {
            found
                .map(|a| vec![a])
                .ok_or_else(|| std::io::Error::other("no such name"))
        })
    });
    (resolve, asked)
}

struct Proxy {
    listener: ProxyListener,
    refusals: mpsc::UnboundedReceiver<Refusal>,
    metrics: Arc<Metrics>,
}

async fn proxy(rules: EgressRules, own_ports: &[u16], resolve: Resolve) -> Proxy {
    let metrics = Arc::new(Metrics::default());
    let own = OwnSockets {
        ports: own_ports.iter().copied().collect(),
        host_addresses: portal::browser::egress::host_addresses().unwrap().into_iter().collect(),
    };
    let egress = Egress::new(rules, own, resolve, metrics.clone());
    let (sender, refusals) = mpsc::unbounded_channel();
    let listener = egress.listen("127.0.0.1".parse().unwrap(), sender).await.unwrap();
    Proxy {
        listener,
        refusals,
        metrics,
    }
}

/// Sends `request` on `stream` and reads one answer: (status, the `x-portal-refused` header, body).
async fn exchange(stream: &mut TcpStream, request: &str) -> (u16, Option<String>, String) {
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|n| n.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if got.len() >= end + 4 + length {
                let status = head[9..12].parse().unwrap();
                let refused = head
                    .lines()
                    .find_map(|l| l.strip_prefix("x-portal-refused: "))
                    .map(str::to_owned);
                let body = String::from_utf8_lossy(&got[end + 4..end + 4 + length]).into_owned();
                return (status, refused, body);
            }
        }
        let n = tokio::time::timeout_at(deadline, stream.read(&mut buf))
            .await
            .expect("an answer within 5 s")
            .unwrap();
        assert!(n > 0, "closed before an answer: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
}

async fn connect(proxy: &Proxy) -> TcpStream {
    TcpStream::connect(proxy.listener.addr).await.unwrap()
}

#[tokio::test]
async fn forbidden_destinations_are_refused_and_reported() {
    let page = page_server().await;
    let (resolve, asked) = resolver(&[
        ("rebound.test", "127.0.0.1"),
        ("metadata.test", "169.254.169.254"),
        ("mail.example", "93.184.216.34"),
    ]);
    let rules = EgressRules::new(false, &[], &["evil.test".into()]).unwrap();
    let mut p = proxy(rules, &[], resolve).await;
    let port = page.port();
    for (request, reason, origin) in [
        (
            format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n\r\n"),
            "address",
            format!("https://127.0.0.1:{port}"),
        ),
        (
            format!("GET http://rebound.test:{port}/secret?q=1 HTTP/1.1\r\nhost: rebound.test\r\n\r\n"),
            "address",
            format!("http://rebound.test:{port}"),
        ),
        (
            "GET http://metadata.test/latest/meta-data/ HTTP/1.1\r\nhost: metadata.test\r\n\r\n".into(),
            "address",
            "http://metadata.test".into(),
        ),
        (
            "GET http://[::1]/ HTTP/1.1\r\nhost: [::1]\r\n\r\n".into(),
            "address",
            "http://[::1]".into(),
        ),
        (
            "CONNECT mail.example:25 HTTP/1.1\r\nhost: mail.example:25\r\n\r\n".into(),
            "port",
            "https://mail.example:25".into(),
        ),
        (
            "CONNECT evil.test:443 HTTP/1.1\r\nhost: evil.test:443\r\n\r\n".into(),
            "host",
            "https://evil.test".into(),
        ),
    ] {
        let mut stream = connect(&p).await;
        let (status, refused, _) = exchange(&mut stream, &request).await;
        assert_eq!((status, refused.as_deref()), (403, Some(reason)), "{request}");
        let reported = p.refusals.recv().await.unwrap();
        assert_eq!(reported.origin, origin, "{request}");
        assert_eq!(reported.reason.as_str(), reason);
    }
    // The deny list decides on the name before anything is resolved.
    assert!(!asked.lock().unwrap().contains_key("evil.test"));
    // Requests that are not for a proxy are answered 405 and not reported.
    let mut stream = connect(&p).await;
    let (status, _, _) = exchange(&mut stream, "GET /health HTTP/1.1\r\nhost: localhost\r\n\r\n").await;
    assert_eq!(status, 405);
    let mut stream = connect(&p).await;
    let (status, _, _) = exchange(
        &mut stream,
        "GET https://example.org/ HTTP/1.1\r\nhost: example.org\r\n\r\n",
    )
    .await;
    assert_eq!(status, 405);
    assert!(p.refusals.try_recv().is_err());
    // A name that does not resolve is the browser's network error, not a refusal.
    let mut stream = connect(&p).await;
    let (status, refused, _) = exchange(
        &mut stream,
        "GET http://nowhere.test/ HTTP/1.1\r\nhost: nowhere.test\r\n\r\n",
    )
    .await;
    assert_eq!((status, refused), (502, None));
    assert!(p.refusals.try_recv().is_err());
    let pool = portal::store::PoolStats {
        size: 0,
        checked_in: 0,
        checked_out: 0,
    };
    let metrics = p.metrics.render(&pool);
    assert!(
        metrics.contains("portal_browser_egress_refused_total{reason=\"address\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("portal_browser_egress_refused_total{reason=\"port\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("portal_browser_egress_refused_total{reason=\"host\"} 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_site_is_reached_but_this_servers_own_sockets_never_are() {
    let t = TestApp::new(Kind::Sqlite, |_| {}).await.unwrap();
    let api = t.listen().await;
    let page = page_server().await;
    // A test's own page server on loopback, opened the way an operator opens an inner site.
    let (resolve, asked) = resolver(&[("wiki.test", "127.0.0.1")]);
    let rules = EgressRules::new(false, &["127.0.0.1".into(), "wiki.test".into()], &[]).unwrap();
    let mut p = proxy(rules, &[api.port()], resolve).await;
    let port = page.port();

    // Plain http, in absolute form: sent on in origin form with the Host kept; and a second request
    // on the same kept-alive connection, judged on its own, is refused.
    let mut stream = connect(&p).await;
    let (status, _, body) = exchange(
        &mut stream,
        &format!("GET http://wiki.test:{port}/page?x=1 HTTP/1.1\r\nhost: wiki.test:{port}\r\n\r\n"),
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (200, format!("GET /page?x=1 HTTP/1.1 | host wiki.test:{port}").as_str())
    );
    let api_port = api.port();
    let (status, refused, _) = exchange(
        &mut stream,
        &format!("GET http://127.0.0.1:{api_port}/health HTTP/1.1\r\nhost: 127.0.0.1:{api_port}\r\n\r\n"),
    )
    .await;
    assert_eq!((status, refused.as_deref()), (403, Some("address")));
    assert_eq!(p.refusals.recv().await.unwrap().reason, Reason::Address);
    // The name was resolved once for its request: the connection went to the address judged.
    assert_eq!(asked.lock().unwrap().get("wiki.test"), Some(&1));

    // CONNECT: a tunnel the proxy does not look into.
    let mut stream = connect(&p).await;
    let (status, _, _) = exchange(
        &mut stream,
        &format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n\r\n"),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, body) = exchange(&mut stream, "GET /through HTTP/1.1\r\nhost: inner\r\n\r\n").await;
    assert_eq!((status, body.as_str()), (200, "GET /through HTTP/1.1 | host inner"));

    // Never reachable, whatever the allow list says: the API listener, on loopback or on any
    // address of this host, and the proxy's own listener.
    let own = p.listener.addr.port();
    for target in [
        format!("127.0.0.1:{api_port}"),
        format!("127.0.0.1:{own}"),
        format!("0.0.0.0:{api_port}"),
        format!("[::ffff:127.0.0.1]:{api_port}"),
    ] {
        let mut stream = connect(&p).await;
        let (status, refused, _) = exchange(
            &mut stream,
            &format!("CONNECT {target} HTTP/1.1\r\nhost: {target}\r\n\r\n"),
        )
        .await;
        assert_eq!((status, refused.as_deref()), (403, Some("address")), "{target}");
        assert_eq!(p.refusals.recv().await.unwrap().reason, Reason::Address);
    }
    // The API itself still answers where it should.
    let health = t.get("/health").send().await;
    health.assert_ok();
}
