//! A client device of the end-to-end-encrypted chat transport (90-chat-transport), as a browser
//! runs it: one session, its own X25519 key pair, one realtime connection that joins rooms, and the
//! chat keys it was handed, by (chat, epoch). Key blobs are sealed boxes (X25519, XSalsa20-Poly1305)
//! to the target device's public key; message contents are CiphertextV2 bundles whose `ct` is a
//! 24-byte nonce followed by the XChaCha20-Poly1305 output under the chat key. The server sees
//! none of this: it only relays the strings.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::XChaCha20Poly1305;
use crypto_box::{PublicKey, SecretKey};
use futures_util::{SinkExt, StreamExt};
use rand::RngCore;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use super::ws::{open, open_with_snapshot, Ws, WAIT};
use super::{TestApp, TestResponse};

/// Events that concern presence, not rooms: skipped by `expect_sequence`.
const PRESENCE_EVENTS: [&str; 2] = ["user:joined", "user:left"];

/// The fields of `room:joined` data (§2.2), sorted.
pub const ROOM_JOINED_FIELDS: [&str; 8] = [
    "chat_id",
    "device_id",
    "epoch",
    "history_visible",
    "key",
    "members",
    "running",
    "viewer_count",
];
/// The fields of a `RoomKeyBlob` (§4.6), sorted.
pub const ROOM_KEY_BLOB_FIELDS: [&str; 7] = ["blob", "chat_id", "created_at", "device_id", "epoch", "from", "user_id"];
/// The fields of a `ChatMessage` (§5.1), sorted.
pub const CHAT_MESSAGE_FIELDS: [&str; 8] = [
    "chat_id",
    "content",
    "created_at",
    "epoch",
    "id",
    "permission_level",
    "sender",
    "type",
];
/// The fields of `room:key_request` data (§4.3), sorted.
pub const KEY_REQUEST_FIELDS: [&str; 5] = ["chat_id", "devices", "epoch", "generate", "request_id"];

/// Standard base64 with padding: the form the server returns public keys in (§1.4).
pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// A bundle string (§1.4) for `epoch` with `ct` = base64 of `ct`.
pub fn bundle_of(epoch: i64, ct: &[u8]) -> String {
    json!({"v": 2, "epoch": epoch, "ct": b64(ct)}).to_string()
}

/// A key pair made as a browser makes one: (secret, public key in standard base64).
pub fn key_pair() -> (SecretKey, String) {
    let secret = SecretKey::generate(&mut OsRng);
    let public = b64(secret.public_key().as_bytes());
    (secret, public)
}

/// The bundle string of `text` encrypted under `key`: `ct` = nonce (24) || XChaCha20-Poly1305.
pub fn encrypt(key: &[u8; 32], epoch: i64, text: &str) -> String {
    let cipher = XChaCha20Poly1305::new(key.into());
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let mut ct = nonce.to_vec();
    ct.extend(cipher.encrypt(&nonce, text.as_bytes()).expect("encryption"));
    bundle_of(epoch, &ct)
}

/// The plaintext of a bundle string under `key`, or `None` when it does not open.
pub fn open_bundle(key: &[u8; 32], content: &str) -> Option<String> {
    let bundle: Value = serde_json::from_str(content).ok()?;
    let ct = STANDARD.decode(bundle["ct"].as_str()?).ok()?;
    if ct.len() < 40 {
        return None;
    }
    let (nonce, body) = ct.split_at(24);
    let plain = XChaCha20Poly1305::new(key.into())
        .decrypt(chacha20poly1305::XNonce::from_slice(nonce), body)
        .ok()?;
    String::from_utf8(plain).ok()
}

/// A sealed box (X25519, XSalsa20-Poly1305) of `data` to the holder of `public_key` (base64).
pub fn seal(public_key: &str, data: &[u8]) -> String {
    let bytes: [u8; 32] = STANDARD
        .decode(public_key)
        .expect("a base64 public key")
        .try_into()
        .expect("32 bytes");
    let sealed = PublicKey::from_bytes(bytes).seal(&mut OsRng, data).expect("sealing");
    b64(&sealed)
}

/// `chat_id`'s path under `/v1/portal/chats`.
pub fn chat_path(chat_id: i64, rest: &str) -> String {
    format!("/v1/portal/chats/{chat_id}/{rest}")
}

