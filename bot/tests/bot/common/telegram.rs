//! A fake of the Telegram Bot API: `/bot<token>/<method>` with methods matched case-insensitively
//! as Telegram does, parameters as JSON, form or query, answers shaped like Telegram's. The test
//! feeds `getUpdates` and reads what `sendMessage` delivered.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use tokio::sync::watch;

use super::{eventually, Switchable};

pub const TOKEN: &str = "123456:TEST-telegram-token_abcdefghijklmnopq";
pub const BOT_USERNAME: &str = "PortalLoginBot";
const BOT_ID: i64 = 123456;

/// A Telegram user who writes to the bot.
#[derive(Clone, Copy)]
pub struct TgUser {
    pub id: i64,
    pub username: &'static str,
}

pub struct FakeTelegram {
    pub server: Switchable,
    state: Arc<TgState>,
    /// How many messages to each chat the test has read.
    read: Mutex<HashMap<i64, usize>>,
}

#[derive(Default)]
struct TgState {
    updates: Mutex<Vec<Value>>,
    /// The number of updates fed, so a waiting `getUpdates` wakes up.
    fed: watch::Sender<usize>,
    sent: Mutex<Vec<Map<String, Value>>>,
    next_message_id: AtomicI64,
}

impl FakeTelegram {
    pub async fn start() -> FakeTelegram {
        let state = Arc::new(TgState::default());
        let router = Router::new()
            .route("/{bot}/{method}", any(method))
            .with_state(state.clone());
        FakeTelegram {
            server: Switchable::start(router).await,
            state,
            read: Mutex::new(HashMap::new()),
        }
    }

    /// The user sends `text` in a private chat with the bot.
    pub fn private(&self, from: TgUser, text: &str) {
        self.feed(
            from,
            json!({"id": from.id, "first_name": "Test", "username": from.username, "type": "private"}),
            text,
        );
    }

    /// The user sends `text` in the group `chat_id` (negative, as Telegram's are).
    pub fn in_group(&self, from: TgUser, chat_id: i64, text: &str) {
        self.feed(
            from,
            json!({"id": chat_id, "title": "Community", "type": "supergroup"}),
            text,
        );
    }

