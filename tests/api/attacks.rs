//! The attacks of the security review (docs/SECURITY.md), each driven as an attacker would: through
//! HTTP requests, on both backends. Every test here failed before its fix.

use std::time::{Duration, Instant};

use crate::common::process::{cli, cli_refused, official_bot_create_args, user_create_args, ServerProcess};
use crate::common::wire::closed_within;
use crate::common::{temp_sqlite, wire, People, TestApp};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A bot report for `platform_user_id` on Discord.
fn report(platform_user_id: &str) -> Value {
    json!({"platform": "discord", "platform_user_id": platform_user_id,
           "platform_username": "someone", "platform_avatar_url": null})
}

/// The audit rows of `event_type` on bot `bot_id`, oldest first.
async fn bot_audits(t: &TestApp, owner: &str, bot_id: i64, event_type: &str) -> Vec<Value> {
    let page = t
        .get(&format!(
            "/v1/admin/audit/logs?target_type=bot&target_id={bot_id}&event_type={event_type}&limit=100"
        ))
        .cookie(owner)
        .send()
        .await;
    let mut rows = page.assert_ok()["items"].as_array().cloned().unwrap_or_default();
    rows.reverse();
    rows
}

// Finding 1: an Admin registered a bot they owned, made it Official, and used it to mint a login
// code for an Owner. Now only an Owner makes a bot Official, and only for an unbanned Owner.
both_backends!(
    an_admin_cannot_make_their_bot_official_and_log_in_as_an_owner,
    |t: TestApp| async move {
        let people = People::new(&t).await;
        let (admin_id, admin) = people.at("escalating-admin", 2).await;
        let (_, owner) = people.at("target-owner", 3).await;
        let registered = t
            .post("/v1/admin/bots")
            .cookie(&admin)
            .json(json!({"name": "Sneaky", "owner_id": admin_id, "platform": "discord"}))
            .send()
            .await;
        let bot_id = registered.assert_ok()["bot"]["id"].as_i64().unwrap();
        let key = registered.body["api_key"].as_str().unwrap().to_owned();
        for bot_type in [json!("official"), json!(1), json!("OFFICIAL")] {
            t.post(&format!("/v1/admin/bots/{bot_id}/update"))
                .cookie(&admin)
                .json(json!({"bot_type": bot_type}))
                .send()
                .await
                .assert_error(403, "ERR_INSUFFICIENT_PERMISSION");
        }
        // The bot stayed a Community bot, so it cannot mint the Owner's code.
        t.post("/v1/authentication/bot/send-code")
            .key(&key)
            .json(report("target-owner"))
            .send()
            .await
            .assert_error(403, "ERR_OFFICIAL_BOT_REQUIRED");
        // An Owner cannot hand the Admin an Official bot either: it must belong to an Owner.
        let refused = t
            .post(&format!("/v1/admin/bots/{bot_id}/update"))
            .cookie(&owner)
            .json(json!({"bot_type": "official"}))
            .send()
            .await;
        refused.assert_error(400, "ERR_VALIDATION");
        assert_eq!(refused.body["error"], "owner_id must be an Owner for an Official bot");
        assert!(bot_audits(&t, &owner, bot_id, "BOT_VERIFY").await.is_empty());
    }
);

both_backends!(an_official_bot_is_touched_by_owners_only, |t: TestApp| async move {
    let people = People::new(&t).await;
    let (owner_id, owner) = people.at("bot-owner", 3).await;
    let (_, admin) = people.at("plain-admin", 2).await;
    let admin_row = t.user("legacy-admin", 2).await;
    let legacy_admin = t.login(&people.bot, "legacy-admin").await;
    // An Official bot of an Admin's, as an older release allowed.
    let legacy_key = t.bot(&admin_row, "Legacy Official", "telegram", 1).await;
    let legacy_id = t.bot_id_of(&legacy_key).await;
    for path in ["update", "regenerate-key", "reset-stats", "delete"] {
        let refused = t
            .post(&format!("/v1/admin/bots/{legacy_id}/{path}"))
            .cookie(&legacy_admin)
            .json(json!({"name": "Renamed"}))
            .send()
            .await;
        refused.assert_error(403, "ERR_INSUFFICIENT_PERMISSION");
        assert_eq!(refused.body["error"], "Owner access required");
    }
    // An Owner makes their own bot Official, and may not give it to an Admin.
    let own = t
        .post("/v1/admin/bots")
        .cookie(&owner)
        .json(json!({"name": "Real Login", "owner_id": owner_id, "platform": "telegram"}))
        .send()
        .await;
    let own_id = own.assert_ok()["bot"]["id"].as_i64().unwrap();
    t.post(&format!("/v1/admin/bots/{own_id}/update"))
        .cookie(&owner)
        .json(json!({"bot_type": "official"}))
        .send()
        .await
        .assert_ok();
    t.post(&format!("/v1/admin/bots/{own_id}/update"))
        .cookie(&owner)
        .json(json!({"owner_id": admin_row.id}))
        .send()
        .await
        .assert_error(400, "ERR_VALIDATION");
    t.post(&format!("/v1/admin/bots/{own_id}/regenerate-key"))
        .cookie(&admin)
        .send()
        .await
        .assert_error(403, "ERR_HIERARCHY");
});

