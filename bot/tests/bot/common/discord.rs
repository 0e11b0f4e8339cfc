//! A fake of Discord: the REST API under `/api/v10` (commands, interaction callbacks and edits,
//! direct-message channels and messages) and a gateway on its own port (HELLO, IDENTIFY, READY,
//! heartbeats and their ACKs, RESUME refused, INTERACTION_CREATE dispatched by the test).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post, put};
use axum::{Json, Router};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, Notify};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use super::{eventually, Switchable};

pub const TOKEN: &str = "MTIzNDU2Nzg5MDEyMzQ1Njc4.fake.discord-token";
const APPLICATION_ID: &str = "1100000000000000001";
const BOT_USER_ID: &str = "1100000000000000001";
pub const GUILD_ID: &str = "1200000000000000001";
/// Short, so the tests see the bot's heartbeats and their ACKs.
const HEARTBEAT_INTERVAL_MS: u64 = 1000;

/// A Discord user who runs `/login`.
#[derive(Clone, Copy)]
pub struct DiscordUser {
    pub id: u64,
    pub username: &'static str,
    pub avatar: Option<&'static str>,
}

/// What the bot did on Discord, in order.
#[derive(Debug, Clone)]
pub enum Call {
    Commands(Value),
    /// An interaction callback: (interaction token, body, when).
    Callback(String, Value, Instant),
    /// An edit of an interaction's original answer: (interaction token, content).
    Edit(String, String),
    /// A direct message: (user id, content).
    DirectMessage(u64, String),
}

#[derive(Default)]
struct DiscordState {
    calls: Mutex<Vec<Call>>,
    closed_direct_messages: Mutex<HashSet<u64>>,
    identified: AtomicU64,
    heartbeats: AtomicU64,
}

pub struct FakeDiscord {
    pub rest: Switchable,
    pub gateway_url: String,
    state: Arc<DiscordState>,
    dispatch: broadcast::Sender<Value>,
    cut: Arc<Notify>,
    next_interaction: AtomicU64,
}

impl FakeDiscord {
    pub async fn start() -> FakeDiscord {
        let state = Arc::new(DiscordState::default());
        let router = Router::new()
            .route("/api/v10/applications/{application}/commands", put(set_commands))
            .route("/api/v10/interactions/{id}/{token}/callback", post(callback))
            .route(
                "/api/v10/webhooks/{application}/{token}/messages/@original",
                patch(edit_original),
            )
            .route("/api/v10/users/@me/channels", post(open_direct_messages))
            .route("/api/v10/channels/{channel}/messages", post(create_message))
            .with_state(state.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let gateway_url = format!("ws://{}", listener.local_addr().unwrap());
        let (dispatch, _) = broadcast::channel(64);
        let cut = Arc::new(Notify::new());
        tokio::spawn(gateway(
            listener,
            gateway_url.clone(),
            state.clone(),
            dispatch.clone(),
            cut.clone(),
        ));
        FakeDiscord {
            rest: Switchable::start(router).await,
            gateway_url,
            state,
            dispatch,
            cut,
            next_interaction: AtomicU64::new(1),
        }
    }

    /// `host:port` of the REST API, as the bot's `discord.rest_proxy`.
    pub fn rest_proxy(&self) -> String {
        self.rest.addr.to_string()
    }

    /// Waits until the bot has identified `times` times in all.
    pub async fn identified(&self, times: u64) {
        eventually(&format!("identify number {times}"), || async {
            (self.state.identified.load(Ordering::SeqCst) >= times).then_some(())
        })
        .await;
    }

    pub async fn heartbeats(&self, at_least: u64) {
        eventually(&format!("{at_least} heartbeats"), || async {
            (self.state.heartbeats.load(Ordering::SeqCst) >= at_least).then_some(())
        })
        .await;
    }

    /// Closes every gateway connection, as a network failure would.
    pub fn cut_gateway(&self) {
        self.cut.notify_waiters();
    }

    pub fn close_direct_messages(&self, user: DiscordUser) {
        self.state.closed_direct_messages.lock().unwrap().insert(user.id);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.calls.lock().unwrap().clone()
    }

    /// The user runs `/login`, in the community's server or (`guild: false`) in a direct message
    /// with the bot; returns the interaction's token and when it was dispatched.
    pub fn login(&self, user: DiscordUser, guild: bool) -> (String, Instant) {
        let n = self.next_interaction.fetch_add(1, Ordering::Relaxed);
        let token = format!("interaction-token-{n}");
        let user_json = json!({
            "id": user.id.to_string(), "username": user.username, "discriminator": "0",
            "global_name": user.username.to_uppercase(), "avatar": user.avatar, "public_flags": 0,
        });
        let mut interaction = json!({
            "id": (1_300_000_000_000_000_000u64 + n).to_string(),
            "application_id": APPLICATION_ID,
            "type": 2,
            "data": {"id": "1400000000000000001", "name": "login", "type": 1},
            "token": token,
            "version": 1,
            "app_permissions": "0",
            "locale": "en-US",
            "entitlements": [],
        });
        let fields = interaction.as_object_mut().unwrap();
        if guild {
            fields.insert("guild_id".into(), json!(GUILD_ID));
            fields.insert("channel_id".into(), json!("1500000000000000001"));
            fields.insert("guild_locale".into(), json!("en-US"));
            fields.insert("context".into(), json!(0));
            fields.insert("authorizing_integration_owners".into(), json!({"0": GUILD_ID}));
            fields.insert(
                "member".into(),
                json!({"user": user_json, "roles": [], "joined_at": "2026-01-01T00:00:00.000000+00:00",
                       "deaf": false, "mute": false, "flags": 0, "nick": null, "avatar": null,
                       "communication_disabled_until": null, "premium_since": null, "permissions": "0"}),
            );
        } else {
            fields.insert("channel_id".into(), json!("1600000000000000001"));
            fields.insert("context".into(), json!(1));
            fields.insert("authorizing_integration_owners".into(), json!({"0": "0"}));
            fields.insert("user".into(), user_json);
        }
        self.dispatch
            .send(interaction)
            .expect("a gateway connection that has identified");
        (token, Instant::now())
    }

    /// The content the bot finally put in the answer to the interaction `token`.
    pub async fn answer(&self, token: &str) -> String {
        eventually(&format!("the answer to {token}"), || async {
            self.calls().into_iter().find_map(|call| match call {
                Call::Edit(t, content) if t == token => Some(content),
                _ => None,
            })
        })
        .await
    }

    /// The direct messages the bot sent `user`.
    pub fn direct_messages(&self, user: DiscordUser) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter_map(|call| match call {
                Call::DirectMessage(to, content) if to == user.id => Some(content),
                _ => None,
            })
            .collect()
    }
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bot {TOKEN}"))
}