pub struct Device<'a> {
    pub t: &'a TestApp,
    pub addr: SocketAddr,
    pub user_id: i64,
    pub token: String,
    /// The session's `token_suffix`: the public device id.
    pub device_id: String,
    pub public_key: String,
    secret: SecretKey,
    ws: Ws,
    /// Frames read from the socket and not yet taken by a test, oldest first.
    pending: VecDeque<Value>,
    /// Chat keys this device made or opened, by (chat, epoch).
    chat_keys: HashMap<(i64, i64), [u8; 32]>,
}

impl<'a> Device<'a> {
    /// A device of the session `token`, with a fresh key pair (not registered yet) and an open
    /// realtime connection whose snapshot has been read.
    pub async fn new(t: &'a TestApp, addr: SocketAddr, user_id: i64, token: &str) -> Device<'a> {
        let (ws, _) = open_with_snapshot(addr, token).await;
        Self::on(t, addr, user_id, token, ws)
    }

    /// A stranger's device: its connection gets no presence snapshot (91-matchmaking §2.3).
    pub async fn stranger(t: &'a TestApp, addr: SocketAddr, user_id: i64, token: &str) -> Device<'a> {
        let device = Self::on(t, addr, user_id, token, open(addr, token).await);
        let r = device.register_key().await;
        assert_eq!(r.assert_ok()["status"], "registered");
        device
    }

    fn on(t: &'a TestApp, addr: SocketAddr, user_id: i64, token: &str, ws: Ws) -> Device<'a> {
        let (secret, public_key) = key_pair();
        Device {
            t,
            addr,
            user_id,
            token: token.to_owned(),
            device_id: token[token.len() - 6..].to_owned(),
            public_key,
            secret,
            ws,
            pending: VecDeque::new(),
            chat_keys: HashMap::new(),
        }
    }

    /// A device whose key is registered: what the portal does when it loads.
    pub async fn ready(t: &'a TestApp, addr: SocketAddr, user_id: i64, token: &str) -> Device<'a> {
        let device = Device::new(t, addr, user_id, token).await;
        let r = device.register_key().await;
        assert_eq!(r.assert_ok()["status"], "registered");
        device
    }

    fn who(&self) -> String {
        format!("device {}/{}", self.user_id, self.device_id)
    }

    /// `{user_id, device_id, public_key}`: how key requests and blob senders name this device.
    pub fn named(&self) -> Value {
        json!({"user_id": self.user_id, "device_id": self.device_id, "public_key": self.public_key})
    }

    /// `{device_id, public_key}`: this device in a `RoomMember`.
    pub fn member_entry(&self) -> Value {
        json!({"device_id": self.device_id, "public_key": self.public_key})
    }

    // ---- HTTP ----

    pub async fn post(&self, path: &str, body: Value) -> TestResponse {
        self.t.post_as(&self.token, path, body).await
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.t.get(path).cookie(&self.token).send().await
    }

    /// `POST /v1/portal/keys` with this device's public key.
    pub async fn register_key(&self) -> TestResponse {
        self.post("/v1/portal/keys", json!({"public_key": self.public_key}))
            .await
    }

    /// A fresh key pair, registered (replacing the device's key); the chat keys opened so far stay
    /// known, as they would in the browser's memory.
    pub async fn replace_key(&mut self) -> TestResponse {
        let (secret, public_key) = key_pair();
        self.secret = secret;
        self.public_key = public_key;
        self.register_key().await
    }

    /// `POST /v1/portal/chats/{chat_id}/keys`.
    pub async fn upload(&self, chat_id: i64, epoch: i64, blobs: Value) -> TestResponse {
        self.post(&chat_path(chat_id, "keys"), json!({"epoch": epoch, "blobs": blobs}))
            .await
    }

    /// `GET /v1/portal/chats/{chat_id}/keys/me`.
    pub async fn keys_me(&self, chat_id: i64) -> TestResponse {
        self.get(&chat_path(chat_id, "keys/me")).await
    }

    /// `POST /v1/portal/chats/{chat_id}/messages` with `content` as given.
    pub async fn send_content(&self, chat_id: i64, content: &str) -> TestResponse {
        self.post(&chat_path(chat_id, "messages"), json!({"content": content}))
            .await
    }

    /// Encrypts `text` under the chat key this device holds for (`chat_id`, `epoch`) and sends it.
    pub async fn send_at(&self, chat_id: i64, epoch: i64, text: &str) -> TestResponse {
        let content = self.bundle(chat_id, epoch, text);
        self.send_content(chat_id, &content).await
    }

    /// Sends `text` at the newest epoch this device holds a key for; returns the message id.
    pub async fn send(&self, chat_id: i64, text: &str) -> String {
        let epoch = self
            .newest_epoch(chat_id)
            .unwrap_or_else(|| panic!("{} holds no key for chat {chat_id}", self.who()));
        let r = self.send_at(chat_id, epoch, text).await;
        assert_eq!(super::keys(r.assert_ok()), ["id"]);
        r.body["id"].as_str().unwrap().to_owned()
    }

    /// `GET /v1/portal/chats/{chat_id}/history?{query}`.
    pub async fn history(&self, chat_id: i64, query: &str) -> TestResponse {
        let path = if query.is_empty() {
            chat_path(chat_id, "history")
        } else {
            format!("{}?{query}", chat_path(chat_id, "history"))
        };
        self.get(&path).await
    }

    // ---- Keys and contents ----

    /// The newest epoch of `chat_id` this device holds a key for.
    pub fn newest_epoch(&self, chat_id: i64) -> Option<i64> {
        self.chat_keys
            .keys()
            .filter(|(chat, _)| *chat == chat_id)
            .map(|(_, epoch)| *epoch)
            .max()
    }

    pub fn holds_key(&self, chat_id: i64, epoch: i64) -> bool {
        self.chat_keys.contains_key(&(chat_id, epoch))
    }

    pub fn chat_key(&self, chat_id: i64, epoch: i64) -> [u8; 32] {
        *self
            .chat_keys
            .get(&(chat_id, epoch))
            .unwrap_or_else(|| panic!("{} holds no key for chat {chat_id} epoch {epoch}", self.who()))
    }

    /// The CiphertextV2 bundle string of `text` under the key of (`chat_id`, `epoch`).
    pub fn bundle(&self, chat_id: i64, epoch: i64, text: &str) -> String {
        encrypt(&self.chat_key(chat_id, epoch), epoch, text)
    }

    /// The plaintext of a `user` ChatMessage (§5.1), opened with the chat key of its epoch.
    #[track_caller]
    pub fn decrypt(&self, message: &Value) -> String {
        assert_eq!(message["type"], "user", "not a user message: {message}");
        let chat_id = message["chat_id"].as_i64().expect("chat_id");
        let content = message["content"].as_str().expect("content");
        let bundle: Value = serde_json::from_str(content).expect("a JSON bundle");
        assert_eq!(bundle["v"], 2, "bundle: {bundle}");
        let epoch = bundle["epoch"].as_i64().expect("epoch");
        assert_eq!(
            message["epoch"], epoch,
            "message epoch and bundle epoch differ: {message}"
        );
        open_bundle(&self.chat_key(chat_id, epoch), content)
            .unwrap_or_else(|| panic!("{} cannot open message {}", self.who(), message["id"]))
    }

    /// A sealed box of `chat_key` to the device whose public key is `public_key` (base64).
    pub fn seal_for(public_key: &str, chat_key: &[u8; 32]) -> String {
        seal(public_key, chat_key)
    }

    /// The blob items of the key held for (`chat_id`, `epoch`), one per device of `devices`
    /// (`{user_id, device_id, public_key}` objects), naming the key each was made for.
    pub fn blobs_for(&self, chat_id: i64, epoch: i64, devices: &[Value]) -> Value {
        let key = self.chat_key(chat_id, epoch);
        devices
            .iter()
            .map(|d| {
                let public_key = d["public_key"].as_str().expect("a device with a public key");
                json!({"user_id": d["user_id"], "device_id": d["device_id"],
                       "blob": Self::seal_for(public_key, &key), "public_key": public_key})
            })
            .collect()
    }

    /// Answers a `room:key_request` (the frame or its data) as a client does: with `generate`, makes
    /// a fresh chat key and seals it to every listed device; otherwise seals the key it holds for
    /// that epoch. Returns the upload's answer.
    pub async fn answer(&mut self, request: &Value) -> TestResponse {
        let data = if request.get("event").is_some() {
            &request["data"]
        } else {
            request
        };
        let chat_id = data["chat_id"].as_i64().expect("chat_id");
        let epoch = data["epoch"].as_i64().expect("epoch");
        if data["generate"] == true {
            assert!(
                !self.holds_key(chat_id, epoch),
                "{} asked to generate a second key for chat {chat_id} epoch {epoch}",
                self.who()
            );
            let mut key = [0u8; 32];
            OsRng.fill_bytes(&mut key);
            self.chat_keys.insert((chat_id, epoch), key);
        }
        let devices = data["devices"].as_array().expect("devices").clone();
        let blobs = self.blobs_for(chat_id, epoch, &devices);
        self.upload(chat_id, epoch, blobs).await
    }

    /// Waits for the next `room:key_request`, answers it, checks that every blob was stored, and
    /// returns the request's data.
    pub async fn serve_key_request(&mut self) -> Value {
        let request = self.next("room:key_request").await;
        let r = self.answer(&request).await;
        let n = request["devices"].as_array().unwrap().len();
        assert_eq!(
            r.assert_ok(),
            &json!({"epoch": request["epoch"], "stored": n, "rejected": []}),
            "answer to {request}"
        );
        request
    }

    /// Opens a `RoomKeyBlob` meant for this device and remembers its chat key.
    fn take_blob(&mut self, blob: &Value) {
        if blob.is_null() {
            return;
        }
        if blob["user_id"] != self.user_id || blob["device_id"] != self.device_id.as_str() {
            panic!("{} got a blob for another device: {blob}", self.who());
        }
        let chat_id = blob["chat_id"].as_i64().expect("chat_id");
        let epoch = blob["epoch"].as_i64().expect("epoch");
        let sealed = STANDARD
            .decode(blob["blob"].as_str().expect("blob"))
            .expect("base64 blob");
        let opened = self
            .secret
            .unseal(&sealed)
            .unwrap_or_else(|_| panic!("{} cannot open its blob {blob}", self.who()));
        let key: [u8; 32] = opened.try_into().expect("a 32-byte chat key");
        if let Some(known) = self.chat_keys.insert((chat_id, epoch), key) {
            assert_eq!(known, key, "two chat keys for chat {chat_id} epoch {epoch}");
        }
    }

    // ---- The realtime connection ----

    /// Sends one client frame.
    pub async fn send_frame(&mut self, frame: Value) {
        self.ws.send(Message::Text(frame.to_string().into())).await.unwrap();
    }

    /// Reads one frame from the socket (skipping control frames); a key in it is taken at once.
    async fn read_frame(&mut self, deadline: tokio::time::Instant) -> Option<Value> {
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next()).await.ok()?;
            match next {
                Some(Ok(Message::Text(text))) => {
                    let frame: Value = serde_json::from_str(text.as_str()).expect("a JSON frame");
                    match frame["event"].as_str() {
                        Some("room:key") => self.take_blob(&frame["data"].clone()),
                        Some("room:joined") => self.take_blob(&frame["data"]["key"].clone()),
                        _ => {}
                    }
                    return Some(frame);
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("{}: the connection ended: {other:?}", self.who()),
            }
        }
    }

    /// The next frame, whatever its name (waiting ones first).
    pub async fn next_any(&mut self) -> Value {
        self.next_frame_within(|_| true, "frame", WAIT).await
    }

    /// The data of the next frame named `event`, waiting up to `wait`; frames of other names read
    /// meanwhile stay available, in order.
    pub async fn next_within(&mut self, event: &str, wait: Duration) -> Value {
        self.next_frame_within(|f| f["event"] == event, event, wait).await["data"].clone()
    }

    /// The data of the next frame named `event` (within 5 seconds).
    pub async fn next(&mut self, event: &str) -> Value {
        self.next_within(event, WAIT).await
    }

    async fn next_frame_within(&mut self, wanted: impl Fn(&Value) -> bool, what: &str, wait: Duration) -> Value {
        if let Some(i) = self.pending.iter().position(&wanted) {
            return self.pending.remove(i).unwrap();
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match self.read_frame(deadline).await {
                Some(frame) if wanted(&frame) => return frame,
                Some(frame) => self.pending.push_back(frame),
                None => panic!(
                    "{}: no `{what}` within {:?}; frames skipped meanwhile: {:?}",
                    self.who(),
                    wait,
                    self.pending
                ),
            }
        }
    }

    /// The next `message:new` of `chat_id` with a `user` message; returns the ChatMessage.
    pub async fn next_message(&mut self, chat_id: i64) -> Value {
        let what = format!("message:new of a user message in chat {chat_id}");
        self.next_frame_within(
            |f| f["event"] == "message:new" && f["data"]["chat_id"] == chat_id && f["data"]["type"] == "user",
            &what,
            WAIT,
        )
        .await["data"]
            .clone()
    }

    /// Reads the next `texts.len()` user messages of `chat_id` and checks that they open to `texts`,
    /// in order.
    pub async fn reads(&mut self, chat_id: i64, texts: &[&str]) {
        for text in texts {
            let message = self.next_message(chat_id).await;
            assert_eq!(self.decrypt(&message), *text, "{} read {message}", self.who());
        }
    }

    /// The next frames, skipping presence events: their names must be `events`, in this order
    /// (room events of one connection are ordered, §2.7). Returns their data.
    pub async fn expect_sequence(&mut self, events: &[&str]) -> Vec<Value> {
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + WAIT;
        while got.len() < events.len() {
            let frame = match self
                .pending
                .iter()
                .position(|f| !PRESENCE_EVENTS.contains(&f["event"].as_str().unwrap_or("")))
            {
                Some(i) => self.pending.remove(i).unwrap(),
                None => match self.read_frame(deadline).await {
                    Some(f) if PRESENCE_EVENTS.contains(&f["event"].as_str().unwrap_or("")) => {
                        self.pending.push_back(f);
                        continue;
                    }
                    Some(f) => f,
                    None => panic!(
                        "{}: expected {events:?}, got only {:?} in time",
                        self.who(),
                        got.iter().map(|f: &Value| f["event"].clone()).collect::<Vec<_>>()
                    ),
                },
            };
            let i = got.len();
            assert_eq!(
                frame["event"],
                events[i],
                "{}: expected {events:?}, frame {i} was {frame}",
                self.who()
            );
            got.push(frame);
        }
        got.into_iter().map(|f| f["data"].clone()).collect()
    }

    /// Reads everything the server has sent up to now (a ping's answer marks the point) and
    /// asserts that none of the frames read by this call is named one of `events`. Frames read
    /// earlier and still waiting are not judged: a test takes what it expects before calling this.
    pub async fn no_pending(&mut self, events: &[&str]) {
        self.send_frame(json!({"event": "ping", "data": null})).await;
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut unexpected = Vec::new();
        loop {
            match self.read_frame(deadline).await {
                Some(f) if f["event"] == "pong" => break,
                Some(f) => {
                    if events.contains(&f["event"].as_str().unwrap_or("")) {
                        unexpected.push(f.clone());
                    }
                    self.pending.push_back(f);
                }
                None => panic!("{}: no pong in time", self.who()),
            }
        }
        assert!(
            unexpected.is_empty(),
            "{}: unexpected frames {unexpected:?}",
            self.who()
        );
    }

    /// Reads and forgets everything the server has sent up to now (keys in it are taken): for a
    /// test's set-up, whose events other tests check.
    pub async fn drain(&mut self) {
        self.no_pending(&[]).await;
        self.pending.clear();
    }

    /// Sends `room:join` with `data` and returns the answer frame (`room:joined` or `room:error`)
    /// for it, whole.
    pub async fn try_join(&mut self, data: Value) -> Value {
        self.send_frame(json!({"event": "room:join", "data": data})).await;
        self.next_frame_within(
            |f| f["event"] == "room:joined" || f["event"] == "room:error",
            "room:joined or room:error",
            WAIT,
        )
        .await
    }

    /// Joins the room of `chat_id`; returns the `room:joined` data (its key, if any, is taken).
    pub async fn join(&mut self, chat_id: i64) -> Value {
        let answer = self.try_join(json!({"chat_id": chat_id})).await;
        assert_eq!(
            answer["event"],
            "room:joined",
            "{} joining {chat_id}: {answer}",
            self.who()
        );
        assert_eq!(answer["data"]["chat_id"], chat_id);
        assert_eq!(answer["data"]["device_id"], self.device_id.as_str());
        answer["data"].clone()
    }

    /// Sends `room:leave` with `data` and returns the answer frame (`room:left` or `room:error`).
    pub async fn try_leave(&mut self, data: Value) -> Value {
        self.send_frame(json!({"event": "room:leave", "data": data})).await;
        self.next_frame_within(
            |f| f["event"] == "room:left" || f["event"] == "room:error",
            "room:left or room:error",
            WAIT,
        )
        .await
    }

    /// Leaves the room of `chat_id`.
    pub async fn leave(&mut self, chat_id: i64) {
        let answer = self.try_leave(json!({"chat_id": chat_id})).await;
        assert_eq!(answer, json!({"event": "room:left", "data": {"chat_id": chat_id}}));
    }

    /// Closes the connection (the tab goes away) and opens a new one for the same device: same
    /// session, same key pair, same chat keys, no room joined.
    pub async fn reconnect(&mut self) {
        let _ = self.ws.close(None).await;
        let (ws, _) = open_with_snapshot(self.addr, &self.token).await;
        self.ws = ws;
        self.pending.clear();
    }

    /// Closes the connection for good.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}