// Banning the Admin ended their sessions, but their bot kept minting codes. Now a ban stops every
// bot of the banned user, and losing the Owner rank stops their Official bots, each with an audit row.
both_backends!(a_ban_or_a_demotion_stops_the_bots_at_once, |t: TestApp| async move {
    let people = People::new(&t).await;
    let (_, chief) = people.at("chief-owner", 3).await;
    let (second_id, _) = people.at("second-owner", 3).await;
    let (admin_id, _) = people.at("bot-admin", 2).await;
    let mut conn = t.conn().await;
    let second_row = portal::store::users::by_id(&mut conn, second_id)
        .await
        .unwrap()
        .unwrap();
    let admin_row = portal::store::users::by_id(&mut conn, admin_id).await.unwrap().unwrap();
    drop(conn);
    let official = t.bot(&second_row, "Second Login", "telegram", 1).await;
    let community = t.bot(&second_row, "Second Helper", "telegram", 3).await;
    let admins_bot = t.bot(&admin_row, "Admin Helper", "discord", 3).await;
    let official_id = t.bot_id_of(&official).await;
    let helper_id = t.bot_id_of(&admins_bot).await;
    let tg_report = json!({"platform": "telegram", "platform_user_id": "tg-1",
                           "platform_username": "x", "platform_avatar_url": null});
    // Demoted from Owner: the Official bot stops, the Community one goes on.
    t.post(&format!("/v1/admin/users/{second_id}/permission"))
        .cookie(&chief)
        .json(json!({"level": 2, "reason": "stepping down"}))
        .send()
        .await
        .assert_ok();
    t.post("/v1/authentication/bot/login-code")
        .key(&official)
        .json(tg_report.clone())
        .send()
        .await
        .assert_error(403, "ERR_BOT_INACTIVE");
    t.get("/v1/bot/me").key(&community).send().await.assert_ok();
    let rows = bot_audits(&t, &chief, official_id, "BOT_UPDATE").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["metadata"]["reason"], "owner_demoted");
    assert_eq!(
        rows[0]["metadata"]["changes"]["is_active"],
        json!({"old": true, "new": false})
    );
    // Banned: every bot of theirs stops, with the ban's actor on each row.
    for (user_id, key) in [(admin_id, &admins_bot), (second_id, &community)] {
        t.post(&format!("/v1/admin/users/{user_id}/ban"))
            .cookie(&chief)
            .json(json!({"reason": "abuse"}))
            .send()
            .await
            .assert_ok();
        t.get("/v1/bot/me")
            .key(key)
            .send()
            .await
            .assert_error(403, "ERR_BOT_INACTIVE");
    }
    let rows = bot_audits(&t, &chief, helper_id, "BOT_UPDATE").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["metadata"]["reason"], "owner_banned");
    assert!(rows[0]["actor_id"].is_i64());
    // Unbanning does not start them again.
    t.post(&format!("/v1/admin/users/{admin_id}/unban"))
        .cookie(&chief)
        .json(json!({"reason": "served"}))
        .send()
        .await
        .assert_ok();
    t.get("/v1/bot/me")
        .key(&admins_bot)
        .send()
        .await
        .assert_error(403, "ERR_BOT_INACTIVE");
});

