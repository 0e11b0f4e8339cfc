//! Many nodes as one server: rate limits in Redis, session invalidation across nodes, Redis outages,
//! and the metrics endpoint. Needs Redis at 127.0.0.1:6379 (skips loudly without it, fails under CI).

use std::time::{Duration, Instant};

use crate::common::private_redis::PrivateRedis;
use crate::common::process::ServerProcess;
use crate::common::ws::{closed_with, event, nothing_pending, open, open_with_snapshot, presence_ids, try_open};
use crate::common::{redis_url, Kind, TestApp};
use serde_json::json;

/// Both live-state implementations refuse the 21st LOGIN request of a minute with the headers.
async fn login_tier_holds(t: &TestApp) {
    for i in 0..20 {
        let r = t
            .post("/v1/authentication/lookup")
            .json(json!({"username": "nobody"}))
            .send()
            .await;
        r.assert_error(404, "ERR_USER_NOT_FOUND");
        assert_eq!(r.header("ratelimit-limit"), Some("20"));
        assert_eq!(r.header("ratelimit-remaining"), Some((19 - i).to_string().as_str()));
        assert!(r.header("ratelimit-reset").is_some());
    }
    let refused = t
        .post("/v1/authentication/lookup")
        .json(json!({"username": "nobody"}))
        .send()
        .await;
    refused.assert_error(429, "ERR_RATE_LIMITED");
    assert_eq!(refused.header("retry-after"), Some("3"));
    assert_eq!(refused.header("ratelimit-remaining"), Some("0"));
    // Another tier is a separate bucket.
    t.get("/health").send().await.assert_ok();
}

#[tokio::test]
async fn in_process_rate_limits() {
    let t = TestApp::new(Kind::Sqlite, |c| c.rate_limit.login = 20).await.unwrap();
    login_tier_holds(&t).await;
}

#[tokio::test]
async fn redis_rate_limits() {
    let Some(url) = redis_url().await else { return };
    let t = TestApp::new(Kind::Sqlite, |c| {
        c.rate_limit.login = 20;
        c.redis_url = Some(url);
    })
    .await
    .unwrap();
    assert!(t.app.ephemeral.wait_connected(Duration::from_secs(2)).await);
    login_tier_holds(&t).await;
}

async fn two_nodes(configure: impl FnOnce(&mut portal::config::Config)) -> Option<(TestApp, TestApp)> {
    nodes_on(redis_url().await?, configure).await
}

/// Two nodes on one PostgreSQL database and the Redis at `url`.
async fn nodes_on(url: String, configure: impl FnOnce(&mut portal::config::Config)) -> Option<(TestApp, TestApp)> {
    let a = TestApp::new(Kind::Postgres, |c| {
        c.redis_url = Some(url);
        configure(c);
    })
    .await?;
    let b = a.second_node().await;
    assert!(a.app.ephemeral.wait_connected(Duration::from_secs(2)).await);
    assert!(b.app.ephemeral.wait_connected(Duration::from_secs(2)).await);
    Some((a, b))
}

#[tokio::test]
async fn a_login_tier_is_shared_across_nodes() {
    let Some((a, b)) = two_nodes(|c| c.rate_limit.login = 20).await else {
        return;
    };
    for i in 0..20 {
        let node = if i % 2 == 0 { &a } else { &b };
        node.post("/v1/authentication/lookup")
            .json(json!({"username": "nobody"}))
            .send()
            .await
            .assert_error(404, "ERR_USER_NOT_FOUND");
    }
    b.post("/v1/authentication/lookup")
        .json(json!({"username": "nobody"}))
        .send()
        .await
        .assert_error(429, "ERR_RATE_LIMITED");
    a.post("/v1/authentication/lookup")
        .json(json!({"username": "nobody"}))
        .send()
        .await
        .assert_error(429, "ERR_RATE_LIMITED");
}

