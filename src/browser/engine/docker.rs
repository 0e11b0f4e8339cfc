//! The docker engine (92-browser-rooms §2.3): one container per machine, made through the Docker
//! Engine API from `browser.docker.image`, on an internal network whose only reachable address is
//! the machine's egress listener, under CPU, memory and process limits, with a read-only root,
//! every capability dropped and an unprivileged user; removed with its file system when the machine
//! stops.
//!
//! **The DevTools pipe crosses into the container on its attached standard streams.** The
//! container's command puts its stdin and stdout on fds 3 and 4, where `--remote-debugging-pipe`
//! expects them, and sends Chromium's own output to `/dev/null`; the server attaches to the
//! container before starting it. So a container opens no debugging port at all (stricter than
//! §2.3.2 asks), and the server drives it with the same [`Cdp`] client as a local process. The
//! daemon keeps no log of those streams (`LogConfig` `none`): page content never lands on disk.
//!
//! **The API client is ours**: a dozen calls, each on its own connection to the daemon's Unix socket
//! (or loopback TCP), plain HTTP/1.1 with `Connection: close`, run on blocking threads like the
//! DevTools pipe. A client crate would bring a second HTTP stack for that.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

use super::{chromium_args, LaunchError, LaunchOptions, ProcessEnd};
use crate::browser::cdp::{Cdp, CdpEvent};

/// The wait for a call that only reads or pings.
const QUICK: Duration = Duration::from_secs(5);
/// The wait for a call that makes or removes a container: on the `vfs` storage driver that copies
/// the image's whole file system.
const SLOW: Duration = Duration::from_secs(60);
/// The user machines run as (the image's `browser` user; any uid but root would do).
const MACHINE_USER: &str = "10001:10001";
/// Where the profile lives: the tmpfs at `/tmp`, also the browser's home.
const MACHINE_HOME: &str = "/tmp";
/// Places the attached streams on the pipe's fds; Chromium's own output goes nowhere.
const PIPE_SHELL: &str = r#"exec "$0" "$@" 3<&0 4>&1 0</dev/null >/dev/null 2>&1"#;

/// Why a call to the daemon failed.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("the Docker daemon does not answer: {0}")]
    Unreachable(#[from] io::Error),
    #[error("{what}: the Docker daemon answered {status}: {message}")]
    Refused {
        what: &'static str,
        status: u16,
        message: String,
    },
    #[error("{0}")]
    Unusable(String),
}

#[derive(Debug, Clone)]
enum DockerHost {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

/// A connection to the daemon.
enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Conn {
    fn try_clone(&self) -> io::Result<Conn> {
        Ok(match self {
            Conn::Unix(s) => Conn::Unix(s.try_clone()?),
            Conn::Tcp(s) => Conn::Tcp(s.try_clone()?),
        })
    }

    fn set_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Conn::Unix(s) => s.set_read_timeout(timeout).and_then(|_| s.set_write_timeout(timeout)),
            Conn::Tcp(s) => s.set_read_timeout(timeout).and_then(|_| s.set_write_timeout(timeout)),
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.read(buf),
            Conn::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.write(buf),
            Conn::Tcp(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Unix(s) => s.flush(),
            Conn::Tcp(s) => s.flush(),
        }
    }
}

/// The Docker Engine API at `browser.docker.host`.
#[derive(Debug, Clone)]
pub struct DockerClient {
    host: DockerHost,
}

/// One path segment or query value, percent-encoded.
fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

impl DockerClient {
    /// `unix:///path` or `tcp://host:port` (the configuration has checked it is one of them).
    pub fn new(host: &str) -> Result<DockerClient, String> {
        let host = if let Some(path) = host.strip_prefix("unix://") {
            DockerHost::Unix(PathBuf::from(path))
        } else if let Some(addr) = host.strip_prefix("tcp://").and_then(|a| a.parse().ok()) {
            DockerHost::Tcp(addr)
        } else {
            return Err(format!("browser.docker.host {host:?} is neither unix:// nor tcp://"));
        };
        Ok(DockerClient { host })
    }