// Defence in depth: an Official bot whose owner is no longer an unbanned Owner (made so behind the
// API's back) is refused at the code endpoints.
both_backends!(
    the_code_endpoints_check_the_official_owner_at_use,
    |t: TestApp| async move {
        let admin = t.user("odd-admin", 2).await;
        let key = t.bot(&admin, "Odd Official", "discord", 1).await;
        t.user("victim", 3).await;
        for path in ["send-code", "login-code"] {
            t.post(&format!("/v1/authentication/bot/{path}"))
                .key(&key)
                .json(report("victim"))
                .send()
                .await
                .assert_error(403, "ERR_OFFICIAL_BOT_REQUIRED");
        }
    }
);

// Finding 8: an Admin renamed and deleted an Owner's official chat.
both_backends!(
    an_admin_cannot_change_or_delete_an_owners_chat,
    |t: TestApp| async move {
        let people = People::new(&t).await;
        let (_, owner) = people.at("chat-owner", 3).await;
        let (_, admin) = people.at("chat-admin", 2).await;
        let created = t
            .post("/v1/admin/chats")
            .cookie(&owner)
            .json(json!({"name": "Lobby", "slug": "lobby"}))
            .send()
            .await;
        let chat_id = created.assert_ok()["chat_id"].as_i64().unwrap();
        t.post(&format!("/v1/admin/chats/{chat_id}/update"))
            .cookie(&admin)
            .json(json!({"name": "Pwned"}))
            .send()
            .await
            .assert_error(403, "ERR_HIERARCHY");
        t.post(&format!("/v1/admin/chats/{chat_id}/delete"))
            .cookie(&admin)
            .send()
            .await
            .assert_error(403, "ERR_HIERARCHY");
        let detail = t.get(&format!("/v1/admin/chats/{chat_id}")).cookie(&owner).send().await;
        assert_eq!(detail.assert_ok()["name"], "Lobby");
        // The Admin's own chat stays theirs to change, and the Owner may change it too.
        let own = t
            .post("/v1/admin/chats")
            .cookie(&admin)
            .json(json!({"name": "Admins", "slug": "admins"}))
            .send()
            .await;
        let own_id = own.assert_ok()["chat_id"].as_i64().unwrap();
        for who in [&admin, &owner] {
            t.post(&format!("/v1/admin/chats/{own_id}/update"))
                .cookie(who)
                .json(json!({"description": "changed"}))
                .send()
                .await
                .assert_ok();
        }
        t.post(&format!("/v1/admin/chats/{own_id}/delete"))
            .cookie(&owner)
            .send()
            .await
            .assert_ok();
    }
);

// The command-line tool keeps the same rule: an Official bot needs an unbanned Owner as owner.
#[test]
fn the_command_line_tool_refuses_an_official_bot_of_a_non_owner() {
    let (_dir, url) = temp_sqlite();
    cli(&url, &user_create_args("boss", "1", "3"));
    cli(&url, &user_create_args("helper", "2", "2"));
    let refused = cli_refused(&url, &official_bot_create_args("Helper Login", "helper"));
    assert!(
        refused.contains("owner_id must be an Owner for an Official bot"),
        "{refused}"
    );
    let (made, _) = cli(&url, &official_bot_create_args("Boss Login", "boss"));
    assert_eq!(made["bot"]["bot_type"], 1);
}

/// Uses half of a 10-an-hour quota, has the Owner raise it to 1,000, and checks that the half of
/// the hour already used is what is kept: 499 requests remain, and the next twenty pass.
async fn a_raised_quota_applies_from_the_next_request(t: &TestApp) {
    let people = People::new(t).await;
    let (owner_id, owner) = people.at("quota-owner", 3).await;
    let registered = t
        .post("/v1/admin/bots")
        .cookie(&owner)
        .json(json!({"name": "Busy", "owner_id": owner_id, "platform": "discord", "rate_limit_per_hour": 10}))
        .send()
        .await;
    let bot_id = registered.assert_ok()["bot"]["id"].as_i64().unwrap();
    let key = registered.body["api_key"].as_str().unwrap().to_owned();
    for _ in 0..5 {
        t.get("/v1/bot/me").key(&key).send().await.assert_ok();
    }
    t.post(&format!("/v1/admin/bots/{bot_id}/update"))
        .cookie(&owner)
        .json(json!({"rate_limit_per_hour": 1000}))
        .send()
        .await
        .assert_ok();
    let next = t.get("/v1/bot/me").key(&key).send().await;
    next.assert_ok();
    assert_eq!(next.header("ratelimit-limit"), Some("1000"));
    assert_eq!(next.header("ratelimit-remaining"), Some("499"));
    for _ in 0..20 {
        t.get("/v1/bot/me").key(&key).send().await.assert_ok();
    }
}

