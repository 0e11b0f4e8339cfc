//! Security properties seen from outside: cookie attributes, CORS, security headers, hostile input,
//! and, against the real binary, secrets kept out of logs and off the disk, request-head limits and
//! slow clients.

use std::time::{Duration, Instant};

use crate::common::process::{cli, official_bot_create_args, user_create_args, ServerProcess};
use crate::common::wire::{self, closed_within};
use crate::common::{temp_sqlite, Kind, TestApp};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

both_backends!(cors_is_off_by_default, |t: TestApp| async move {
    let r = t.get("/health").header("origin", "https://portal.example").send().await;
    assert!(r.header("access-control-allow-origin").is_none());
    let preflight = t
        .req(axum::http::Method::OPTIONS, "/v1/users/me")
        .header("origin", "https://portal.example")
        .header("access-control-request-method", "GET")
        .send()
        .await;
    assert_eq!(preflight.status.as_u16(), 204);
    assert!(preflight.header("access-control-allow-origin").is_none());
});

#[tokio::test]
async fn cors_allow_list_with_credentials() {
    let t = TestApp::new(Kind::Sqlite, |c| {
        c.cors.allowed_origins = vec!["https://portal.example".into()];
        c.rate_limit.auth = 3;
    })
    .await
    .unwrap();
    let r = t
        .get("/v1/users/me")
        .header("origin", "https://portal.example")
        .send()
        .await;
    r.assert_error(401, "ERR_AUTH_REQUIRED");
    assert_eq!(r.header("access-control-allow-origin"), Some("https://portal.example"));
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert!(r
        .header("access-control-expose-headers")
        .unwrap()
        .contains("X-Correlation-ID"));
    // Preflights need no credential and are not rate-limited, however many arrive.
    for _ in 0..3 {
        let p = t
            .req(axum::http::Method::OPTIONS, "/v1/users/me")
            .header("origin", "https://portal.example")
            .header("access-control-request-method", "POST")
            .send()
            .await;
        assert_eq!(p.status.as_u16(), 204);
        assert_eq!(p.header("access-control-allow-methods"), Some("GET, POST"));
        assert_eq!(p.header("access-control-max-age"), Some("600"));
        assert!(p.header("ratelimit-limit").is_none());
    }
    let other = t.get("/health").header("origin", "https://evil.example").send().await;
    assert!(other.header("access-control-allow-origin").is_none());
    // With an allow-list, a cookie POST from another origin fails the origin check.
    let bot = t.login_bot().await;
    let token = t.login(&bot, "1").await;
    t.post("/v1/users/me/update")
        .cookie(&token)
        .header("origin", "https://evil.example")
        .json(json!({}))
        .send()
        .await
        .assert_error(403, "ERR_FORBIDDEN");
    t.post("/v1/users/me/update")
        .cookie(&token)
        .header("origin", "null")
        .json(json!({}))
        .send()
        .await
        .assert_error(403, "ERR_FORBIDDEN");
}

both_backends!(security_headers_on_every_answer, |t: TestApp| async move {
    for r in [
        t.get("/health").send().await,
        t.get("/nope").send().await,
        t.get("/v1/users/me").send().await,
    ] {
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    }
});