fn discord_error(status: StatusCode, code: u64, message: &str) -> Response {
    (status, Json(json!({"message": message, "code": code}))).into_response()
}

fn unauthorized() -> Response {
    discord_error(StatusCode::UNAUTHORIZED, 0, "401: Unauthorized")
}

fn message(channel_id: &str, content: &str) -> Value {
    json!({
        "id": "1700000000000000001", "channel_id": channel_id, "type": 0, "content": content,
        "author": {"id": BOT_USER_ID, "username": "Portal Login", "discriminator": "0", "avatar": null, "bot": true},
        "timestamp": "2026-01-01T00:00:00.000000+00:00", "edited_timestamp": null, "tts": false,
        "mention_everyone": false, "mentions": [], "mention_roles": [], "attachments": [], "embeds": [],
        "pinned": false, "flags": 0, "components": [],
    })
}

async fn set_commands(
    State(state): State<Arc<DiscordState>>,
    headers: HeaderMap,
    Json(commands): Json<Value>,
) -> Response {
    if !authorized(&headers) {
        return unauthorized();
    }
    let Some(list) = commands.as_array() else {
        return discord_error(StatusCode::BAD_REQUEST, 50035, "Invalid Form Body");
    };
    let registered: Vec<Value> = list
        .iter()
        .enumerate()
        .map(|(i, command)| {
            let mut command = command.clone();
            command["id"] = json!((1_400_000_000_000_000_001u64 + i as u64).to_string());
            command["application_id"] = json!(APPLICATION_ID);
            command["version"] = json!("1400000000000000001");
            command
        })
        .collect();
    state.calls.lock().unwrap().push(Call::Commands(commands));
    Json(registered).into_response()
}