both_backends!(a_raised_bot_quota_applies_in_process, |t: TestApp| async move {
    a_raised_quota_applies_from_the_next_request(&t).await;
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raised_bot_quota_applies_in_redis() {
    let Some(url) = crate::common::redis_url().await else {
        return;
    };
    let t = TestApp::new(crate::common::Kind::Sqlite, |c| c.redis_url = Some(url))
        .await
        .unwrap();
    assert!(t.app.ephemeral.wait_connected(std::time::Duration::from_secs(2)).await);
    a_raised_quota_applies_from_the_next_request(&t).await;
}

// Finding 2: requests with made-up methods each added a metrics series (and a long log line)
// forever, and /metrics was open to anyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_methods_add_no_metrics_series_and_outsiders_get_no_metrics() {
    // The test's peer is 203.0.113.10: an outsider unless the allow-list names it.
    let outsider = TestApp::new(crate::common::Kind::Sqlite, |_| {}).await.unwrap();
    outsider.get("/metrics").send().await.assert_error(404, "ERR_NOT_FOUND");
    let t = TestApp::new(crate::common::Kind::Sqlite, |c| {
        c.metrics.allowed_ips = vec!["203.0.113.10/32".into()]
    })
    .await
    .unwrap();
    let series = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with("portal_http_requests_total"))
            .count()
    };
    let (_, before) = t.get("/metrics").send_raw().await;
    for i in 0..300 {
        let method = axum::http::Method::from_bytes(format!("X{i}{}", "Q".repeat(200)).as_bytes()).unwrap();
        t.req(method.clone(), "/health").send().await;
        t.req(method, &format!("/nowhere/{i}")).send().await;
    }
    let (status, after) = t.get("/metrics").send_raw().await;
    assert_eq!(status.as_u16(), 200);
    assert!(series(&after) <= series(&before) + 3, "{after}");
    assert!(
        after.contains(r#"method="other",route="unmatched",status="4xx""#),
        "{after}"
    );
    assert!(!after.contains("QQQ"), "a client's method reached the metrics");
}

// Finding 3: a client that connected and sent nothing, or only the HTTP/2 preface, held its
// connection forever (the head timeout began after protocol detection).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_are_closed_and_idle_ones_after_the_keep_alive() {
    let (_dir, url) = temp_sqlite();
    let server = ServerProcess::start(
        &url,
        &[
            ("PORTAL_SERVER__HEADER_READ_TIMEOUT_S", "1"),
            ("PORTAL_SERVER__KEEP_ALIVE_TIMEOUT_S", "3"),
        ],
    )
    .await;
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let mut preface = TcpStream::connect(server.addr).await.unwrap();
    preface.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await.unwrap();
    let mut half = TcpStream::connect(server.addr).await.unwrap();
    half.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    for (what, stream) in [
        ("silent", &mut silent),
        ("preface", &mut preface),
        ("half a preface", &mut half),
    ] {
        let closed = closed_within(stream, Duration::from_secs(4)).await;
        assert!(closed.is_some(), "the {what} connection is still open");
    }
    // A keep-alive connection may rest between requests longer than the head timeout, and is
    // closed once it has been idle for the keep-alive timeout.
    let mut resting = TcpStream::connect(server.addr).await.unwrap();
    let request = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    resting.write_all(request).await.unwrap();
    let mut buf = [0u8; 4096];
    let n = resting.read(&mut buf).await.unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    resting.write_all(request).await.unwrap();
    let n = resting.read(&mut buf).await.unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "closed while resting under the keep-alive"
    );
    let idle = closed_within(&mut resting, Duration::from_secs(6)).await;
    let idle = idle.expect("an idle keep-alive connection was never closed");
    assert!(idle >= Duration::from_millis(2500), "closed after {idle:?} of idleness");
}

