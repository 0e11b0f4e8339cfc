//! Faults: PostgreSQL connections killed or the database unreachable mid-load, a busy SQLite file,
//! and `kill -9` of the real server under a write load. Each ends with the same questions: did every
//! refused request get the contract's 503, did the server recover by itself, and is every write that
//! was answered 2xx still there, with its audit row. Figures: docs/RELIABILITY.md.
//!
//! These tests are about real time (connections dying, timeouts running out), so unlike the rest of
//! the suite they wait on the wall clock, in short bounded steps.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::process::ServerProcess;
use crate::common::wire::{self, WireResponse};
use crate::common::{pg_admin_url, Kind, TestApp, TestResponse};
use serde_json::{json, Value};
use sqlx::Connection;
use tokio::net::{TcpListener, TcpStream};

/// A fault may turn an answer into the contract's 503, never into anything else.
#[track_caller]
fn served_or_unavailable(r: &TestResponse) -> bool {
    if r.status.as_u16() == 200 {
        return true;
    }
    r.assert_error(503, "ERR_SERVICE_UNAVAILABLE");
    assert_eq!(r.body["error"], "Service unavailable");
    false
}

/// An admin, a user for them to warn, and the admin's session.
async fn staff_and_target(t: &TestApp) -> (String, i64) {
    let bot = t.login_bot().await;
    t.user("100", 2).await;
    let target = t.user("200", 0).await;
    (t.login(&bot, "100").await, target.id)
}

/// Every acknowledged moderation action is stored with its reason, and actions and their audit rows
/// match one to one: one `USER_WARN`/`USER_TIMEOUT` row per action, and every timeout that a later
/// one lifted is named by exactly one `replaced_action_ids`.
async fn acknowledged_actions_are_audited(t: &TestApp, target: i64, acknowledged: &HashMap<i64, String>) {
    let mut conn = t.conn().await;
    let actions: Vec<(i64, String, Option<String>, i64)> =
        sqlx::query_as("SELECT id, action_type, reason, is_lifted FROM moderation_actions WHERE user_id = $1")
            .bind(target)
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    for (id, reason) in acknowledged {
        assert!(
            actions
                .iter()
                .any(|(i, _, r, _)| i == id && r.as_deref() == Some(reason)),
            "acknowledged action {id} is lost"
        );
    }
    let audit: Vec<(String, String)> =
        sqlx::query_as("SELECT event_type, metadata FROM audit_log WHERE event_type IN ('USER_WARN', 'USER_TIMEOUT')")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    let mut audited = HashMap::new();
    let mut replaced = Vec::new();
    for (event, metadata) in &audit {
        let metadata: Value = serde_json::from_str(metadata).unwrap();
        let id = metadata["action_id"].as_i64().unwrap();
        assert!(
            audited.insert(id, event.clone()).is_none(),
            "action {id} has two audit rows"
        );
        replaced.extend(
            metadata["replaced_action_ids"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| v.as_i64().unwrap()),
        );
    }
    assert_eq!(audited.len(), actions.len(), "audit rows and actions differ in number");
    for (id, action_type, _, _) in &actions {
        let expected = if action_type == "PLATFORM_WARNING" {
            "USER_WARN"
        } else {
            "USER_TIMEOUT"
        };
        assert_eq!(
            audited.get(id).map(String::as_str),
            Some(expected),
            "action {id} ({action_type})"
        );
    }
    let lifted: HashSet<i64> = actions.iter().filter(|a| a.3 != 0).map(|a| a.0).collect();
    assert_eq!(replaced.len(), lifted.len(), "a lifted timeout is named twice or never");
    assert_eq!(replaced.into_iter().collect::<HashSet<_>>(), lifted);
}

/// Four staff sessions write (warn) and read while `fault` runs; returns the acknowledged warnings
/// and how many requests were refused with 503.
async fn warn_under_fault<F: std::future::Future<Output = ()>>(
    t: &Arc<TestApp>,
    token: &str,
    target: i64,
    fault: F,
) -> (HashMap<i64, String>, usize) {
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (t, token, stop) = (t.clone(), token.to_owned(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut acknowledged = HashMap::new();
            let mut refused = 0;
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let reason = format!("w{w}-{i}");
                i += 1;
                let r = t
                    .post(&format!("/v1/admin/users/{target}/warn"))
                    .cookie(&token)
                    .json(json!({"reason": reason}))
                    .send()
                    .await;
                if served_or_unavailable(&r) {
                    acknowledged.insert(r.body["action"]["id"].as_i64().unwrap(), reason);
                } else {
                    refused += 1;
                }
                let r = t.get(&format!("/v1/users/{target}")).cookie(&token).send().await;
                if !served_or_unavailable(&r) {
                    refused += 1;
                }
            }
            (acknowledged, refused)
        }));
    }
    fault.await;
    stop.store(true, Ordering::SeqCst);
    let mut acknowledged = HashMap::new();
    let mut refused = 0;
    for writer in writers {
        let (a, r) = writer.await.unwrap();
        acknowledged.extend(a);
        refused += r;
    }
    (acknowledged, refused)
}

