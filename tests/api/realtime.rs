//! The realtime connection `GET /v1/portal/ws` (80-notifications-portal §3) through a real
//! WebSocket client: presence, the events it carries, its frame rules and its close codes.

use std::net::SocketAddr;
use std::time::Duration;

use crate::common::process::ServerProcess;
use crate::common::ws::{
    closed_with, event, nothing_pending, open, open_with_snapshot, presence_ids, send, try_open, WAIT,
};
use crate::common::{keys, rfc3339, Kind, People, TestApp, NOTIFICATION_FIELDS, SECOND};
use futures_util::{SinkExt, StreamExt};
use portal::config::Config;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

fn short_grace(config: &mut Config) {
    config.presence.leave_grace_s = 1;
}

async fn post(t: &TestApp, token: &str, path: &str, body: Value) {
    t.post_as(token, path, body).await.assert_ok();
}

both_backends!(
    presence_follows_the_connections_of_each_user,
    short_grace,
    |t: TestApp| async move {
        let people = People::new(&t).await;
        let (alice_id, alice) = people.at("alice", 0).await;
        let (bob_id, bob) = people.at("bob", 2).await;
        let addr = t.listen().await;

        let (mut a, snapshot) = open_with_snapshot(addr, &alice).await;
        assert_eq!(snapshot["online"], 1);
        assert_eq!(snapshot["muted"], false);
        assert_eq!(snapshot["muted_until"], Value::Null);
        assert_eq!(presence_ids(&snapshot["users"]), [alice_id]);
        assert_eq!(
            keys(&snapshot["users"][0]["user"]),
            ["avatar_url", "id", "permission_level", "username"]
        );
        let alice_presence = snapshot["users"][0]["session_id"].as_str().unwrap().to_owned();
        assert_eq!(alice_presence.len(), 12);
        assert!(alice_presence.chars().all(|c| c.is_ascii_alphanumeric()));

        // Bob comes online: Alice hears of it, Bob's own snapshot already holds him.
        let (mut b1, snapshot) = open_with_snapshot(addr, &bob).await;
        let joined = event(&mut a).await;
        assert_eq!(joined["event"], "user:joined");
        assert_eq!(joined["data"]["user"]["id"], bob_id);
        assert_eq!(joined["data"]["user"]["permission_level"], 2);
        assert_eq!(joined["data"]["online"], 2);
        let bob_presence = joined["data"]["session_id"].clone();
        assert_ne!(bob_presence, json!(alice_presence));
        assert_eq!(presence_ids(&snapshot["users"]), [alice_id, bob_id]);
        assert_eq!(snapshot["users"][1]["session_id"], bob_presence);
        nothing_pending(&mut b1).await;

        let status = t.get("/v1/portal/status").cookie(&alice).send().await;
        assert_eq!(status.assert_ok()["online"], 2);
        assert_eq!(presence_ids(&status.body["users"]), [alice_id, bob_id]);
        assert_eq!(status.body["users"][1]["session_id"], bob_presence);

        // A second tab of Bob's changes nothing for anyone else.
        let (mut b2, snapshot) = open_with_snapshot(addr, &bob).await;
        assert_eq!(snapshot["online"], 2);
        nothing_pending(&mut a).await;

        // A reload: both tabs close and one opens again within the grace; no leave/join pair, and
        // the presence id is kept.
        b1.close(None).await.unwrap();
        b2.close(None).await.unwrap();
        let (mut b3, snapshot) = open_with_snapshot(addr, &bob).await;
        assert_eq!(snapshot["users"][1]["session_id"], bob_presence);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        nothing_pending(&mut a).await;

        // Gone for good: after the grace, everyone left hears of it.
        b3.close(None).await.unwrap();
        let left = event(&mut a).await;
        assert_eq!(left["event"], "user:left");
        assert_eq!(left["data"]["user"]["id"], bob_id);
        assert_eq!(left["data"]["session_id"], bob_presence);
        assert_eq!(left["data"]["online"], 1);
        let status = t.get("/v1/portal/status").cookie(&bob).send().await;
        assert_eq!(presence_ids(&status.assert_ok()["users"]), [alice_id]);
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_json_answers_before_any_upgrade() {
    let t = TestApp::new(Kind::Sqlite, |config| {
        config.presence.max_connections_per_user = 2;
        config.cors.allowed_origins = vec!["https://portal.example".into()];
    })
    .await
    .unwrap();
    let people = People::new(&t).await;
    let (_, alice) = people.at("alice", 0).await;
    let addr = t.listen().await;

    let (status, body) = try_open(addr, None, &[]).await.err().unwrap();
    assert_eq!((status, body["code"].as_str()), (401, Some("ERR_AUTH_REQUIRED")));
    assert!(body["correlation_id"].is_string());
    let (status, body) = try_open(addr, Some(&alice), &[("origin", "https://elsewhere.example")])
        .await
        .err()
        .unwrap();
    assert_eq!((status, body["code"].as_str()), (403, Some("ERR_FORBIDDEN")));
    t.get("/v1/portal/ws")
        .cookie(&alice)
        .send()
        .await
        .assert_error(426, "ERR_UPGRADE_REQUIRED");

    let mut first = try_open(addr, Some(&alice), &[("origin", "https://portal.example")])
        .await
        .unwrap();
    let _second = open(addr, &alice).await;
    let (status, body) = try_open(addr, Some(&alice), &[]).await.err().unwrap();
    assert_eq!((status, body["code"].as_str()), (429, Some("ERR_TOO_MANY_CONNECTIONS")));
    assert_eq!(body["error"], "Too many realtime connections");

    // A closed connection frees its place.
    first.close(None).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match try_open(addr, Some(&alice), &[]).await {
            Ok(_) => break,
            Err((429, _)) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(refusal) => panic!("still refused: {refusal:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_frames_follow_the_rules() {
    let t = TestApp::new(Kind::Sqlite, |_| {}).await.unwrap();
    let people = People::new(&t).await;
    let (_, alice) = people.at("alice", 0).await;
    let addr = t.listen().await;

    let (mut ws, _) = open_with_snapshot(addr, &alice).await;
    send(&mut ws, r#"{"event": "ping", "data": null}"#).await;
    let pong = event(&mut ws).await;
    assert_eq!(pong, json!({"event": "pong", "data": {"at": rfc3339(t.app.now())}}));
    // What is not a JSON object with a string `event`, and events other than `ping`, are ignored.
    for ignored in [
        "not json",
        r#"["ping"]"#,
        r#"{"event": 5}"#,
        r#"{"event": "hello", "data": {}}"#,
    ] {
        send(&mut ws, ignored).await;
    }
    nothing_pending(&mut ws).await;

    let (mut ws, _) = open_with_snapshot(addr, &alice).await;
    ws.send(Message::Binary(vec![1, 2, 3].into())).await.unwrap();
    assert_eq!(closed_with(&mut ws).await, 1003);

    let (mut ws, _) = open_with_snapshot(addr, &alice).await;
    send(&mut ws, &format!(r#"{{"event": "{}"}}"#, "x".repeat(4100))).await;
    assert_eq!(closed_with(&mut ws).await, 1009);

    let (mut ws, _) = open_with_snapshot(addr, &alice).await;
    for _ in 0..21 {
        send(&mut ws, r#"{"event": "noise"}"#).await;
    }
    assert_eq!(closed_with(&mut ws).await, 1008);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_pings_and_drops_a_silent_client() {
    let t = TestApp::new(Kind::Sqlite, |config| {
        config.presence.ping_interval_s = 1;
        config.presence.idle_timeout_s = 2;
    })
    .await
    .unwrap();
    let people = People::new(&t).await;
    let (_, alice) = people.at("alice", 0).await;
    let addr = t.listen().await;
    let (mut ws, _) = open_with_snapshot(addr, &alice).await;

    // A client that reads answers the pings (the client library does it), and so stays.
    let mut pings = 0;
    let listening = tokio::time::timeout(Duration::from_secs(3), async {
        while let Some(Ok(message)) = ws.next().await {
            match message {
                Message::Ping(_) => pings += 1,
                other => panic!("unexpected frame: {other:?}"),
            }
        }
    })
    .await;
    assert!(
        listening.is_err(),
        "the connection ended while the client answered pings"
    );
    assert!(pings >= 2, "{pings} pings in 3 s");

    // One that never answers is closed with 4000.
    assert_eq!(silent_client_close_code(addr, &alice).await, 4000);
}

/// Opens a connection by hand and then never writes, so no ping is answered (a client library
/// answers them whenever it reads); returns the code of the server's close frame.
async fn silent_client_close_code(addr: SocketAddr, token: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /v1/portal/ws HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nCookie: psession={token}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut bytes = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut bytes))
        .await
        .expect("the server ends the connection")
        .unwrap();
    assert!(bytes.starts_with(b"HTTP/1.1 101"));
    let mut at = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    // Server frames are unmasked: opcode, length (7 bits, or 16 after 126), payload.
    loop {
        let opcode = bytes[at] & 0x0f;
        let mut len = (bytes[at + 1] & 0x7f) as usize;
        at += 2;
        if len == 126 {
            len = u16::from_be_bytes([bytes[at], bytes[at + 1]]) as usize;
            at += 2;
        }
        if opcode == 0x8 {
            return u16::from_be_bytes([bytes[at], bytes[at + 1]]);
        }
        at += len;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_expires_while_connected_is_closed_at_its_expiry() {
    let t = TestApp::new(Kind::Sqlite, |config| config.session.ttl_user_s = 2)
        .await
        .unwrap();
    let people = People::new(&t).await;
    let (_, alice) = people.at("alice", 0).await;
    let (mut ws, _) = open_with_snapshot(t.listen().await, &alice).await;
    let opened = std::time::Instant::now();
    assert_eq!(closed_with(&mut ws).await, 4001);
    assert!(
        opened.elapsed() >= Duration::from_millis(1500),
        "closed after {:?}",
        opened.elapsed()
    );
}

both_backends!(an_ended_session_closes_its_connections, |t: TestApp| async move {
    let people = People::new(&t).await;
    let (_, alice) = people.at("alice", 0).await;
    let (bob_id, bob) = people.at("bob", 0).await;
    let (_, admin) = people.at("admin", 2).await;
    let addr = t.listen().await;

    let (mut a, _) = open_with_snapshot(addr, &alice).await;
    post(&t, &alice, "/v1/authentication/logout", json!({})).await;
    assert_eq!(closed_with(&mut a).await, 4001);

    let (mut b, _) = open_with_snapshot(addr, &bob).await;
    post(
        &t,
        &admin,
        &format!("/v1/admin/users/{bob_id}/ban"),
        json!({"reason": "spam"}),
    )
    .await;
    assert_eq!(closed_with(&mut b).await, 4001);
    let (status, body) = try_open(addr, Some(&bob), &[]).await.err().unwrap();
    assert_eq!((status, body["code"].as_str()), (401, Some("ERR_AUTH_REQUIRED")));
});

both_backends!(
    a_timeout_closes_connections_once_and_allows_reconnecting,
    |t: TestApp| async move {
        let people = People::new(&t).await;
        let (_, carol) = people.at("carol", 0).await;
        let (bob_id, bob) = people.at("bob", 0).await;
        let (_, admin) = people.at("admin", 2).await;
        let addr = t.listen().await;

        let (mut c, _) = open_with_snapshot(addr, &carol).await;
        let (mut b, snapshot) = open_with_snapshot(addr, &bob).await;
        let bob_presence = snapshot["users"][1]["session_id"].clone();
        assert_eq!(event(&mut c).await["event"], "user:joined");

        t.clock.advance_secs(1);
        post(
            &t,
            &admin,
            &format!("/v1/admin/users/{bob_id}/timeout"),
            json!({"duration": 600, "reason": "cool down"}),
        )
        .await;
        assert_eq!(closed_with(&mut b).await, 4003);

        // Straight back, within the grace: same presence, no leave/join pair.
        let (mut b, snapshot) = open_with_snapshot(addr, &bob).await;
        assert_eq!(snapshot["users"][1]["session_id"], bob_presence);
        nothing_pending(&mut c).await;

        // The timeout closed the connections open when it began, not the ones opened since.
        post(
            &t,
            &admin,
            "/v1/admin/notifications",
            json!({"title": "t", "body": "b"}),
        )
        .await;
        assert_eq!(event(&mut b).await["event"], "notification:new");
        assert_eq!(event(&mut c).await["event"], "notification:new");
        nothing_pending(&mut b).await;
    }
);

both_backends!(mutes_and_notifications_are_announced, |t: TestApp| async move {
    let people = People::new(&t).await;
    let (alice_id, alice) = people.at("alice", 0).await;
    let (_, bob) = people.at("bob", 0).await;
    let (admin_id, admin) = people.at("admin", 2).await;
    let addr = t.listen().await;
    let (mut a, _) = open_with_snapshot(addr, &alice).await;
    let (mut b, _) = open_with_snapshot(addr, &bob).await;
    assert_eq!(event(&mut a).await["event"], "user:joined");

    post(
        &t,
        &admin,
        "/v1/portal/hard-mute",
        json!({"user_id": alice_id, "duration": 600}),
    )
    .await;
    let until = rfc3339(t.app.now() + 600 * SECOND);
    for ws in [&mut a, &mut b] {
        assert_eq!(
            event(ws).await,
            json!({"event": "user:hard_muted", "data": {"user_id": alice_id, "expires_at": until}})
        );
    }
    // A shorter mute on top does not shorten the one in force.
    post(
        &t,
        &admin,
        "/v1/portal/hard-mute",
        json!({"user_id": alice_id, "duration": 60}),
    )
    .await;
    for ws in [&mut a, &mut b] {
        assert_eq!(event(ws).await["data"]["expires_at"], until);
    }
    post(&t, &admin, "/v1/portal/hard-unmute", json!({"user_id": alice_id})).await;
    for ws in [&mut a, &mut b] {
        assert_eq!(
            event(ws).await,
            json!({"event": "user:hard_unmuted", "data": {"user_id": alice_id}})
        );
    }
    // Unmuting someone who is not muted changes nothing and announces nothing.
    post(&t, &admin, "/v1/portal/hard-unmute", json!({"user_id": alice_id})).await;
    nothing_pending(&mut b).await;

    post(
        &t,
        &admin,
        "/v1/admin/notifications",
        json!({"user_id": alice_id, "title": "Hello", "body": "Just you", "type": "success"}),
    )
    .await;
    let new = event(&mut a).await;
    assert_eq!(new["event"], "notification:new");
    assert_eq!(keys(&new["data"]), NOTIFICATION_FIELDS);
    assert_eq!(new["data"]["title"], "Hello");
    assert_eq!(new["data"]["type"], "success");
    assert_eq!(new["data"]["created_by"], admin_id);
    assert_eq!(new["data"]["read_at"], Value::Null);
    assert_eq!(new["data"]["is_broadcast"], false);
    nothing_pending(&mut b).await;

    post(
        &t,
        &admin,
        "/v1/admin/notifications",
        json!({"title": "Everyone", "body": "All of you"}),
    )
    .await;
    for ws in [&mut a, &mut b] {
        let new = event(ws).await;
        assert_eq!(new["data"]["title"], "Everyone");
        assert_eq!(new["data"]["is_broadcast"], true);
    }
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_server_closes_connections_with_1001() {
    let t = TestApp::new(Kind::Sqlite, |_| {}).await.unwrap();
    let people = People::new(&t).await;
    let (_, alice) = people.at("alice", 0).await;
    let server = ServerProcess::start(&t.app.config.effective_database_url(), &[]).await;
    let (mut ws, _) = open_with_snapshot(server.addr, &alice).await;
    server.terminate();
    assert_eq!(closed_with(&mut ws).await, 1001);
}
