//! The egress proxy (92-browser-rooms §3.1): an HTTP proxy inside the portal process, one listener
//! per machine, that serves `CONNECT host:port` and absolute-form `http` requests, judges each
//! request on its own (§3.3), connects only to the addresses it judged, and never opens TLS.
//! Refusals are answered 403 and reported to the machine's channel; anything else is 405.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, HOST};
use hyper::http::uri::{Authority, Scheme};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::rules::{EgressRules, Host, OwnSockets, Reason};
use crate::metrics::Metrics;

/// Fixed by the contract (§15): the longest wait for a destination to answer a connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Resolves a host name to its addresses (A and AAAA), in the resolver's order.
pub type Resolve = Arc<dyn Fn(String) -> BoxFuture<'static, io::Result<Vec<IpAddr>>> + Send + Sync>;

/// The system resolver.
pub fn system_resolver() -> Resolve {
    Arc::new(|host: String| {
        Box::pin(async move {
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(found.map(|a| a.ip()).collect())
        })
    })
}

/// A request the proxy refused: `origin` is `scheme://host[:port]` (never a path or query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub origin: String,
    pub reason: Reason,
}

/// What every listener of one node shares: the rules, this server's own sockets, the resolver.
pub struct Egress {
    rules: EgressRules,
    own: std::sync::RwLock<OwnSockets>,
    resolve: Resolve,
    metrics: Arc<Metrics>,
}

/// One machine's listener; dropping it stops accepting (open tunnels run out on their own).
pub struct ProxyListener {
    pub addr: SocketAddr,
    /// Once set, the one address the listener serves: its machine's. A listener on a network
    /// that several machines share must not lend one machine's identity to another.
    peer: Arc<std::sync::OnceLock<IpAddr>>,
    task: JoinHandle<()>,
}

impl ProxyListener {
    /// Serves only connections from `ip` from now on.
    pub fn admit_only(&self, ip: IpAddr) {
        let _ = self.peer.set(ip);
    }
}

impl Drop for ProxyListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type ProxyBody = BoxBody<Bytes, hyper::Error>;

fn empty() -> ProxyBody {
    Empty::<Bytes>::new().map_err(|never| match never {}).boxed()
}

fn answer(status: StatusCode) -> Response<ProxyBody> {
    let mut response = Response::new(empty());
    *response.status_mut() = status;
    response
}

impl Egress {
    pub fn new(rules: EgressRules, own: OwnSockets, resolve: Resolve, metrics: Arc<Metrics>) -> Arc<Egress> {
        Arc::new(Egress {
            rules,
            own: std::sync::RwLock::new(own),
            resolve,
            metrics,
        })
    }

    /// Replaces the addresses of this host (read at start-up and every minute, §3.3).
    pub fn set_host_addresses(&self, addresses: impl IntoIterator<Item = IpAddr>) {
        let mut own = self.own.write().unwrap_or_else(|p| p.into_inner());
        own.host_addresses = addresses.into_iter().collect();
    }

    /// Adds a port of this server that no machine may reach (a listener, a DevTools endpoint).
    pub fn add_own_port(&self, port: u16) {
        self.own.write().unwrap_or_else(|p| p.into_inner()).ports.insert(port);
    }