    fn connect(&self, timeout: Option<Duration>) -> io::Result<Conn> {
        let conn = match &self.host {
            DockerHost::Unix(path) => Conn::Unix(UnixStream::connect(path)?),
            DockerHost::Tcp(addr) => Conn::Tcp(TcpStream::connect_timeout(addr, timeout.unwrap_or(QUICK))?),
        };
        conn.set_timeout(timeout)?;
        Ok(conn)
    }

    fn write_request(conn: &mut Conn, method: &str, path: &str, body: Option<&Value>, upgrade: bool) -> io::Result<()> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let connection = if upgrade {
            "Connection: Upgrade\r\nUpgrade: tcp"
        } else {
            "Connection: close"
        };
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: docker\r\n{connection}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        conn.write_all(request.as_bytes())?;
        conn.flush()
    }

    /// One call on its own connection: the status and the body. Blocking.
    fn exchange(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        timeout: Option<Duration>,
    ) -> io::Result<(u16, Vec<u8>)> {
        let mut conn = self.connect(timeout)?;
        Self::write_request(&mut conn, method, path, body, false)?;
        let mut reader = BufReader::new(conn);
        let (status, headers) = read_head(&mut reader)?;
        let chunked = headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
        let length = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok());
        let body = if chunked {
            read_chunked(&mut reader)?
        } else if let Some(length) = length {
            let mut body = vec![0; length];
            reader.read_exact(&mut body)?;
            body
        } else {
            let mut body = Vec::new();
            reader.read_to_end(&mut body)?;
            body
        };
        Ok((status, body))
    }

    /// A call whose answer must be 2xx: its JSON body (`null` when empty).
    async fn call(
        &self,
        what: &'static str,
        method: &'static str,
        path: String,
        body: Option<Value>,
        timeout: Duration,
    ) -> Result<Value, DockerError> {
        let client = self.clone();
        let (status, body) =
            tokio::task::spawn_blocking(move || client.exchange(method, &path, body.as_ref(), Some(timeout)))
                .await
                .map_err(io::Error::other)??;
        answer(what, status, &body)
    }

    /// `/_ping` answered within 2 seconds (§5.5).
    pub async fn ping(&self) -> bool {
        self.call("ping", "GET", "/_ping".into(), None, Duration::from_secs(2))
            .await
            .is_ok()
    }

    /// The machines' network, made when missing (§2.3): an internal bridge network with traffic
    /// between containers off. Returns the host's address on it, where machines' egress listeners
    /// bind. A network of that name with a route out is refused rather than used.
    pub async fn machine_network(&self, name: &str) -> Result<IpAddr, DockerError> {
        let path = format!("/networks/{}", encode(name));
        let network = match self.call("read the network", "GET", path.clone(), None, QUICK).await {
            Err(DockerError::Refused { status: 404, .. }) => {
                let create = json!({
                    "Name": name,
                    "Driver": "bridge",
                    "Internal": true,
                    "CheckDuplicate": true,
                    "Options": {"com.docker.network.bridge.enable_icc": "false"},
                    "Labels": {"portal.network": "machines"},
                });
                match self
                    .call(
                        "make the network",
                        "POST",
                        "/networks/create".into(),
                        Some(create),
                        QUICK,
                    )
                    .await
                {
                    // Another node or machine made it meanwhile.
                    Ok(_) | Err(DockerError::Refused { status: 409, .. }) => {}
                    Err(err) => return Err(err),
                }
                self.call("read the network", "GET", path, None, QUICK).await?
            }
            other => other?,
        };
        if network["Internal"] != true {
            return Err(DockerError::Unusable(format!(
                "the network {name:?} is not internal (it has a route out of the host); machines are not run on it"
            )));
        }
        network["IPAM"]["Config"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|c| c["Gateway"].as_str().and_then(|g| g.parse().ok()))
            .ok_or_else(|| DockerError::Unusable(format!("the network {name:?} has no gateway address")))
    }

    /// Removes every container labelled `portal.node={node}` (a node's own leftovers, §2.3.5), with
    /// its file system; returns how many.
    pub async fn remove_node_containers(&self, node: &str) -> Result<usize, DockerError> {
        let filters = json!({"label": [format!("portal.node={node}")]}).to_string();
        let listed = self
            .call(
                "list containers",
                "GET",
                format!("/containers/json?all=1&filters={}", encode(&filters)),
                None,
                QUICK,
            )
            .await?;
        let ids: Vec<String> = listed
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["Id"].as_str().map(str::to_owned))
            .collect();
        for id in &ids {
            self.remove(id).await?;
        }
        Ok(ids.len())
    }

    async fn remove(&self, id: &str) -> Result<(), DockerError> {
        match self
            .call(
                "remove a container",
                "DELETE",
                format!("/containers/{}?force=1&v=1", encode(id)),
                None,
                SLOW,
            )
            .await
        {
            Ok(_) | Err(DockerError::Refused { status: 404, .. }) => Ok(()),
            Err(err) => Err(err),
        }
    }
}