async fn callback(
    State(state): State<Arc<DiscordState>>,
    Path((_id, token)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response {
    state
        .calls
        .lock()
        .unwrap()
        .push(Call::Callback(token, body, Instant::now()));
    StatusCode::NO_CONTENT.into_response()
}

async fn edit_original(
    State(state): State<Arc<DiscordState>>,
    Path((application, token)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response {
    if application != APPLICATION_ID {
        return discord_error(StatusCode::NOT_FOUND, 10015, "Unknown Webhook");
    }
    let content = body["content"].as_str().unwrap_or("").to_owned();
    state.calls.lock().unwrap().push(Call::Edit(token, content.clone()));
    Json(message("1500000000000000001", &content)).into_response()
}

async fn open_direct_messages(headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if !authorized(&headers) {
        return unauthorized();
    }
    let Some(recipient) = body["recipient_id"].as_str().and_then(|id| id.parse::<u64>().ok()) else {
        return discord_error(StatusCode::BAD_REQUEST, 50035, "Invalid Form Body");
    };
    // The channel of a user's direct messages has an id of its own; here the user's id plus one.
    Json(json!({
        "id": (recipient + 1).to_string(), "type": 1, "last_message_id": null, "flags": 0,
        "recipients": [{"id": recipient.to_string(), "username": "someone", "discriminator": "0", "avatar": null}],
    }))
    .into_response()
}

async fn create_message(
    State(state): State<Arc<DiscordState>>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !authorized(&headers) {
        return unauthorized();
    }
    let Some(user) = channel.parse::<u64>().ok().map(|id| id - 1) else {
        return discord_error(StatusCode::NOT_FOUND, 10003, "Unknown Channel");
    };
    if state.closed_direct_messages.lock().unwrap().contains(&user) {
        return discord_error(StatusCode::FORBIDDEN, 50007, "Cannot send messages to this user");
    }
    let content = body["content"].as_str().unwrap_or("").to_owned();
    state
        .calls
        .lock()
        .unwrap()
        .push(Call::DirectMessage(user, content.clone()));
    Json(message(&channel, &content)).into_response()
}

async fn gateway(
    listener: TcpListener,
    url: String,
    state: Arc<DiscordState>,
    dispatch: broadcast::Sender<Value>,
    cut: Arc<Notify>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (url, state, dispatch, cut) = (url.clone(), state.clone(), dispatch.subscribe(), cut.clone());
        tokio::spawn(async move {
            if let Ok(socket) = tokio_tungstenite::accept_async(stream).await {
                session(socket, url, state, dispatch, cut).await;
            }
        });
    }
}

/// One gateway connection: HELLO, then IDENTIFY answered by READY, heartbeats by ACKs, a RESUME
/// by an invalid session (the bot identifies again), and the test's dispatches once identified.
async fn session(
    socket: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    url: String,
    state: Arc<DiscordState>,
    mut dispatch: broadcast::Receiver<Value>,
    cut: Arc<Notify>,
) {
    let (mut tx, mut rx) = socket.split();
    let send = |value: Value| Message::text(value.to_string());
    let hello = json!({"op": 10, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}, "s": null, "t": null});
    if tx.send(send(hello)).await.is_err() {
        return;
    }
    let mut sequence = 0u64;
    let mut identified = false;
    loop {
        tokio::select! {
            _ = cut.notified() => {
                // A dropped connection, not a close Discord would send: no close frame.
                return;
            }
            event = dispatch.recv(), if identified => {
                let Ok(event) = event else { continue };
                sequence += 1;
                let frame = json!({"op": 0, "t": "INTERACTION_CREATE", "s": sequence, "d": event});
                if tx.send(send(frame)).await.is_err() {
                    return;
                }
            }
            incoming = rx.next() => {
                let Some(Ok(Message::Text(text))) = incoming else {
                    match incoming {
                        Some(Ok(_)) => continue,
                        _ => return,
                    }
                };
                let Ok(payload) = serde_json::from_str::<Value>(&text) else { return };
                let reply = match payload["op"].as_u64() {
                    Some(1) => {
                        state.heartbeats.fetch_add(1, Ordering::SeqCst);
                        json!({"op": 11, "d": null, "s": null, "t": null})
                    }
                    // Discord takes the token with or without the "Bot " of the REST API.
                    Some(2) if payload["d"]["token"].as_str().map(|t| t.strip_prefix("Bot ").unwrap_or(t)) == Some(TOKEN) => {
                        identified = true;
                        sequence += 1;
                        state.identified.fetch_add(1, Ordering::SeqCst);
                        json!({"op": 0, "t": "READY", "s": sequence, "d": {
                            "v": 10,
                            "user": {"id": BOT_USER_ID, "username": "Portal Login", "discriminator": "0",
                                     "avatar": null, "bot": true, "mfa_enabled": false, "verified": true, "flags": 0},
                            "guilds": [{"id": GUILD_ID, "unavailable": true}],
                            "session_id": format!("session-{sequence}"),
                            "resume_gateway_url": url,
                            "shard": [0, 1],
                            "application": {"id": APPLICATION_ID, "flags": 0},
                        }})
                    }
                    Some(2) => {
                        let close = CloseFrame { code: CloseCode::Library(4004), reason: "Authentication failed.".into() };
                        let _ = tx.send(Message::Close(Some(close))).await;
                        return;
                    }
                    Some(6) => json!({"op": 9, "d": false, "s": null, "t": null}),
                    _ => continue,
                };
                if tx.send(send(reply)).await.is_err() {
                    return;
                }
            }
        }
    }
}