    /// Opens a machine's listener on `ip` (a loopback address for the process engine); its
    /// refusals go to `refusals`. The listener's own port joins the never-reachable sockets.
    pub async fn listen(
        self: &Arc<Self>,
        ip: IpAddr,
        refusals: mpsc::UnboundedSender<Refusal>,
    ) -> io::Result<ProxyListener> {
        let listener = TcpListener::bind(SocketAddr::new(ip, 0)).await?;
        let addr = listener.local_addr()?;
        self.add_own_port(addr.port());
        let egress = self.clone();
        let peer = Arc::new(std::sync::OnceLock::new());
        let admitted = peer.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, from)) = listener.accept().await else {
                    continue;
                };
                if admitted.get().is_some_and(|ip| *ip != from.ip()) {
                    continue;
                }
                let (egress, refusals) = (egress.clone(), refusals.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let (egress, refusals) = (egress.clone(), refusals.clone());
                        async move { Ok::<_, hyper::Error>(egress.serve(request, &refusals).await) }
                    });
                    // A browser that hangs up mid-request is nothing to report.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                });
            }
        });
        Ok(ProxyListener { addr, peer, task })
    }

    async fn serve(
        &self,
        request: Request<Incoming>,
        refusals: &mpsc::UnboundedSender<Refusal>,
    ) -> Response<ProxyBody> {
        let (scheme, default_port) = if request.method() == Method::CONNECT {
            ("https", 443)
        } else if request.uri().scheme() == Some(&Scheme::HTTP) {
            ("http", 80)
        } else {
            return answer(StatusCode::METHOD_NOT_ALLOWED);
        };
        let Some((host, port)) = request.uri().authority().and_then(|a| target(a, default_port)) else {
            return answer(StatusCode::BAD_REQUEST);
        };
        let addresses = match self.judge(&host, port).await {
            Ok(Some(addresses)) => addresses,
            // Not a refusal: the page shows the browser's own network error (§3.3 rule 5).
            Ok(None) => return answer(StatusCode::BAD_GATEWAY),
            Err(reason) => {
                self.metrics.egress_refused(reason.as_str());
                let origin = match (scheme, port) {
                    ("https", 443) | ("http", 80) => format!("{scheme}://{}", host.to_url_host()),
                    _ => format!("{scheme}://{}:{port}", host.to_url_host()),
                };
                let _ = refusals.send(Refusal { origin, reason });
                let mut refused = answer(StatusCode::FORBIDDEN);
                refused
                    .headers_mut()
                    .insert("x-portal-refused", HeaderValue::from_static(reason.as_str()));
                return refused;
            }
        };
        let Some(upstream) = connect(&addresses).await else {
            return answer(StatusCode::BAD_GATEWAY);
        };
        if scheme == "https" {
            tunnel(request, upstream)
        } else {
            forward(request, upstream).await
        }
    }

    /// Judges a top-level navigation's URL before the browser loads it, with the same decision
    /// (and the same one resolution) as a request through the proxy: `Some(reason)` when it would be
    /// refused, counted in the refusal metric like the proxy's own. A name that does not resolve
    /// or a URL without a host is not a refusal: the browser shows its own error.
    pub async fn judge_url(&self, url: &str) -> Option<Reason> {
        let (scheme, rest) = url.split_once(':')?;
        let default_port = match scheme.to_ascii_lowercase().as_str() {
            "http" => 80,
            "https" => 443,
            _ => {
                self.metrics.egress_refused(Reason::Scheme.as_str());
                return Some(Reason::Scheme);
            }
        };
        let rest = rest.strip_prefix("//")?;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = rest[..end].parse::<Authority>().ok()?;
        let (host, port) = target(&authority, default_port)?;
        let reason = self.judge(&host, port).await.err()?;
        self.metrics.egress_refused(reason.as_str());
        Some(reason)
    }

    /// §3.3: the deny list by name first, then one resolution, then the rules over its answer.
    /// `Ok(None)` when the name does not resolve.
    async fn judge(&self, host: &Host, port: u16) -> Result<Option<Vec<SocketAddr>>, Reason> {
        if self.rules.denies_name(host, port) {
            return Err(Reason::Host);
        }
        let resolved = match host {
            Host::Address(address) => vec![*address],
            Host::Name(name) => match (self.resolve)(name.clone()).await {
                Ok(found) if !found.is_empty() => found,
                _ => return Ok(None),
            },
        };
        let own = self.own.read().unwrap_or_else(|p| p.into_inner()).clone();
        self.rules.judge(host, port, &resolved, &own).map(Some)
    }
}

fn target(authority: &Authority, default_port: u16) -> Option<(Host, u16)> {
    let host = Host::parse(authority.host())?;
    Some((host, authority.port_u16().unwrap_or(default_port)))
}