// The per-address and per-node caps close a connection over them at once, and count it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_caps_are_closed_at_once() {
    let (_dir, url) = temp_sqlite();
    for (setting, reason) in [
        ("PORTAL_SERVER__MAX_CONNECTIONS_PER_IP", "address_limit"),
        ("PORTAL_SERVER__MAX_CONNECTIONS", "node_limit"),
    ] {
        let server =
            ServerProcess::start(&url, &[(setting, "4"), ("PORTAL_SERVER__HEADER_READ_TIMEOUT_S", "30")]).await;
        // Five connections against a cap of four: whichever the server takes last is closed at
        // once, while the others wait for their first request (the head timeout is 30 s).
        let mut held = Vec::new();
        for _ in 0..5 {
            held.push(TcpStream::connect(server.addr).await.unwrap());
        }
        let closed = futures_util::future::join_all(
            held.iter_mut()
                .map(|stream| closed_within(stream, Duration::from_secs(2))),
        )
        .await;
        let closed = closed.iter().filter(|c| c.is_some()).count();
        assert!(closed >= 1, "{setting}: all five connections were kept");
        assert!(closed < 5, "{setting}: none of the connections under the cap was kept");
        drop(held);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let metrics = wire::send(server.addr, "GET", "/metrics", &[], None).await.unwrap();
        assert_eq!(metrics.status, 200);
        let line = format!("portal_connections_refused_total{{reason=\"{reason}\"}} ");
        assert!(metrics.text().contains(&line), "{setting}: {}", metrics.text());
    }
}

// A head over the limit is answered with the contract's JSON 431.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_over_the_limit_gets_a_json_431() {
    let (_dir, url) = temp_sqlite();
    let server = ServerProcess::start(&url, &[]).await;
    let many: Vec<(String, String)> = (0..70).map(|i| (format!("X-Filler-{i}"), "x".into())).collect();
    let headers: Vec<(&str, &str)> = many.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let r = wire::send(server.addr, "GET", "/health", &headers, None).await.unwrap();
    assert_eq!(r.status, 431, "{}", r.text());
    assert_eq!(r.json()["code"], "ERR_HEADERS_TOO_LARGE");
    let long = "y".repeat(70 * 1024);
    let r = wire::send(server.addr, "GET", "/health", &[("X-Long", &long)], None)
        .await
        .unwrap();
    assert_eq!(r.status, 431, "{}", r.text());
    assert_eq!(r.json()["code"], "ERR_HEADERS_TOO_LARGE");
}

/// Verifies of a made-up code from `client` (through the trusted proxy the tests' peer stands
/// for), all sent at once on `nodes` in turn; returns how many were looked up as guesses (400)
/// and how many were refused by the lockout (429).
async fn guess_at_once(nodes: &[&TestApp], clients: &[&str], count: usize) -> (usize, usize) {
    let guesses = (0..count).map(|i| {
        let node = nodes[i % nodes.len()];
        let client = clients[i % clients.len()];
        async move {
            node.post("/v1/authentication/verify")
                .header("x-forwarded-for", client)
                .json(json!({"code": "ZZZZ9999"}))
                .send()
                .await
        }
    });
    let answers = futures_util::future::join_all(guesses).await;
    let mut counted = (0, 0);
    for answer in answers {
        match answer.status.as_u16() {
            400 => {
                answer.assert_error(400, "ERR_INVALID_CODE");
                counted.0 += 1;
            }
            429 => {
                answer.assert_error(429, "ERR_TOO_MANY_ATTEMPTS");
                counted.1 += 1;
            }
            other => panic!("{other}: {}", answer.body),
        }
    }
    counted
}

fn behind_proxy(c: &mut portal::config::Config) {
    c.trusted_proxies = vec!["203.0.113.10/32".into()];
}

