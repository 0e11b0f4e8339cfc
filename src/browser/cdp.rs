//! A Chrome DevTools Protocol client over `--remote-debugging-pipe` (92-browser-rooms §2.3 "no back
//! door"): Chromium reads commands on its fd 3 and writes answers and events on its fd 4, each
//! message one JSON object followed by a NUL byte.
//!
//! Our own rather than a crate: the CDP clients on crates.io (chromiumoxide and the like) generate
//! bindings for the whole protocol and bring a WebSocket stack, far beyond what the server's build
//! budget allows for the few dozen methods a machine uses. Over the pipe the protocol is small: ids,
//! answers, events.
//!
//! Reading and writing run on two plain threads: a pipe end is a blocking file, and a thread each
//! keeps the async runtime out of it. When the pipe closes (the browser ended or crashed), every
//! pending call fails with [`CdpError::Closed`] and the event stream ends; that is how a crash is
//! noticed.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

/// Why a call got no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CdpError {
    /// The pipe closed before the answer came (the browser ended).
    #[error("the DevTools connection is closed")]
    Closed,
    /// No answer within the call timeout.
    #[error("{0} got no answer in time")]
    Timeout(String),
    /// The browser answered with an error.
    #[error("{method} failed: {message} ({code})")]
    Protocol { method: String, code: i64, message: String },
}

/// An event the browser sent: its method, parameters and, for a target's event, the session.
#[derive(Debug, Clone)]
pub struct CdpEvent {
    pub method: String,
    pub params: Value,
    pub session_id: Option<String>,
}

type Answer = oneshot::Sender<Result<Value, CdpError>>;

struct Shared {
    next_id: AtomicU64,
    /// The calls waiting for an answer; `None` once the pipe closed, so that no call waits forever.
    pending: Mutex<Option<HashMap<u64, (String, Answer)>>>,
    outgoing: mpsc::UnboundedSender<Vec<u8>>,
    timeout: Duration,
}

/// A handle on one DevTools connection; clones share it. Dropping every handle closes the writing
/// side, which ends a browser started with `--remote-debugging-pipe`.
#[derive(Clone)]
pub struct Cdp {
    shared: Arc<Shared>,
}

impl Cdp {
    /// Starts the connection over `reader` (the browser's fd 4) and `writer` (its fd 3); every call
    /// waits at most `timeout` for its answer. Returns the handle and the event stream.
    pub fn start(
        reader: impl Read + Send + 'static,
        writer: impl Write + Send + 'static,
        timeout: Duration,
    ) -> (Cdp, mpsc::UnboundedReceiver<CdpEvent>) {
        let (outgoing, mut to_write) = mpsc::unbounded_channel::<Vec<u8>>();
        let (events, event_stream) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            next_id: AtomicU64::new(1),
            pending: Mutex::new(Some(HashMap::new())),
            outgoing,
            timeout,
        });
        std::thread::Builder::new()
            .name("cdp-write".into())
            .spawn(move || {
                let mut writer = writer;
                while let Some(message) = to_write.blocking_recv() {
                    if writer.write_all(&message).and_then(|_| writer.flush()).is_err() {
                        return;
                    }
                }
            })
            .expect("a thread for the DevTools pipe");
        let reading = shared.clone();
        std::thread::Builder::new()
            .name("cdp-read".into())
            .spawn(move || read_messages(reader, &reading, &events))
            .expect("a thread for the DevTools pipe");
        (Cdp { shared }, event_stream)
    }

    /// Sends `method` with `params` (to the target of `session_id`, or to the browser) and waits for
    /// its result.
    pub async fn call(&self, session_id: Option<&str>, method: &str, params: Value) -> Result<Value, CdpError> {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let (answer, answered) = oneshot::channel();
        {
            let mut pending = self.shared.pending.lock().unwrap_or_else(|p| p.into_inner());
            let Some(pending) = pending.as_mut() else {
                return Err(CdpError::Closed);
            };
            pending.insert(id, (method.to_owned(), answer));
        }
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session_id) = session_id {
            message["sessionId"] = Value::String(session_id.to_owned());
        }
        let mut bytes = serde_json::to_vec(&message).unwrap_or_default();
        bytes.push(0);
        if self.shared.outgoing.send(bytes).is_err() {
            self.forget(id);
            return Err(CdpError::Closed);
        }
        match tokio::time::timeout(self.shared.timeout, answered).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(CdpError::Closed),
            Err(_) => {
                self.forget(id);
                Err(CdpError::Timeout(method.to_owned()))
            }
        }
    }

    /// Whether the pipe has closed.
    pub fn is_closed(&self) -> bool {
        self.shared.pending.lock().unwrap_or_else(|p| p.into_inner()).is_none()
    }

    fn forget(&self, id: u64) {
        if let Some(pending) = self.shared.pending.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            pending.remove(&id);
        }
    }
}