/// Connects to the judged addresses in order, and only to them: nothing is resolved again, so a
/// DNS answer that changes after the check cannot slip another address in.
async fn connect(addresses: &[SocketAddr]) -> Option<TcpStream> {
    let attempt = async {
        for address in addresses {
            if let Ok(stream) = TcpStream::connect(address).await {
                return Some(stream);
            }
        }
        None
    };
    tokio::time::timeout(CONNECT_TIMEOUT, attempt).await.ok().flatten()
}

/// `CONNECT`: answers 200, then relays bytes both ways without looking inside.
fn tunnel(request: Request<Incoming>, upstream: TcpStream) -> Response<ProxyBody> {
    tokio::spawn(async move {
        let Ok(upgraded) = hyper::upgrade::on(request).await else {
            return;
        };
        let mut upstream = upstream;
        let _ = tokio::io::copy_bidirectional(&mut TokioIo::new(upgraded), &mut upstream).await;
    });
    answer(StatusCode::OK)
}

/// An absolute-form `http` request: sent in origin form on a connection of its own, the answer
/// relayed back; a WebSocket upgrade is relayed both ways once both sides switched.
async fn forward(mut request: Request<Incoming>, upstream: TcpStream) -> Response<ProxyBody> {
    let Some(authority) = request.uri().authority().cloned() else {
        return answer(StatusCode::BAD_REQUEST);
    };
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let Ok(origin_form) = path.parse::<Uri>() else {
        return answer(StatusCode::BAD_REQUEST);
    };
    *request.uri_mut() = origin_form;
    let headers = request.headers_mut();
    headers.remove("proxy-connection");
    headers.remove("proxy-authorization");
    if !headers.contains_key(HOST) {
        if let Ok(host) = HeaderValue::from_str(authority.as_str()) {
            headers.insert(HOST, host);
        }
    }
    let client_side = hyper::upgrade::on(&mut request);
    let Ok((mut sender, connection)) = hyper::client::conn::http1::handshake(TokioIo::new(upstream)).await else {
        return answer(StatusCode::BAD_GATEWAY);
    };
    tokio::spawn(connection.with_upgrades());
    let Ok(mut response) = sender.send_request(request).await else {
        return answer(StatusCode::BAD_GATEWAY);
    };
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        let upstream_side = hyper::upgrade::on(&mut response);
        tokio::spawn(async move {
            if let (Ok(client), Ok(upstream)) = (client_side.await, upstream_side.await) {
                let _ = tokio::io::copy_bidirectional(&mut TokioIo::new(client), &mut TokioIo::new(upstream)).await;
            }
        });
    }
    response.map(BodyExt::boxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_url_is_judged_as_the_proxy_judges_its_request() {
        let resolve: Resolve = Arc::new(|name: String| {
            Box::pin(async move {
                match name.as_str() {
                    "public.test" => Ok(vec!["93.184.216.34".parse().unwrap()]),
                    "inside.test" => Ok(vec!["10.0.0.5".parse().unwrap()]),
                    _ => Err(io::Error::other("no such name")),
                }
            })
        });
        let rules = EgressRules::new(false, &["127.0.0.1:8080".into()], &["evil.test".into()]).unwrap();
        let metrics = Arc::new(Metrics::default());
        let egress = Egress::new(rules, OwnSockets::default(), resolve, metrics);
        assert_eq!(egress.judge_url("https://public.test/a?b#c").await, None);
        assert_eq!(egress.judge_url("HTTP://user:pw@127.0.0.1:8080/").await, None);
        assert_eq!(egress.judge_url("http://inside.test/").await, Some(Reason::Address));
        assert_eq!(egress.judge_url("http://127.0.0.1:8081").await, Some(Reason::Address));
        assert_eq!(egress.judge_url("https://evil.test/").await, Some(Reason::Host));
        assert_eq!(egress.judge_url("http://public.test:25/").await, Some(Reason::Port));
        assert_eq!(egress.judge_url("file:///etc/passwd").await, Some(Reason::Scheme));
        assert_eq!(egress.judge_url("javascript:alert(1)").await, Some(Reason::Scheme));
        // Not a refusal: the browser shows its own error.
        assert_eq!(egress.judge_url("https://unknown.test/").await, None);
    }
}