fn answer(what: &'static str, status: u16, body: &[u8]) -> Result<Value, DockerError> {
    let value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
    };
    if (200..300).contains(&status) {
        return Ok(value);
    }
    let message = value["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| value.to_string());
    Err(DockerError::Refused { what, status, message })
}

/// The status line and the headers (names lower-cased), leaving the reader at the body.
fn read_head(reader: &mut impl BufRead) -> io::Result<(u16, Vec<(String, String)>)> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("not an HTTP answer: {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end();
        if line.is_empty() {
            return Ok((status, headers));
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
}

fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "a bad chunk size"))?;
        if size == 0 {
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        line.clear();
        reader.read_line(&mut line)?;
    }
}

/// The container's stdout out of the attached stream: the daemon frames each write with an 8-byte
/// header (stream, three zero bytes, length big-endian); other streams' frames are skipped.
struct Demultiplexed<R> {
    inner: R,
    /// Bytes left of the current frame, and whether it is stdout's.
    left: usize,
    stdout: bool,
}

impl<R: Read> Read for Demultiplexed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.left == 0 {
                let mut header = [0u8; 8];
                match self.inner.read_exact(&mut header) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                    Err(e) => return Err(e),
                }
                self.stdout = header[0] == 1;
                self.left = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
                continue;
            }
            if self.stdout {
                let want = buf.len().min(self.left);
                let read = self.inner.read(&mut buf[..want])?;
                if read == 0 {
                    return Ok(0);
                }
                self.left -= read;
                return Ok(read);
            }
            let skipped = io::copy(&mut (&mut self.inner).take(self.left as u64), &mut io::sink())?;
            if skipped == 0 {
                return Ok(0);
            }
            self.left -= skipped as usize;
        }
    }
}

/// What a machine's container is, beside the browser's own options.
#[derive(Debug, Clone)]
pub struct ContainerSpec {
    pub image: String,
    /// `portal-browser-{machine_id}`.
    pub name: String,
    pub machine_id: i64,
    pub node: String,
    pub network: String,
    pub pids_limit: i64,
}