/// After a fault ends the server serves again by itself: within `grace`, and then without a miss.
async fn recovers(t: &TestApp, token: &str, target: i64, grace: Duration) -> HashMap<i64, String> {
    let ended = Instant::now();
    let deadline = ended + grace;
    loop {
        let r = t.get("/v1/users/me").cookie(token).send().await;
        if served_or_unavailable(&r) {
            eprintln!("served again {:?} after the fault ended", ended.elapsed());
            break;
        }
        assert!(Instant::now() < deadline, "no recovery within {grace:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut acknowledged = HashMap::new();
    for i in 0..20 {
        let reason = format!("after-{i}");
        let r = t
            .post(&format!("/v1/admin/users/{target}/warn"))
            .cookie(token)
            .json(json!({"reason": reason}))
            .send()
            .await;
        acknowledged.insert(r.assert_ok()["action"]["id"].as_i64().unwrap(), reason);
    }
    acknowledged
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_killed_mid_load() {
    let Some(t) = TestApp::new(Kind::Postgres, |c| c.database.acquire_timeout_ms = 1_000).await else {
        return;
    };
    let (token, target) = staff_and_target(&t).await;
    let database = t.pg_database().unwrap().to_owned();
    let t = Arc::new(t);
    let mut admin = sqlx::PgConnection::connect(&pg_admin_url()).await.unwrap();
    let kills = Arc::new(Mutex::new(0_u64));
    let killed = kills.clone();
    // Every backend of the test database is terminated, 40 times 25 ms apart.
    let fault = async move {
        for _ in 0..40 {
            let (n,): (i64,) = sqlx::query_as(
                "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
            )
            .bind(&database)
            .fetch_one(&mut admin)
            .await
            .unwrap();
            *killed.lock().unwrap() += n as u64;
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    };
    let (mut acknowledged, refused) = warn_under_fault(&t, &token, target, fault).await;
    let kills = *kills.lock().unwrap();
    eprintln!(
        "connections killed: {kills}; acknowledged writes: {}; refused with 503: {refused}",
        acknowledged.len()
    );
    assert!(kills > 0 && refused > 0, "the fault did not hit any request");
    acknowledged.extend(recovers(&t, &token, target, Duration::from_secs(2)).await);
    acknowledged_actions_are_audited(&t, target, &acknowledged).await;
}

/// A TCP proxy in front of PostgreSQL that a test can cut: open connections are dropped and new
/// ones are closed at once, as when the database host restarts or the network goes away.
struct CuttableProxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    live: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl CuttableProxy {
    async fn start(upstream: String) -> CuttableProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let live: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (accept_up, accept_live) = (up.clone(), live.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !accept_up.load(Ordering::SeqCst) {
                    continue;
                }
                let upstream = upstream.clone();
                let pipe = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                accept_live.lock().unwrap().push(pipe.abort_handle());
            }
        });
        CuttableProxy { addr, up, live, accept }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for pipe in self.live.lock().unwrap().drain(..) {
            pipe.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }

    /// `url` with its host and port replaced by the proxy's.
    fn route(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").unwrap();
        let (user, rest) = rest
            .split_once('@')
            .map(|(u, r)| (format!("{u}@"), r))
            .unwrap_or((String::new(), rest));
        let path = rest.find('/').map(|i| &rest[i..]).unwrap_or("");
        format!("{scheme}://{user}{}{path}", self.addr)
    }
}

impl Drop for CuttableProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// host:port of the test PostgreSQL server.
fn pg_host_port() -> String {
    let url = pg_admin_url();
    let rest = url.split_once("://").unwrap().1;
    let rest = rest.rsplit_once('@').map(|(_, r)| r).unwrap_or(rest);
    let authority = rest.split(['/', '?']).next().unwrap();
    if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:5432")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_briefly_unreachable() {
    let proxy = CuttableProxy::start(pg_host_port()).await;
    let Some(t) = TestApp::new_routed(
        Kind::Postgres,
        |c| c.database.acquire_timeout_ms = 500,
        |url| proxy.route(url),
    )
    .await
    else {
        return;
    };
    let (token, target) = staff_and_target(&t).await;
    let t = Arc::new(t);
    // The database is away for 1.5 s in the middle of the load.
    let outage = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        proxy.cut();
        // While it is away, every kind of request is answered promptly, with 503.
        for _ in 0..3 {
            let started = Instant::now();
            let r = t
                .post(&format!("/v1/admin/users/{target}/warn"))
                .cookie(&token)
                .json(json!({"reason": "during the outage"}))
                .send()
                .await;
            r.assert_error(503, "ERR_SERVICE_UNAVAILABLE");
            eprintln!("a write during the outage was refused after {:?}", started.elapsed());
            assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
            let health = t.get("/health").send().await;
            assert_eq!(health.status.as_u16(), 503, "{}", health.body);
            assert_eq!(health.body["status"], "unhealthy");
            assert_eq!(health.body["code"], "ERR_SERVICE_UNAVAILABLE");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        proxy.restore();
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let (mut acknowledged, refused) = warn_under_fault(&t, &token, target, outage).await;
    eprintln!(
        "acknowledged writes: {}; refused with 503: {refused}",
        acknowledged.len()
    );
    assert!(refused > 0, "the outage did not hit any request");
    acknowledged.extend(recovers(&t, &token, target, Duration::from_secs(3)).await);
    t.get("/health").send().await.assert_ok();
    acknowledged_actions_are_audited(&t, target, &acknowledged).await;
    let mut conn = t.conn().await;
    let (outage_rows,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM moderation_actions WHERE reason = 'during the outage'")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    assert_eq!(outage_rows, 0);
}

async fn integrity_check(t: &TestApp) {
    let mut conn = t.conn().await;
    let (verdict,): (String,) = sqlx::query_as("PRAGMA integrity_check")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(verdict, "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_busy_is_retried_then_503_and_the_file_stays_whole() {
    let t = TestApp::new(Kind::Sqlite, |c| c.database.busy_timeout_ms = 300)
        .await
        .unwrap();
    let (token, target) = staff_and_target(&t).await;
    // Another process holds the write lock.
    let url = t.app.config.effective_database_url();
    let mut holder = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE").execute(&mut holder).await.unwrap();
    for _ in 0..3 {
        let started = Instant::now();
        let r = t
            .post(&format!("/v1/admin/users/{target}/warn"))
            .cookie(&token)
            .json(json!({"reason": "while locked"}))
            .send()
            .await;
        let waited = started.elapsed();
        r.assert_error(503, "ERR_SERVICE_UNAVAILABLE");
        eprintln!("a write on the locked file was refused after {waited:?}");
        // SQLite retried for busy_timeout before giving up, and not much longer.
        assert!(
            waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
            "{waited:?}"
        );
    }
    // Readers are not blocked by a writer (WAL).
    t.get(&format!("/v1/users/{target}"))
        .cookie(&token)
        .send()
        .await
        .assert_ok();
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    drop(holder);
    t.post(&format!("/v1/admin/users/{target}/warn"))
        .cookie(&token)
        .json(json!({"reason": "after the lock"}))
        .send()
        .await
        .assert_ok();
    integrity_check(&t).await;
    let mut conn = t.conn().await;
    let (reasons,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM moderation_actions WHERE reason = 'while locked'")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(reasons, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_writers_queue_on_the_lock_instead_of_failing() {
    let t = TestApp::new(Kind::Sqlite, |_| {}).await.unwrap();
    let (token, target) = staff_and_target(&t).await;
    let t = Arc::new(t);
    let mut writers = Vec::new();
    for w in 0..8 {
        let (t, token) = (t.clone(), token.clone());
        writers.push(tokio::spawn(async move {
            let mut acknowledged = HashMap::new();
            for i in 0..25 {
                let reason = format!("q{w}-{i}");
                let r = t
                    .post(&format!("/v1/admin/users/{target}/warn"))
                    .cookie(&token)
                    .json(json!({"reason": reason}))
                    .send()
                    .await;
                acknowledged.insert(r.assert_ok()["action"]["id"].as_i64().unwrap(), reason);
            }
            acknowledged
        }));
    }
    let mut acknowledged = HashMap::new();
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }
    assert_eq!(acknowledged.len(), 200);
    acknowledged_actions_are_audited(&t, target, &acknowledged).await;
    integrity_check(&t).await;
}

/// What one writer of the `kill -9` load got acknowledged.
#[derive(Default)]
struct Acknowledged {
    actions: HashMap<i64, String>,
    /// The last username answered 200, and whether a later one was in flight at the kill.
    username: Option<String>,
    username_in_flight: Option<String>,
    batch_count: i64,
    batch_count_in_flight: i64,
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// One request of the load: `Some` when it was answered, `None` when the server was gone.
async fn load_request(addr: SocketAddr, path: &str, credential: (&str, &str), body: Value) -> Option<WireResponse> {
    let r = wire::send(addr, "POST", path, &[credential], Some(&body)).await.ok()?;
    assert!(r.status == 200, "{path}: {} {}", r.status, r.text());
    Some(r)
}

async fn write_until_killed(addr: SocketAddr, admin: String, user: String, bot: String, target: i64) -> Acknowledged {
    let mut acks = Acknowledged::default();
    let admin_cookie = format!("psession={admin}");
    let user_cookie = format!("psession={user}");
    for i in 0.. {
        let reason = format!("k-{i}");
        // Warnings, and timeouts that each lift the one before.
        let (path, body) = if i % 2 == 0 {
            (format!("/v1/admin/users/{target}/warn"), json!({"reason": reason}))
        } else {
            (
                format!("/v1/admin/users/{target}/timeout"),
                json!({"reason": reason, "duration": 600}),
            )
        };
        let Some(r) = load_request(addr, &path, ("Cookie", &admin_cookie), body).await else {
            break;
        };
        acks.actions.insert(r.json()["action"]["id"].as_i64().unwrap(), reason);
        let username = format!("renamed{i}");
        let Some(r) = load_request(
            addr,
            "/v1/users/me/update",
            ("Cookie", &user_cookie),
            json!({"username": username}),
        )
        .await
        else {
            acks.username_in_flight = Some(username);
            break;
        };
        assert_eq!(r.json()["user"]["username"], username.as_str());
        acks.username = Some(username);
        let batch = json!({"commands": [{"command": "kill9", "count": 3, "timestamp": now_rfc3339()}]});
        if load_request(addr, "/v1/bot/batch", ("X-API-Key", &bot), batch)
            .await
            .is_none()
        {
            acks.batch_count_in_flight = 3;
            break;
        }
        acks.batch_count += 3;
    }
    acks
}

async fn kill_nine_under_write_load(t: TestApp) {
    let bot = t.login_bot().await;
    t.user("100", 2).await;
    let target = t.user("200", 0).await.id;
    t.user("300", 0).await;
    let url = t.app.config.effective_database_url();
    let mut server = ServerProcess::start(&url, &[]).await;
    let (admin, _) = server.login(&bot, "100").await;
    let (user, _) = server.login(&bot, "300").await;
    let load = tokio::spawn(write_until_killed(
        server.addr,
        admin.clone(),
        user.clone(),
        bot.clone(),
        target,
    ));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    server.kill();
    let acks = load.await.unwrap();
    eprintln!(
        "{:?}: acknowledged before kill -9: {} moderation actions, {} batch counts, username {:?}",
        t.backend(),
        acks.actions.len(),
        acks.batch_count,
        acks.username
    );
    assert!(acks.actions.len() > 5, "the load did not get going");

    if t.backend() == portal::store::Backend::Sqlite {
        integrity_check(&t).await;
    }
    let server = ServerProcess::start(&url, &[]).await;
    acknowledged_actions_are_audited(&t, target, &acks.actions).await;
    let mut conn = t.conn().await;
    let (stored,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM moderation_actions WHERE user_id = $1")
        .bind(target)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    // At most the one action in flight at the kill was written without its answer.
    assert!(stored as usize <= acks.actions.len() + 1, "{stored}");
    drop(conn);
    // Sessions survive the crash; the profile holds the last acknowledged name, or the one in flight.
    let me = server
        .send("GET", "/v1/users/me", &[("Cookie", &format!("psession={user}"))], None)
        .await
        .unwrap();
    assert_eq!(me.status, 200, "{}", me.text());
    let name = me.json()["username"].as_str().unwrap().to_owned();
    let allowed: Vec<String> = [
        acks.username.clone().or(Some("u300".into())),
        acks.username_in_flight.clone(),
    ]
    .into_iter()
    .flatten()
    .collect();
    assert!(allowed.contains(&name), "{name} not in {allowed:?}");
    let usage = server
        .send("GET", "/v1/bot/me/commands", &[("X-API-Key", &bot)], None)
        .await
        .unwrap();
    assert_eq!(usage.status, 200, "{}", usage.text());
    let count = usage
        .json()
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["command"] == "kill9")
        .map(|c| c["count"].as_i64().unwrap())
        .unwrap_or(0);
    assert!(
        count >= acks.batch_count && count <= acks.batch_count + acks.batch_count_in_flight,
        "{count} vs {} acknowledged",
        acks.batch_count
    );
    // And the restarted server takes writes again.
    let r = server
        .send(
            "POST",
            &format!("/v1/admin/users/{target}/warn"),
            &[("Cookie", &format!("psession={admin}"))],
            Some(&json!({"reason": "after restart"})),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
}

both_backends!(kill_nine_loses_no_acknowledged_write, |t: TestApp| async move {
    kill_nine_under_write_load(t).await;
});