    fn feed(&self, from: TgUser, chat: Value, text: &str) {
        let mut updates = self.state.updates.lock().unwrap();
        let update_id = 500_000 + updates.len() as i64;
        let command_length = text
            .split_whitespace()
            .next()
            .filter(|w| w.starts_with('/'))
            .map(str::len);
        let entities: Vec<Value> = command_length
            .map(|length| json!({"offset": 0, "length": length, "type": "bot_command"}))
            .into_iter()
            .collect();
        updates.push(json!({
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "from": {"id": from.id, "is_bot": false, "first_name": "Test", "username": from.username, "language_code": "en"},
                "chat": chat,
                "date": unix_now(),
                "text": text,
                "entities": entities,
            }
        }));
        let fed = updates.len();
        drop(updates);
        self.state.fed.send_replace(fed);
    }

    /// The next message the bot sent to `chat_id` that the test has not read yet: its
    /// `sendMessage` parameters.
    pub async fn reply(&self, chat_id: i64) -> Map<String, Value> {
        let already = *self.read.lock().unwrap().get(&chat_id).unwrap_or(&0);
        let message = eventually(&format!("a message to chat {chat_id}"), || async {
            let sent = self.state.sent.lock().unwrap();
            sent.iter()
                .filter(|m| m["chat_id"].as_i64() == Some(chat_id))
                .nth(already)
                .cloned()
        })
        .await;
        self.read.lock().unwrap().insert(chat_id, already + 1);
        message
    }

    /// How many messages the bot sent, to any chat.
    pub fn sent_count(&self) -> usize {
        self.state.sent.lock().unwrap().len()
    }

    /// The text of the next message to `chat_id`.
    pub async fn reply_text(&self, chat_id: i64) -> String {
        self.reply(chat_id).await["text"].as_str().expect("a text").to_owned()
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn ok(result: Value) -> Response {
    Json(json!({"ok": true, "result": result})).into_response()
}

fn error(status: StatusCode, description: &str) -> Response {
    let body = json!({"ok": false, "error_code": status.as_u16(), "description": description});
    (status, Json(body)).into_response()
}

fn bot_user() -> Value {
    json!({"id": BOT_ID, "is_bot": true, "first_name": "Portal Login", "username": BOT_USERNAME,
           "can_join_groups": true, "can_read_all_group_messages": false, "supports_inline_queries": false,
           "can_connect_to_business": false, "has_main_web_app": false})
}

/// A request's parameters, wherever the client put them (Telegram takes all three forms).
fn parameters(headers: &HeaderMap, query: Option<&str>, body: &[u8]) -> Map<String, Value> {
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut parameters = Map::new();
    if let Some(query) = query {
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            parameters.insert(k.into_owned(), Value::String(v.into_owned()));
        }
    }
    if content_type.starts_with("application/json") {
        if let Ok(Value::Object(json)) = serde_json::from_slice(body) {
            parameters.extend(json);
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        for (k, v) in url::form_urlencoded::parse(body) {
            parameters.insert(k.into_owned(), Value::String(v.into_owned()));
        }
    }
    parameters
}

/// A parameter as an integer, whether it came as a JSON number or as text.
fn integer(parameters: &Map<String, Value>, name: &str) -> Option<i64> {
    match parameters.get(name)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

async fn method(
    State(state): State<Arc<TgState>>,
    Path((bot, method)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if bot.strip_prefix("bot") != Some(TOKEN) {
        return error(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let parameters = parameters(&headers, query.as_deref(), &body);
    match method.to_ascii_lowercase().as_str() {
        "getme" => ok(bot_user()),
        "getupdates" => ok(Value::Array(updates(&state, &parameters).await)),
        "sendmessage" => {
            let Some(chat_id) = integer(&parameters, "chat_id") else {
                return error(StatusCode::BAD_REQUEST, "Bad Request: chat_id is empty");
            };
            let Some(text) = parameters.get("text").and_then(Value::as_str).filter(|t| !t.is_empty()) else {
                return error(StatusCode::BAD_REQUEST, "Bad Request: message text is empty");
            };
            let chat = if chat_id > 0 {
                json!({"id": chat_id, "first_name": "Test", "type": "private"})
            } else {
                json!({"id": chat_id, "title": "Community", "type": "supergroup"})
            };
            let message = json!({
                "message_id": state.next_message_id.fetch_add(1, Ordering::Relaxed) + 1,
                "from": bot_user(),
                "chat": chat,
                "date": unix_now(),
                "text": text,
                "has_protected_content": parameters.get("protect_content") == Some(&Value::Bool(true)),
            });
            let mut recorded = parameters.clone();
            recorded.insert("chat_id".into(), json!(chat_id));
            state.sent.lock().unwrap().push(recorded);
            ok(message)
        }
        _ => error(StatusCode::NOT_FOUND, "Not Found: method not found"),
    }
}

/// `getUpdates`: the updates from `offset` on, waiting up to `timeout` seconds for one.
async fn updates(state: &TgState, parameters: &Map<String, Value>) -> Vec<Value> {
    let offset = integer(parameters, "offset").unwrap_or(0);
    let timeout = Duration::from_secs(integer(parameters, "timeout").unwrap_or(0).clamp(0, 50) as u64);
    let deadline = tokio::time::Instant::now() + timeout;
    let mut fed = state.fed.subscribe();
    loop {
        let pending: Vec<Value> = state
            .updates
            .lock()
            .unwrap()
            .iter()
            .filter(|u| u["update_id"].as_i64().unwrap_or(0) >= offset)
            .cloned()
            .collect();
        if !pending.is_empty() {
            return pending;
        }
        match tokio::time::timeout_at(deadline, fed.changed()).await {
            Ok(Ok(())) => continue,
            _ => return pending,
        }
    }
}