/// The body of `POST /containers/create` (§2.3's table).
fn container_body(spec: &ContainerSpec, options: &LaunchOptions) -> Value {
    // The entry point replaces the image's own, so that nothing but the browser runs.
    let entrypoint = ["/bin/sh", "-c", PIPE_SHELL, &options.chromium.to_string_lossy()].map(str::to_owned);
    let args: Vec<String> = chromium_args(options, &PathBuf::from(MACHINE_HOME).join("profile"))
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let memory = options.limits.memory_mb.saturating_mul(1024 * 1024);
    json!({
        "Image": spec.image,
        "Entrypoint": entrypoint,
        "Cmd": args,
        "User": MACHINE_USER,
        "Env": [format!("HOME={MACHINE_HOME}")],
        "Labels": {"portal.machine": spec.machine_id.to_string(), "portal.node": spec.node},
        "AttachStdin": true,
        "AttachStdout": true,
        "AttachStderr": false,
        "OpenStdin": true,
        "StdinOnce": false,
        "Tty": false,
        "HostConfig": {
            "NanoCpus": (options.limits.cpus * 1e9) as i64,
            "Memory": memory,
            "MemorySwap": memory,
            "PidsLimit": spec.pids_limit,
            "ReadonlyRootfs": true,
            "Tmpfs": {MACHINE_HOME: "rw,nosuid,nodev,size=512m,mode=1777"},
            "ShmSize": 256 * 1024 * 1024,
            "CapDrop": ["ALL"],
            "SecurityOpt": ["no-new-privileges"],
            "NetworkMode": spec.network,
            "LogConfig": {"Type": "none", "Config": {}},
            "RestartPolicy": {"Name": "no"},
        },
    })
}

/// A container that is removed, with its file system, when this is dropped unless it was removed
/// already: a launch given up half-way (a timeout, a stop) leaves nothing behind.
struct Removal {
    client: DockerClient,
    id: String,
    done: bool,
}

impl Drop for Removal {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let (client, id) = (self.client.clone(), std::mem::take(&mut self.id));
        let _ = std::thread::Builder::new().name("docker-remove".into()).spawn(move || {
            let path = format!("/containers/{}?force=1&v=1", encode(&id));
            let _ = client.exchange("DELETE", &path, None, Some(SLOW));
        });
    }
}

/// A made, attached and started container: what the blocking part of a launch hands over.
struct Started {
    removal: Removal,
    pid: i32,
    address: Option<IpAddr>,
    stdout: Demultiplexed<Conn>,
    stdin: Conn,
}

/// Makes, attaches and starts the container. Blocking; a failure after the container was made
/// removes it.
fn start_container(
    client: &DockerClient,
    spec: &ContainerSpec,
    options: &LaunchOptions,
) -> Result<Started, LaunchError> {
    let created = {
        let (status, body) = client.exchange(
            "POST",
            &format!("/containers/create?name={}", encode(&spec.name)),
            Some(&container_body(spec, options)),
            Some(SLOW),
        )?;
        answer("make the container", status, &body)?
    };
    let id = created["Id"]
        .as_str()
        .ok_or_else(|| DockerError::Unusable("the daemon made a container without an id".into()))?;
    let removal = Removal {
        client: client.clone(),
        id: id.to_owned(),
        done: false,
    };
    let path = |what: &str| format!("/containers/{}/{what}", encode(id));

    // Attached before it starts, so that not a byte of the pipe is missed.
    let mut attached = client.connect(Some(SLOW))?;
    DockerClient::write_request(
        &mut attached,
        "POST",
        &path("attach?stream=1&stdin=1&stdout=1"),
        None,
        true,
    )?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if attached.read(&mut byte)? == 0 || head.len() > 16 * 1024 {
            return Err(DockerError::Unusable("the attach was cut short".into()).into());
        }
        head.push(byte[0]);
    }
    let (status, _) = read_head(&mut head.as_slice())?;
    if status != 101 && status != 200 {
        return Err(DockerError::Refused {
            what: "attach to the container",
            status,
            message: String::from_utf8_lossy(&head).into_owned(),
        }
        .into());
    }
    attached.set_timeout(None)?;

    let (status, body) = client.exchange("POST", &path("start"), None, Some(SLOW))?;
    answer("start the container", status, &body)?;
    let (status, body) = client.exchange("GET", &path("json"), None, Some(QUICK))?;
    let inspected = answer("inspect the container", status, &body)?;
    let pid = inspected["State"]["Pid"].as_i64().unwrap_or(0) as i32;
    let address = inspected["NetworkSettings"]["Networks"][&spec.network]["IPAddress"]
        .as_str()
        .and_then(|a| a.parse().ok());
    Ok(Started {
        removal,
        pid,
        address,
        stdout: Demultiplexed {
            inner: attached.try_clone()?,
            left: 0,
            stdout: false,
        },
        stdin: attached,
    })
}