fn read_messages(reader: impl Read, shared: &Shared, events: &mpsc::UnboundedSender<CdpEvent>) {
    let mut reader = BufReader::with_capacity(256 * 1024, reader);
    let mut message = Vec::new();
    loop {
        message.clear();
        match reader.read_until(0, &mut message) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if message.last() != Some(&0) {
            break; // the pipe closed mid-message
        }
        message.pop();
        let Ok(mut value) = serde_json::from_slice::<Value>(&message) else {
            continue;
        };
        if let Some(id) = value.get("id").and_then(Value::as_u64) {
            let waiting = shared
                .pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_mut()
                .and_then(|p| p.remove(&id));
            if let Some((method, answer)) = waiting {
                let result = match value.get_mut("error") {
                    Some(error) => Err(CdpError::Protocol {
                        method,
                        code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
                        message: error.get("message").and_then(Value::as_str).unwrap_or("").to_owned(),
                    }),
                    None => Ok(value.get_mut("result").map(Value::take).unwrap_or(Value::Null)),
                };
                let _ = answer.send(result);
            }
        } else if let Some(method) = value.get("method").and_then(Value::as_str) {
            let event = CdpEvent {
                method: method.to_owned(),
                session_id: value.get("sessionId").and_then(Value::as_str).map(str::to_owned),
                params: value.get_mut("params").map(Value::take).unwrap_or(Value::Null),
            };
            // Nobody listening any more is no reason to stop answering calls.
            let _ = events.send(event);
        }
    }
    // Dropping the senders fails every waiting call with `Closed`.
    shared.pending.lock().unwrap_or_else(|p| p.into_inner()).take();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    /// A fake browser on the other end of two socket pairs: answers `Echo` with its params, `Fail`
    /// with an error, sends an event for `Emit`, ignores `Ignore`, and hangs up on `Hangup`.
    fn fake_browser() -> (Cdp, mpsc::UnboundedReceiver<CdpEvent>) {
        let (ours_read, theirs_write) = UnixStream::pair().unwrap();
        let (ours_write, theirs_read) = UnixStream::pair().unwrap();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(theirs_read);
            let mut writer = theirs_write;
            let mut message = Vec::new();
            while reader.read_until(0, &mut message).unwrap_or(0) > 0 {
                message.pop();
                let call: Value = serde_json::from_slice(&message).unwrap();
                message.clear();
                let id = call["id"].clone();
                let reply = match call["method"].as_str().unwrap() {
                    "Echo" => json!({"id": id, "result": call["params"], "sessionId": call["sessionId"]}),
                    "Fail" => json!({"id": id, "error": {"code": -32000, "message": "no"}}),
                    "Emit" => json!({"method": "Some.event", "params": {"n": 1}, "sessionId": "S"}),
                    "Ignore" => continue,
                    _ => return,
                };
                let mut bytes = serde_json::to_vec(&reply).unwrap();
                bytes.push(0);
                writer.write_all(&bytes).unwrap();
            }
        });
        Cdp::start(ours_read, ours_write, Duration::from_millis(300))
    }

    #[tokio::test]
    async fn calls_get_their_answers_and_events_arrive_until_the_pipe_closes() {
        let (cdp, mut events) = fake_browser();
        let (a, b) = tokio::join!(
            cdp.call(Some("S"), "Echo", json!({"a": 1})),
            cdp.call(None, "Echo", json!({"b": 2}))
        );
        assert_eq!(a.unwrap(), json!({"a": 1}));
        assert_eq!(b.unwrap(), json!({"b": 2}));
        assert_eq!(
            cdp.call(None, "Fail", json!({})).await,
            Err(CdpError::Protocol {
                method: "Fail".into(),
                code: -32000,
                message: "no".into()
            })
        );
        assert_eq!(
            cdp.call(None, "Ignore", json!({})).await,
            Err(CdpError::Timeout("Ignore".into()))
        );
        // The fake answers `Emit` with an event only; the call itself times out.
        let _ = cdp.call(None, "Emit", json!({})).await;
        let event = events.recv().await.unwrap();
        assert_eq!(event.method, "Some.event");
        assert_eq!(event.session_id.as_deref(), Some("S"));
        assert_eq!(event.params, json!({"n": 1}));

        let waiting = tokio::spawn({
            let cdp = cdp.clone();
            async move { cdp.call(None, "Ignore", json!({})).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(cdp.call(None, "Hangup", json!({})).await, Err(CdpError::Closed));
        assert_eq!(waiting.await.unwrap(), Err(CdpError::Closed));
        assert!(events.recv().await.is_none());
        assert!(cdp.is_closed());
        assert_eq!(cdp.call(None, "Echo", json!({})).await, Err(CdpError::Closed));
    }
}