#[tokio::test]
async fn cookie_attributes_follow_the_config() {
    let t = TestApp::new(Kind::Sqlite, |c| {
        c.bind = "0.0.0.0:8080".into();
        c.cookie.same_site = "Strict".into();
        c.cookie.domain = Some(".example.org".into());
    })
    .await
    .unwrap();
    let bot = t.login_bot().await;
    t.user("42", 0).await;
    t.post("/v1/authentication/request")
        .json(json!({"platform": "discord", "platform_user_id": "42"}))
        .send()
        .await;
    let code = t
        .post("/v1/authentication/bot/login-code")
        .key(&bot)
        .json(json!({"platform": "discord", "platform_user_id": "42", "platform_username": "n"}))
        .send()
        .await
        .body["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let v = t.verify(&code).await;
    let cookie = v.header("set-cookie").unwrap().to_owned();
    for attr in [
        "HttpOnly",
        "Path=/",
        "SameSite=Strict",
        "Secure",
        "Domain=.example.org",
        "Max-Age=2592000",
    ] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    let token = v.session_cookie().unwrap();
    let out = t.post("/v1/authentication/logout").cookie(&token).send().await;
    let cleared = out.header("set-cookie").unwrap();
    for attr in [
        "psession=;",
        "Max-Age=0",
        "HttpOnly",
        "SameSite=Strict",
        "Secure",
        "Domain=.example.org",
    ] {
        assert!(cleared.contains(attr), "{cleared}");
    }
}

both_backends!(sql_metacharacters_and_unicode_are_just_text, |t: TestApp| async move {
    let bot = t.login_bot().await;
    t.user("99", 0).await;
    let token = t.login(&bot, "99").await;
    for hostile in [
        "'; DROP TABLE users; --",
        "\" OR 1=1 --",
        "ünïcødé-名前",
        "%_\\",
        "\u{0000}",
        "🦀🦀🦀",
    ] {
        let r = t
            .post("/v1/authentication/lookup")
            .json(json!({"username": hostile}))
            .send()
            .await;
        assert!(
            r.status.as_u16() == 400 || r.status.as_u16() == 404,
            "{hostile}: {}",
            r.body
        );
        let r = t
            .get(&format!("/v1/users/search?q={}", urlencode(hostile)))
            .cookie(&token)
            .send()
            .await;
        assert!(
            r.status.as_u16() == 200 || r.body["code"] == "ERR_VALIDATION",
            "{hostile}: {}",
            r.body
        );
        let r = t
            .get(&format!("/v1/users/profile/{}", urlencode(hostile)))
            .cookie(&token)
            .send()
            .await;
        assert_eq!(r.status.as_u16(), 404, "{hostile}: {}", r.body);
        let r = t
            .post("/v1/users/me/update")
            .cookie(&token)
            .json(json!({"username": hostile}))
            .send()
            .await;
        assert!(
            r.assert_ok()["errors"]["username"]
                .as_str()
                .unwrap()
                .starts_with("username "),
            "{hostile}"
        );
        let r = t
            .post("/v1/authentication/bot/login-code")
            .key(&bot)
            .json(json!({"platform": "discord", "platform_user_id": "99", "platform_username": hostile}))
            .send()
            .await;
        assert!(
            r.status.as_u16() == 200 || r.body["code"] == "ERR_VALIDATION",
            "{hostile}: {}",
            r.body
        );
        let r = t
            .post("/v1/authentication/request")
            .json(json!({"platform": "discord", "platform_user_id": hostile}))
            .send()
            .await;
        r.assert_error(400, "ERR_VALIDATION");
    }
    let me = t.get("/v1/users/me").cookie(&token).send().await;
    assert_eq!(me.assert_ok()["username"], "u99");
    let mut conn = t.conn().await;
    let (users,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(users, 2);
});

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A secret that must not show up: none of its `window`-character pieces may appear in `haystack`.
/// The window lets through what may be shown: a bot key's first 9 characters, a token's suffix.
#[track_caller]
fn assert_absent(haystack: &str, what: &str, secret: &str, window: usize) {
    let window = window.min(secret.len());
    for start in 0..=secret.len() - window {
        let piece = &secret[start..start + window];
        assert!(!haystack.contains(piece), "{what}: {piece:?} found");
    }
}

async fn post(server: &ServerProcess, path: &str, headers: &[(&str, &str)], body: Value) -> Value {
    let r = server.send("POST", path, headers, Some(&body)).await.unwrap();
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    r.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_the_log_or_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("portal.db");
    let url = format!("sqlite://{}?mode=rwc", db.display());
    let mut log = String::new();
    let mut keys = Vec::new();
    let (_, stderr) = cli(&url, &user_create_args("owner", "1", "3"));
    log.push_str(&stderr);
    let (bot, stderr) = cli(&url, &official_bot_create_args("Login Bot", "owner"));
    log.push_str(&stderr);
    let bot_key = bot["api_key"].as_str().unwrap().to_owned();
    keys.push(bot_key.clone());
    let (public, stderr) = cli(&url, &["public-key", "create", "--label", "web"]);
    log.push_str(&stderr);
    let public_key = public["api_key"].as_str().unwrap().to_owned();
    keys.push(public_key.clone());
    let configured_key = format!("cfg-{}", uuid::Uuid::new_v4().simple());
    keys.push(configured_key.clone());

    // Debug level: even the most talkative filter an operator might set keeps secrets out.
    let mut server = ServerProcess::start(
        &url,
        &[("PORTAL_LOG", "debug"), ("PORTAL_PUBLIC_API_KEYS", &configured_key)],
    )
    .await;
    let website = [("X-API-Key", configured_key.as_str())];
    let mut tokens = Vec::new();
    let mut codes = Vec::new();
    // Web logins: the Owner, and a sign-up.
    for id in ["1", "2"] {
        let (token, code) = server.login_with(&website, &bot_key, id).await;
        tokens.push(token);
        codes.push(code);
    }
    // Quick login: the bot asks for a code for an existing user.
    let sent = post(
        &server,
        "/v1/authentication/bot/send-code",
        &[("X-API-Key", &bot_key)],
        json!({"platform": "discord", "platform_user_id": "1", "platform_username": "n"}),
    )
    .await;
    let code = sent["code"].as_str().unwrap().to_owned();
    let verified = server
        .send(
            "POST",
            "/v1/authentication/verify",
            &website,
            Some(&json!({"code": code})),
        )
        .await
        .unwrap();
    tokens.push(verified.session_cookie().unwrap());
    codes.push(code);
    let owner = format!("psession={}", tokens[0]);
    // Keys issued over HTTP.
    let registered = post(
        &server,
        "/v1/admin/bots",
        &[("Cookie", &owner)],
        json!({"name": "Helper", "owner_id": 1, "platform": "discord"}),
    )
    .await;
    keys.push(registered["api_key"].as_str().unwrap().to_owned());
    let bot_id = registered["bot"]["id"].as_i64().unwrap();
    let regenerated = post(
        &server,
        &format!("/v1/admin/bots/{bot_id}/regenerate-key"),
        &[("Cookie", &owner)],
        json!({}),
    )
    .await;
    keys.push(regenerated["api_key"].as_str().unwrap().to_owned());
    // Every credential in use, valid or not.
    let wrong_bot_key = format!("hbot_{}X", "Zq9".repeat(13));
    let wrong_public_key = format!("guess-{}", uuid::Uuid::new_v4().simple());
    let wrong_token = "A".repeat(21) + &"b".repeat(22);
    for key in keys.iter().chain([&wrong_bot_key, &wrong_public_key]) {
        server
            .send("GET", "/v1/bots", &[("X-API-Key", key)], None)
            .await
            .unwrap();
    }
    post(
        &server,
        "/v1/bot/batch",
        &[("X-API-Key", &bot_key)],
        json!({"commands": []}),
    )
    .await;
    for token in tokens.iter().chain([&wrong_token]) {
        let cookie = format!("psession={token}");
        server
            .send("GET", "/v1/users/me", &[("Cookie", &cookie)], None)
            .await
            .unwrap();
    }
    let second = format!("psession={}", tokens[1]);
    post(&server, "/v1/authentication/logout", &[("Cookie", &second)], json!({})).await;
    keys.extend([wrong_bot_key, wrong_public_key]);
    tokens.push(wrong_token);
    // A code that is never used stays pending, in the clear: the control that the search of the
    // files below would find a secret that is there.
    server
        .send(
            "POST",
            "/v1/authentication/request",
            &website,
            Some(&json!({"platform": "discord", "platform_user_id": "3"})),
        )
        .await
        .unwrap();
    let pending = post(
        &server,
        "/v1/authentication/bot/login-code",
        &[("X-API-Key", &bot_key)],
        json!({"platform": "discord", "platform_user_id": "3", "platform_username": "n"}),
    )
    .await["code"]
        .as_str()
        .unwrap()
        .to_owned();
    // Log lines are buffered for up to 50 ms; a graceful stop writes them all out.
    server.stop();

    log.push_str(&server.log());
    assert!(
        log.contains("/v1/authentication/verify"),
        "the request log is on: {log}"
    );
    // The database files as bytes; secrets are ASCII, so a lossy reading finds them all.
    let mut at_rest = String::new();
    for suffix in ["", "-wal", "-shm"] {
        let bytes = std::fs::read(format!("{}{suffix}", db.display())).unwrap_or_default();
        at_rest.push_str(&String::from_utf8_lossy(&bytes));
    }
    assert!(at_rest.contains(&pending), "the search finds a stored secret");
    for key in &keys {
        // A bot key's first 9 characters (`hbot_` + 4) may be logged and are stored as its prefix.
        assert_absent(&log, "key in the log", key, 10);
        assert_absent(&at_rest, "key on disk", key, 10);
    }
    for token in &tokens {
        // The 6-character suffix names a session in the API; the rest must never appear.
        assert_absent(&log, "session token in the log", token, 12);
        assert_absent(&at_rest, "session token on disk", token, 12);
    }
    for code in &codes {
        assert_absent(&log, "login code in the log", code, 8);
    }
    // A used code is deleted; only pending codes are kept in the clear (the bot must fetch them).
    let server = ServerProcess::start(&url, &[]).await;
    drop(server);
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let stored: Vec<(String,)> = sqlx::query_as("SELECT code FROM login_codes")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    for code in &codes {
        assert!(!stored.iter().any(|(c,)| c == code), "used code {code} is still stored");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_request_heads_are_refused() {
    let (_dir, url) = temp_sqlite();
    let server = ServerProcess::start(&url, &[]).await;
    // One header of 100 KiB: over the 64 KiB head limit.
    let big = "a".repeat(100 * 1024);
    let r = server.send("GET", "/health", &[("X-Big", &big)], None).await.unwrap();
    assert_eq!(r.status, 431);
    // 100 header fields: over the limit of 64.
    let names: Vec<String> = (0..100).map(|i| format!("X-Many-{i}")).collect();
    let many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    let r = server.send("GET", "/health", &many, None).await.unwrap();
    assert_eq!(r.status, 431);
    // Within both limits (50 fields, 40 KiB), a request is served.
    let fair = "b".repeat(800);
    let within: Vec<(&str, &str)> = names[..50].iter().map(|n| (n.as_str(), fair.as_str())).collect();
    let r = server.send("GET", "/health", &within, None).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    // A body over 64 KiB is refused as the contract says, before it is read.
    let huge = json!({"username": "x".repeat(70 * 1024)});
    let r = server
        .send("POST", "/v1/authentication/lookup", &[], Some(&huge))
        .await
        .unwrap();
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["code"], "ERR_PAYLOAD_TOO_LARGE");
    let r = server.send("GET", "/health", &[], None).await.unwrap();
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_and_cannot_hold_the_server() {
    let (_dir, url) = temp_sqlite();
    let server = ServerProcess::start(&url, &[("PORTAL_SERVER__HEADER_READ_TIMEOUT_S", "1")]).await;
    // 50 clients start a request and never finish its headers.
    let mut slow = Vec::new();
    for _ in 0..50 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        slow.push(stream);
    }
    // Meanwhile everybody else is served at once.
    let started = Instant::now();
    let r = wire::send(server.addr, "GET", "/health", &[], None).await.unwrap();
    assert_eq!(r.status, 200);
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    // Each slow client is disconnected when the header read timeout runs out.
    for stream in &mut slow {
        let closed = closed_within(stream, Duration::from_secs(3)).await;
        assert!(closed.is_some(), "a slow client still holds its connection");
    }
    // A client that trickles its headers a byte at a time is cut off too: the timeout is for the
    // whole head, not for each read.
    let mut trickle = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    let head =
        b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut cut_off = false;
    for byte in head.iter() {
        if trickle.write_all(&[*byte]).await.is_err() {
            cut_off = true;
            break;
        }
        let mut buf = [0u8; 64];
        if let Ok(read) = tokio::time::timeout(Duration::from_millis(50), trickle.read(&mut buf)).await {
            if matches!(read, Ok(0) | Err(_)) {
                cut_off = true;
                break;
            }
        }
    }
    assert!(cut_off, "the trickling client was never cut off");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    let r = wire::send(server.addr, "GET", "/health", &[], None).await.unwrap();
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_arrive_in_time_gets_its_connection_closed() {
    let (_dir, url) = temp_sqlite();
    let server = ServerProcess::start(&url, &[("PORTAL_SERVER__BODY_READ_TIMEOUT_S", "1")]).await;
    let head = |length: usize| {
        format!(
            "POST /v1/authentication/lookup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {length}\r\n\r\n"
        )
    };

    // The headers in full, then 11 of the 100 bytes the body declares, then nothing: the
    // connection is closed when the body timeout runs out, and nothing is written (00-conventions
    // §10.1).
    let mut stalled = TcpStream::connect(server.addr).await.unwrap();
    stalled
        .write_all(format!("{}{{\"username\"", head(100)).as_bytes())
        .await
        .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stalled.read_to_end(&mut answer))
        .await
        .expect("the connection was never closed")
        .ok();
    let waited = started.elapsed();
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    assert!(
        waited >= Duration::from_millis(900),
        "closed before the timeout: {waited:?}"
    );
    assert!(waited < Duration::from_secs(4), "{waited:?}");

    // A body trickled a byte every 50 ms is cut off too: the timeout covers the whole body, not
    // each read.
    let mut trickle = TcpStream::connect(server.addr).await.unwrap();
    trickle.write_all(head(200).as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    'trickling: for _ in 0..200 {
        if trickle.write_all(b" ").await.is_err() {
            break;
        }
        let deadline = Instant::now() + Duration::from_millis(50);
        while let Ok(read) = tokio::time::timeout_at(deadline.into(), trickle.read(&mut buf)).await {
            match read {
                Ok(0) | Err(_) => break 'trickling,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    }
    let waited = started.elapsed();
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    assert!(
        waited < Duration::from_secs(4),
        "the trickling body held the connection for {waited:?}"
    );

    // A body sent at once is read as usual with the same short timeout.
    let r = wire::send(
        server.addr,
        "POST",
        "/v1/authentication/lookup",
        &[],
        Some(&json!({"username": "nobody"})),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(r.json()["code"], "ERR_USER_NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_key_revoked_with_the_command_line_is_refused_from_the_next_request() {
    use portal::cli::{Command, PublicKeyCommand};
    let t = TestApp::new(Kind::Sqlite, |_| {}).await.unwrap();
    let run = |command: Command| portal::cli::run(t.app.config.clone(), command);
    let created = run(Command::PublicKey(PublicKeyCommand::Create {
        label: Some("web".into()),
    }))
    .await
    .unwrap();
    let key = created["api_key"].as_str().unwrap().to_owned();
    let id = created["id"].as_i64().unwrap();
    t.get("/v1/bots").key(&key).send().await.assert_ok();

    // The list shows the key's first characters and never the key.
    let listed = run(Command::PublicKey(PublicKeyCommand::List)).await.unwrap();
    assert_eq!(listed[0]["id"], id);
    assert_eq!(listed[0]["key_prefix"], &key[..7]);
    assert_eq!(listed[0]["revoked_at"], Value::Null);
    assert!(!listed.to_string().contains(&key));

    assert_eq!(
        run(Command::PublicKey(PublicKeyCommand::Revoke { id })).await.unwrap(),
        json!({"revoked": id})
    );
    t.get("/v1/bots")
        .key(&key)
        .send()
        .await
        .assert_error(401, "ERR_INVALID_API_KEY");
    let listed = run(Command::PublicKey(PublicKeyCommand::List)).await.unwrap();
    assert!(listed[0]["revoked_at"].is_string());
    // Revoking twice, or an unknown id, is refused; only the first revocation is audited.
    for unknown in [id, id + 1] {
        let refused = run(Command::PublicKey(PublicKeyCommand::Revoke { id: unknown })).await;
        assert_eq!(refused.unwrap_err(), "no public key with this id is in use");
    }
    let audits = crate::common::audits(&t, "PUBLIC_KEY_REVOKE").await;
    assert_eq!(audits.len(), 1);
    assert_eq!(audits[0].3, json!({"key_id": id, "label": "web"}));
    assert_eq!(audits[0].0, None);
}