/// Waits for the container to end and says how: Docker's OOM flag, else its exit code.
fn wait_for_end(client: &DockerClient, id: &str) -> ProcessEnd {
    let path = |what: &str| format!("/containers/{}/{what}", encode(id));
    let waited = client
        .exchange("POST", &path("wait"), None, None)
        .ok()
        .and_then(|(status, body)| answer("wait", status, &body).ok());
    let out_of_memory = client
        .exchange("GET", &path("json"), None, Some(QUICK))
        .ok()
        .and_then(|(status, body)| answer("inspect", status, &body).ok())
        .is_some_and(|inspected| inspected["State"]["OOMKilled"] == true);
    if out_of_memory {
        return ProcessEnd::OutOfMemory;
    }
    ProcessEnd::Exited {
        code: waited.and_then(|w| w["StatusCode"].as_i64()).unwrap_or(-1) as i32,
    }
}

/// One machine's running container. Dropping it removes the container; [`stop`] ends the browser
/// politely first.
///
/// [`stop`]: ChromiumContainer::stop
pub struct ChromiumContainer {
    removal: Removal,
    pid: i32,
    address: Option<IpAddr>,
    cdp: Cdp,
    ended: watch::Receiver<Option<ProcessEnd>>,
}

impl ChromiumContainer {
    /// Makes and starts the container and waits until its browser answers over DevTools.
    pub async fn launch(
        client: Arc<DockerClient>,
        spec: ContainerSpec,
        options: LaunchOptions,
    ) -> Result<(ChromiumContainer, mpsc::UnboundedReceiver<CdpEvent>), LaunchError> {
        let starting = (*client).clone();
        let call_timeout = options.call_timeout;
        // When this launch is given up while the daemon works, the result is dropped where it lands,
        // and its `Removal` with it.
        let started = tokio::task::spawn_blocking(move || start_container(&starting, &spec, &options))
            .await
            .map_err(io::Error::other)??;
        let (ended_tx, ended) = watch::channel(None);
        let waiter = (client.as_ref().clone(), started.removal.id.clone());
        std::thread::Builder::new().name("docker-wait".into()).spawn(move || {
            let _ = ended_tx.send(Some(wait_for_end(&waiter.0, &waiter.1)));
        })?;
        let (cdp, events) = Cdp::start(started.stdout, started.stdin, call_timeout);
        let container = ChromiumContainer {
            removal: started.removal,
            pid: started.pid,
            address: started.address,
            cdp,
            ended,
        };
        container.cdp.call(None, "Browser.getVersion", json!({})).await?;
        Ok((container, events))
    }

    pub fn cdp(&self) -> &Cdp {
        &self.cdp
    }

    /// The container's address on the machines' network.
    pub fn address(&self) -> Option<IpAddr> {
        self.address
    }