// Finding 5: 40 bad verifies at once counted 18 guesses against a limit of 10, and every address
// of an IPv6 /64 had guesses of its own.
both_backends!(
    the_verify_lockout_admits_ten_guesses_per_address_group_at_once,
    behind_proxy,
    |t: TestApp| async move {
        assert_eq!(guess_at_once(&[&t], &["198.51.100.7"], 40).await, (10, 30));
        // Ten addresses of one /64 share one allowance.
        let one_subnet: Vec<String> = (1..=40).map(|i| format!("2001:db8:1:2::{i:x}")).collect();
        let clients: Vec<&str> = one_subnet.iter().map(String::as_str).collect();
        assert_eq!(guess_at_once(&[&t], &clients, 40).await, (10, 30));
        // The next /64 is another subscriber.
        assert_eq!(guess_at_once(&[&t], &["2001:db8:1:3::1"], 1).await, (1, 0));
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verify_lockout_holds_across_two_nodes() {
    let Some(url) = crate::common::redis_url().await else {
        return;
    };
    let a = TestApp::new(crate::common::Kind::Postgres, |c| {
        behind_proxy(c);
        c.redis_url = Some(url);
    })
    .await;
    let Some(a) = a else { return };
    let b = a.second_node().await;
    for node in [&a, &b] {
        assert!(node.app.ephemeral.wait_connected(Duration::from_secs(2)).await);
    }
    assert_eq!(
        guess_at_once(&[&a, &b], &["2001:db8:9::1", "2001:db8:9::2"], 40).await,
        (10, 30)
    );
}

// A code that exists takes back the guess it was counted as: logging in never locks anyone out.
both_backends!(
    good_codes_are_not_counted_as_failures,
    behind_proxy,
    |t: TestApp| async move {
        let bot = t.login_bot().await;
        for i in 0..12 {
            t.user(&format!("good-{i}"), 0).await;
            let code = t.web_code(&bot, report(&format!("good-{i}"))).await;
            t.post("/v1/authentication/verify")
                .header("x-forwarded-for", "198.51.100.8")
                .json(json!({"code": code}))
                .send()
                .await
                .assert_ok();
        }
        assert_eq!(guess_at_once(&[&t], &["198.51.100.8"], 12).await, (10, 2));
    }
);

// Finding 4: an unknown X-API-Key was refused before any bucket was charged, so it could be tried
// without limit, each try a database query. It now counts under the client's address.
both_backends!(
    unknown_api_keys_are_counted_before_they_are_refused,
    |c: &mut portal::config::Config| c.rate_limit.public = 3,
    |t: TestApp| async move {
        for i in 0..3 {
            let key = format!("hbot_{:0>40}", i);
            t.get("/v1/statistics/users")
                .key(&key)
                .send()
                .await
                .assert_error(401, "ERR_INVALID_API_KEY");
        }
        let refused = t.get("/v1/statistics/users").key("pk_not_a_key").send().await;
        refused.assert_error(429, "ERR_RATE_LIMITED");
        assert!(refused.header("retry-after").is_some());
    }
);

// Finding 6: behind a proxy (the usual loopback bind with TLS in front) the cookie lacked Secure.
both_backends!(
    the_cookie_is_secure_behind_a_proxy,
    behind_proxy,
    |t: TestApp| async move {
        let bot = t.login_bot().await;
        t.user("cookie", 0).await;
        let code = t.web_code(&bot, report("cookie")).await;
        let verified = t.verify(&code).await;
        let cookie = verified.header("set-cookie").unwrap().to_owned();
        assert!(cookie.split("; ").any(|a| a == "Secure"), "{cookie}");
    }
);

// Finding 7: a session revoked from the command line, with no Redis to tell the server, left the
// user's realtime connection open for up to 30 s. Now a session ended by any means closes its
// connections on every node within two seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_revoked_from_the_command_line_closes_its_connection_at_once() {
    let t = TestApp::new(crate::common::Kind::Sqlite, |_| {}).await.unwrap();
    let people = People::new(&t).await;
    let (_, alice) = people.at("alice", 0).await;
    let url = t.app.config.effective_database_url();
    let server = ServerProcess::start(&url, &[]).await;
    let (mut ws, _) = crate::common::ws::open_with_snapshot(server.addr, &alice).await;
    cli(&url, &["session", "revoke", "ualice"]);
    let revoked = Instant::now();
    assert_eq!(crate::common::ws::closed_with(&mut ws).await, 4001);
    assert!(revoked.elapsed() < Duration::from_secs(2), "{:?}", revoked.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_on_one_node_closes_the_connection_on_another_without_redis() {
    let Some(t) = TestApp::new(crate::common::Kind::Postgres, |_| {}).await else {
        return;
    };
    let people = People::new(&t).await;
    let (_, bob) = people.at("bob", 0).await;
    let url = t.app.config.effective_database_url();
    let (node_a, node_b) = (
        ServerProcess::start(&url, &[]).await,
        ServerProcess::start(&url, &[]).await,
    );
    let (mut ws, _) = crate::common::ws::open_with_snapshot(node_a.addr, &bob).await;
    let cookie = format!("psession={bob}");
    let out = node_b
        .send("POST", "/v1/authentication/logout", &[("Cookie", &cookie)], None)
        .await
        .unwrap();
    assert_eq!(out.status, 200, "{}", out.text());
    let ended = Instant::now();
    assert_eq!(crate::common::ws::closed_with(&mut ws).await, 4001);
    assert!(ended.elapsed() < Duration::from_secs(2), "{:?}", ended.elapsed());
}