/// Polls `node` with `token` until it is refused, for at most a second.
async fn refused_within_a_second(node: &TestApp, token: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let r = node.get("/v1/users/me").cookie(token).send().await;
        if r.status.as_u16() == 401 {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_session_revoked_on_one_node_is_refused_on_the_other() {
    let Some((a, b)) = two_nodes(|_| {}).await else { return };
    let bot = a.login_bot().await;
    a.user("2020", 0).await;
    let kept = a.login(&bot, "2020").await;
    let doomed = a.login(&bot, "2020").await;
    // B has the session cached.
    b.get("/v1/users/me").cookie(&doomed).send().await.assert_ok();
    a.post(&format!("/v1/users/me/sessions/{}/destroy", &doomed[37..]))
        .cookie(&kept)
        .send()
        .await
        .assert_ok();
    assert!(refused_within_a_second(&b, &doomed).await);
    // And a logout on B is refused on A.
    a.get("/v1/users/me").cookie(&kept).send().await.assert_ok();
    b.post("/v1/authentication/logout")
        .cookie(&kept)
        .send()
        .await
        .assert_ok();
    assert!(refused_within_a_second(&a, &kept).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ended_on_one_node_closes_its_realtime_connection_on_the_other() {
    let Some((a, b)) = two_nodes(|_| {}).await else { return };
    let bot = a.login_bot().await;
    a.user("4040", 0).await;
    let token = a.login(&bot, "4040").await;
    let (mut connection, snapshot) = open_with_snapshot(a.listen().await, &token).await;
    assert_eq!(snapshot["online"], 1);
    b.post("/v1/authentication/logout")
        .cookie(&token)
        .send()
        .await
        .assert_ok();
    assert_eq!(closed_with(&mut connection).await, 4001);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_and_mutes_sent_on_one_node_reach_connections_on_the_other() {
    let Some((a, b)) = two_nodes(|_| {}).await else { return };
    let bot = a.login_bot().await;
    let alice = a.user("5050", 0).await;
    a.user("5151", 2).await;
    let alice_token = a.login(&bot, "5050").await;
    let admin_token = a.login(&bot, "5151").await;
    // One connection on each node; the events are sent on B.
    let (mut on_a, _) = open_with_snapshot(a.listen().await, &alice_token).await;
    let (mut on_b, _) = open_with_snapshot(b.listen().await, &alice_token).await;

    b.post("/v1/admin/notifications")
        .cookie(&admin_token)
        .json(json!({"user_id": alice.id, "title": "From B", "body": "Across nodes"}))
        .send()
        .await
        .assert_ok();
    b.post("/v1/portal/hard-mute")
        .cookie(&admin_token)
        .json(json!({"user_id": alice.id, "duration": 0}))
        .send()
        .await
        .assert_ok();
    for connection in [&mut on_a, &mut on_b] {
        let new = event(connection).await;
        assert_eq!(new["event"], "notification:new");
        assert_eq!(new["data"]["title"], "From B");
        assert_eq!(
            event(connection).await,
            json!({"event": "user:hard_muted", "data": {"user_id": alice.id, "expires_at": null}})
        );
        // Each event arrives once: a node does not also deliver what it hears back from Redis.
        nothing_pending(connection).await;
    }
}

fn quick_presence(config: &mut portal::config::Config) {
    config.presence.leave_grace_s = 1;
    config.presence.node_beat_s = 1;
}

/// Quick presence, and one open connection per user, so that a count shows in a single refusal.
fn one_connection_each(config: &mut portal::config::Config) {
    quick_presence(config);
    config.presence.max_connections_per_user = 1;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_is_one_across_the_nodes() {
    let Some((a, b)) = two_nodes(quick_presence).await else {
        return;
    };
    let bot = a.login_bot().await;
    let alice = a.user("6060", 0).await;
    let bob = a.user("6161", 0).await;
    let alice_token = a.login(&bot, "6060").await;
    let bob_token = a.login(&bot, "6161").await;
    let (on_a, on_b) = (a.listen().await, b.listen().await);

    let (mut alice_ws, snapshot) = open_with_snapshot(on_a, &alice_token).await;
    assert_eq!(presence_ids(&snapshot["users"]), [alice.id]);
    let alice_presence = snapshot["users"][0]["session_id"].clone();

    // Bob on the other node sees Alice, with the same presence id; Alice hears of Bob; Bob does not
    // hear of himself (his joined is already in his snapshot).
    let (mut bob_ws, snapshot) = open_with_snapshot(on_b, &bob_token).await;
    assert_eq!(presence_ids(&snapshot["users"]), [alice.id, bob.id]);
    assert_eq!(snapshot["users"][0]["session_id"], alice_presence);
    let bob_presence = snapshot["users"][1]["session_id"].clone();
    let joined = event(&mut alice_ws).await;
    assert_eq!(joined["event"], "user:joined");
    assert_eq!(joined["data"]["user"]["id"], bob.id);
    assert_eq!(joined["data"]["session_id"], bob_presence);
    assert_eq!(joined["data"]["online"], 2);
    nothing_pending(&mut bob_ws).await;
    for (node, token) in [(&a, &alice_token), (&b, &bob_token)] {
        let status = node.get("/v1/portal/status").cookie(token).send().await;
        assert_eq!(status.assert_ok()["online"], 2);
        assert_eq!(presence_ids(&status.body["users"]), [alice.id, bob.id]);
    }

    // Bob moves from B to A within the grace: nobody hears of it, and he keeps his presence id.
    bob_ws.close(None).await.unwrap();
    let (mut bob_ws, snapshot) = open_with_snapshot(on_a, &bob_token).await;
    assert_eq!(snapshot["users"][1]["session_id"], bob_presence);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    nothing_pending(&mut alice_ws).await;
    let status = b.get("/v1/portal/status").cookie(&alice_token).send().await;
    assert_eq!(presence_ids(&status.assert_ok()["users"]), [alice.id, bob.id]);

    // Bob leaves for good: after the grace, once.
    bob_ws.close(None).await.unwrap();
    let left = event(&mut alice_ws).await;
    assert_eq!(left["event"], "user:left");
    assert_eq!(left["data"]["user"]["id"], bob.id);
    assert_eq!(left["data"]["session_id"], bob_presence);
    assert_eq!(left["data"]["online"], 1);
    nothing_pending(&mut alice_ws).await;
    let status = b.get("/v1/portal/status").cookie(&alice_token).send().await;
    assert_eq!(presence_ids(&status.assert_ok()["users"]), [alice.id]);
}

/// Opens a connection on `addr`, retrying for up to a second while it is refused as one too many
/// (a closed connection's count is given back asynchronously).
async fn open_once_counted_down(addr: std::net::SocketAddr, token: &str) -> crate::common::ws::Ws {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        match try_open(addr, Some(token), &[]).await {
            Ok(ws) => return ws,
            Err((429, _)) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(20)).await,
            Err((status, body)) => panic!("refused with {status}: {body}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_limit_counts_every_node() {
    // The default beat: a node's first beat after it reached Redis sets its counts from its own,
    // which must not come within this test and hide a count that was not given back.
    let Some((a, b)) = two_nodes(|c| c.presence.max_connections_per_user = 3).await else {
        return;
    };
    let bot = a.login_bot().await;
    a.user("6262", 0).await;
    let token = a.login(&bot, "6262").await;
    let (on_a, on_b) = (a.listen().await, b.listen().await);
    let mut first = open(on_a, &token).await;
    let _second = open(on_a, &token).await;
    let _third = open(on_b, &token).await;
    for node in [on_a, on_b] {
        let (status, body) = try_open(node, Some(&token), &[]).await.err().unwrap();
        assert_eq!((status, body["code"].as_str()), (429, Some("ERR_TOO_MANY_CONNECTIONS")));
    }
    // A connection closed on A makes room on B.
    first.close(None).await.unwrap();
    let _fourth = open_once_counted_down(on_b, &token).await;
    let (status, _) = try_open(on_a, Some(&token), &[]).await.err().unwrap();
    assert_eq!(status, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_users_of_a_node_that_died_go_offline() {
    let Some((a, _b)) = two_nodes(one_connection_each).await else {
        return;
    };
    let bot = a.login_bot().await;
    a.user("7070", 0).await;
    let carol = a.user("7171", 0).await;
    let alice_token = a.login(&bot, "7070").await;
    let carol_token = a.login(&bot, "7171").await;
    let (mut alice_ws, _) = open_with_snapshot(a.listen().await, &alice_token).await;

    // A third node, a real process on the same database and Redis, then killed without a goodbye.
    let mut node = ServerProcess::node_of(&a, &[("PORTAL_PRESENCE__MAX_CONNECTIONS_PER_USER", "1")]).await;
    let (_carol_ws, snapshot) = open_with_snapshot(node.addr, &carol_token).await;
    assert_eq!(snapshot["online"], 2);
    let joined = event(&mut alice_ws).await;
    assert_eq!(joined["event"], "user:joined");
    assert_eq!(joined["data"]["user"]["id"], carol.id);
    let on_a = a.listen().await;
    let (status, _) = try_open(on_a, Some(&carol_token), &[]).await.err().unwrap();
    assert_eq!(status, 429, "Carol's connection on the third node counts on A");
    node.kill();

    // Three beats of silence, then the next beat of a living node takes Carol offline.
    let left = tokio::time::timeout(Duration::from_secs(8), event(&mut alice_ws)).await;
    let left = left.expect("user:left within three beats and one");
    assert_eq!(left["event"], "user:left");
    assert_eq!(left["data"]["user"]["id"], carol.id);
    assert_eq!(left["data"]["online"], 1);
    // The dead node's count went with it.
    let (_carol_ws, snapshot) = open_with_snapshot(on_a, &carol_token).await;
    assert_eq!(snapshot["online"], 2);
}

/// Polls `GET /v1/portal/status` on `node` until its online users are `expected` (in any order),
/// for at most ten seconds; the users as last seen.
async fn online_becomes(node: &TestApp, token: &str, expected: &[i64]) -> serde_json::Value {
    let mut expected = expected.to_vec();
    expected.sort_unstable();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = node.get("/v1/portal/status").cookie(token).send().await;
        let users = status.assert_ok()["users"].clone();
        let mut ids = presence_ids(&users);
        ids.sort_unstable();
        if ids == expected || Instant::now() >= deadline {
            assert_eq!(ids, expected, "online users");
            return users;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Each user's presence id, by user id.
fn presence_sessions(users: &serde_json::Value) -> std::collections::BTreeMap<i64, String> {
    let ids = presence_ids(users);
    let sessions = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["session_id"].as_str().unwrap().to_owned());
    ids.into_iter().zip(sessions).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_redis_outage_the_nodes_put_their_users_back() {
    let Some(mut redis) = PrivateRedis::start().await else {
        return;
    };
    let Some((a, b)) = nodes_on(redis.url(), one_connection_each).await else {
        return;
    };
    let bot = a.login_bot().await;
    let alice = a.user("6363", 0).await;
    let bob = a.user("6464", 0).await;
    let alice_token = a.login(&bot, "6363").await;
    let bob_token = a.login(&bot, "6464").await;
    let (on_a, on_b) = (a.listen().await, b.listen().await);
    let (_alice_ws, _) = open_with_snapshot(on_a, &alice_token).await;
    let (_bob_ws, snapshot) = open_with_snapshot(on_b, &bob_token).await;
    assert_eq!(presence_ids(&snapshot["users"]), [alice.id, bob.id]);
    let sessions = presence_sessions(&snapshot["users"]);

    // Gone, with all it held: each node shows its own users once it notices.
    redis.kill();
    online_becomes(&a, &alice_token, &[alice.id]).await;
    online_becomes(&b, &bob_token, &[bob.id]).await;

    // Back, empty: at their next beat the nodes put their users back, with the same presence ids
    // and their connection counts.
    redis.restart().await;
    for (node, token) in [(&a, &alice_token), (&b, &bob_token)] {
        let users = online_becomes(node, token, &[alice.id, bob.id]).await;
        assert_eq!(presence_sessions(&users), sessions);
    }
    let refused = try_open(on_b, Some(&alice_token), &[]).await.err();
    let (status, _) = refused.expect("Alice's connection on A counts on B again");
    assert_eq!(status, 429);
}

#[tokio::test]
async fn a_permission_change_by_the_cli_reaches_every_node() {
    let Some((a, b)) = two_nodes(|_| {}).await else { return };
    let bot = a.login_bot().await;
    let user = a.user("3030", 0).await;
    let token = a.login(&bot, "3030").await;
    b.get("/v1/users/me").cookie(&token).send().await.assert_ok();
    a.clock.advance_secs(2 * 86_400);
    b.clock.advance_secs(2 * 86_400);
    // The command-line tool is a third process on the same database and Redis.
    let cli_config = a.app.config.clone();
    let output = portal::cli::run(
        cli_config,
        portal::cli::Command::User(portal::cli::UserCommand::SetLevel {
            user: user.id.to_string(),
            level: 2,
            reason: Some("promoted".into()),
        }),
    )
    .await
    .unwrap();
    // The CLI runs on the real clock, two days behind the nodes: the session is re-capped to a day
    // from its creation, which the nodes' clocks have passed.
    assert_eq!(output["permission_level"], 2);
    assert!(refused_within_a_second(&b, &token).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_the_server_serves_and_reports_degraded() {
    let t = TestApp::new(Kind::Sqlite, |c| {
        c.redis_url = Some("redis://127.0.0.1:1".into());
        c.rate_limit.login = 20;
    })
    .await
    .unwrap();
    let health = t.get("/health").send().await;
    let body = health.assert_ok();
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["cache"], false);
    assert_eq!(body["errors"], json!(["cache unavailable"]));
    // Limits fall back to this node's own buckets.
    login_tier_holds(&t).await;
    // A minute later the bucket is full again and the login flow works end to end.
    t.clock.advance_secs(60);
    let bot = t.login_bot().await;
    let token = t.login(&bot, "4040").await;
    t.get("/v1/users/me").cookie(&token).send().await.assert_ok();
    // Realtime connections work on the node's own presence.
    let (mut connection, snapshot) = open_with_snapshot(t.listen().await, &token).await;
    assert_eq!(snapshot["online"], 1);
    let status = t.get("/v1/portal/status").cookie(&token).send().await;
    assert_eq!(status.assert_ok()["online"], 1);
    nothing_pending(&mut connection).await;
}

#[tokio::test]
async fn metrics_are_scraped_and_parse() {
    // The test's peer (203.0.113.10) stands for the monitoring host.
    let t = TestApp::new(Kind::Sqlite, |c| {
        c.rate_limit.login = 1;
        c.metrics.allowed_ips = vec!["203.0.113.0/24".into()];
    })
    .await
    .unwrap();
    t.get("/health").send().await.assert_ok();
    t.post("/v1/authentication/verify")
        .json(json!({"code": "nope"}))
        .send()
        .await
        .assert_error(400, "ERR_INVALID_CODE");
    t.post("/v1/authentication/verify")
        .json(json!({"code": "nope"}))
        .send()
        .await
        .assert_error(429, "ERR_RATE_LIMITED");
    let (status, text) = t.get("/metrics").send_raw().await;
    assert_eq!(status.as_u16(), 200);
    let mut samples = std::collections::HashMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let (series, value) = line.rsplit_once(' ').expect("series and value");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in {line}"));
        let name = series.split('{').next().unwrap();
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{line}");
        if let Some(labels) = series.strip_prefix(name) {
            assert!(
                labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                "{line}"
            );
        }
        samples.insert(series.to_owned(), value);
    }
    assert_eq!(
        samples[r#"portal_http_requests_total{method="GET",route="/health",status="2xx"}"#],
        1.0
    );
    assert_eq!(samples[r#"portal_logins_total{outcome="invalid_code"}"#], 1.0);
    assert_eq!(samples[r#"portal_rate_limited_total{tier="login"}"#], 1.0);
    assert_eq!(
        samples[r#"portal_http_request_duration_seconds_count{route="/health"}"#],
        1.0
    );
    assert!(samples.contains_key(r#"portal_db_pool_connections{state="max"}"#));
}

#[tokio::test]
async fn admin_health_reports_redis_statistics() {
    let Some(url) = redis_url().await else { return };
    let t = TestApp::new(Kind::Sqlite, |c| c.redis_url = Some(url)).await.unwrap();
    assert!(t.app.ephemeral.wait_connected(Duration::from_secs(2)).await);
    let bot = t.login_bot().await;
    t.user("5050", 2).await;
    let token = t.login(&bot, "5050").await;
    let r = t.get("/v1/admin/health").cookie(&token).send().await;
    let body = r.assert_ok();
    assert_eq!(body["status"], "healthy");
    let cache = &body["cache_statistics"];
    assert!(cache["total_keys"].as_u64().is_some());
    assert!(cache["connected_clients"].as_u64().unwrap() >= 1);
    assert!(cache["uptime_seconds"].as_u64().is_some());
    let hash = body["source_hash"].as_str().unwrap();
    assert!(hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(body["db_statistics"]["overflow"], 0);
}