    /// The browser's process id on this host (the container's first process is Chromium itself).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    pub async fn ended(&self) -> ProcessEnd {
        super::wait_for_end(&self.ended).await
    }

    /// Asks the browser to close, waits half of `timeout`, then removes the container by force
    /// (which kills what is left) with its file system.
    pub async fn stop(mut self, timeout: Duration) -> ProcessEnd {
        let half = timeout / 2;
        if self.ended.borrow().is_none() {
            let _ = tokio::time::timeout(half, self.cdp.call(None, "Browser.close", json!({}))).await;
            let _ = tokio::time::timeout(half, self.ended()).await;
        }
        let end = *self.ended.borrow();
        let client = self.removal.client.clone();
        if client.remove(&self.removal.id).await.is_ok() {
            self.removal.done = true;
        }
        end.unwrap_or(ProcessEnd::Exited { code: -1 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdout_is_read_across_frames_and_other_streams_are_skipped() {
        let mut wire = Vec::new();
        for (stream, payload) in [
            (1u8, &b"{\"id\":1}"[..]),
            (2, b"noise"),
            (1, b"\0{\"id\""),
            (1, b":2}\0"),
        ] {
            wire.extend([stream, 0, 0, 0]);
            wire.extend((payload.len() as u32).to_be_bytes());
            wire.extend(payload);
        }
        let mut out = Vec::new();
        Demultiplexed {
            inner: wire.as_slice(),
            left: 0,
            stdout: false,
        }
        .read_to_end(&mut out)
        .unwrap();
        assert_eq!(out, b"{\"id\":1}\0{\"id\":2}\0");
    }

    #[test]
    fn a_cut_frame_ends_the_stream_without_an_error() {
        let wire = [1u8, 0, 0, 0, 0, 0, 0, 10, b'a', b'b'];
        let mut out = Vec::new();
        Demultiplexed {
            inner: &wire[..],
            left: 0,
            stdout: false,
        }
        .read_to_end(&mut out)
        .unwrap();
        assert_eq!(out, b"ab");
    }

    #[test]
    fn chunked_and_sized_answers_are_read_and_errors_carry_the_daemons_message() {
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n";
        let mut reader = &chunked[..];
        let (status, headers) = read_head(&mut reader).unwrap();
        assert_eq!(status, 200);
        assert!(headers.contains(&("transfer-encoding".into(), "chunked".into())));
        assert_eq!(read_chunked(&mut reader).unwrap(), b"{\"a\":1}");
        assert_eq!(answer("x", 204, b"").unwrap(), Value::Null);
        let refused = answer(
            "make the container",
            404,
            br#"{"message":"No such image: nope:latest"}"#,
        )
        .unwrap_err();
        assert_eq!(
            refused.to_string(),
            "make the container: the Docker daemon answered 404: No such image: nope:latest"
        );
        assert!(read_head(&mut &b"garbage\r\n\r\n"[..]).is_err());
    }

    #[test]
    fn the_container_is_bounded_read_only_unprivileged_and_unlogged() {
        let options = LaunchOptions {
            chromium: "chromium".into(),
            proxy: "172.30.0.1:41000".parse().unwrap(),
            width: 800,
            height: 600,
            no_sandbox: true,
            limits: super::super::Limits {
                cpus: 0.5,
                memory_mb: 512,
            },
            call_timeout: Duration::from_secs(1),
        };
        let spec = ContainerSpec {
            image: "portal-browser:latest".into(),
            name: "portal-browser-7".into(),
            machine_id: 7,
            node: "node-a:8080".into(),
            network: "portal-browser".into(),
            pids_limit: 64,
        };
        let body = container_body(&spec, &options);
        let host = &body["HostConfig"];
        assert_eq!(host["NanoCpus"], 500_000_000);
        assert_eq!(host["Memory"], 512 * 1024 * 1024);
        assert_eq!(host["MemorySwap"], host["Memory"]);
        assert_eq!(host["PidsLimit"], 64);
        assert_eq!(host["ReadonlyRootfs"], true);
        assert_eq!(host["CapDrop"], json!(["ALL"]));
        assert_eq!(host["SecurityOpt"], json!(["no-new-privileges"]));
        assert_eq!(host["NetworkMode"], "portal-browser");
        assert_eq!(host["LogConfig"]["Type"], "none");
        assert!(host.get("Binds").is_none() && host.get("Mounts").is_none());
        assert_ne!(body["User"], "root");
        assert_eq!(
            body["Labels"],
            json!({"portal.machine": "7", "portal.node": "node-a:8080"})
        );
        assert_eq!(body["Entrypoint"], json!(["/bin/sh", "-c", PIPE_SHELL, "chromium"]));
        let command: Vec<&str> = body["Cmd"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(command.contains(&"--remote-debugging-pipe"));
        assert!(command.contains(&"--proxy-server=http://172.30.0.1:41000"));
        assert!(command.contains(&"--user-data-dir=/tmp/profile"));
        assert!(!command.iter().any(|a| a.starts_with("--remote-debugging-port")));
    }
}
