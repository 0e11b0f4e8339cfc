//! Bots (50-bots) and statistics (70-statistics-health §1), through HTTP on both backends.

use std::collections::BTreeMap;

use crate::common::{keys, TestApp, TestResponse};
use portal::config::Config;
use portal::store::users::UserRow;
use portal::time::{Timestamp, MICROS_PER_SECOND};
use serde_json::{json, Value};

const PRIVATE_FIELDS: [&str; 17] = [
    "api_key_created_at",
    "api_key_prefix",
    "avatar_url",
    "bot_type",
    "created_at",
    "groups",
    "id",
    "is_active",
    "is_verified",
    "last_activity_at",
    "latency_ms",
    "name",
    "owner_id",
    "platform",
    "rate_limit_per_hour",
    "updated_at",
    "users",
];

const PUBLIC_FIELDS: [&str; 10] = [
    "avatar_url",
    "created_at",
    "groups",
    "id",
    "is_verified",
    "last_activity_at",
    "latency_ms",
    "name",
    "updated_at",
    "users",
];

/// A staff member with a live session.
struct Staff {
    user: UserRow,
    token: String,
}

async fn staff(t: &TestApp, login_key: &str, platform_user_id: &str, level: i64) -> Staff {
    let user = t.user(platform_user_id, level).await;
    let token = t.login(login_key, platform_user_id).await;
    Staff { user, token }
}

async fn register(t: &TestApp, by: &Staff, body: Value) -> TestResponse {
    t.post("/v1/admin/bots").cookie(&by.token).json(body).send().await
}

/// Registers a bot through the API and returns (id, key).
async fn registered(t: &TestApp, by: &Staff, name: &str, owner_id: i64, rate_limit_per_hour: i64) -> (i64, String) {
    let r = register(
        t,
        by,
        json!({"name": name, "owner_id": owner_id, "platform": "discord", "rate_limit_per_hour": rate_limit_per_hour}),
    )
    .await;
    let body = r.assert_ok();
    (
        body["bot"]["id"].as_i64().unwrap(),
        body["api_key"].as_str().unwrap().to_owned(),
    )
}

async fn bot_id_of(t: &TestApp, key: &str) -> i64 {
    t.get("/v1/bot/me").key(key).send().await.assert_ok()["id"]
        .as_i64()
        .unwrap()
}

async fn audit_events(t: &TestApp, bot_id: i64) -> Vec<(String, Value)> {
    let mut conn = t.conn().await;
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT event_type, metadata FROM audit_log WHERE target_type = 'bot' AND target_id = $1 ORDER BY id",
    )
    .bind(bot_id)
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(event, metadata)| (event, serde_json::from_str(&metadata).unwrap()))
        .collect()
}

fn sorted(fields: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

fn rfc3339(micros: i64) -> String {
    Timestamp(micros).to_rfc3339()
}

both_backends!(registration_key_regeneration_and_deletion, |t: TestApp| async move {
    let login_key = t.login_bot().await;
    let owner = staff(&t, &login_key, "owner-1", 3).await;

    let r = register(
        &t,
        &owner,
        json!({"name": "  My Bot  ", "owner_id": owner.user.id, "platform": "Discord", "rate_limit_per_hour": 100}),
    )
    .await;
    let body = r.assert_ok().clone();
    assert_eq!(body["message"], "Bot registered successfully");
    let key = body["api_key"].as_str().unwrap().to_owned();
    assert_eq!(key.len(), 45);
    assert!(key.starts_with("hbot_") && key[5..].bytes().all(|b| b.is_ascii_alphanumeric()));
    let bot = &body["bot"];
    assert_eq!(keys(bot), sorted(&PRIVATE_FIELDS));
    assert_eq!(bot["name"], "My Bot");
    assert_eq!(bot["platform"], "discord");
    assert_eq!(bot["owner_id"], owner.user.id);
    assert_eq!(bot["bot_type"], 3);
    assert_eq!(bot["is_verified"], false);
    assert_eq!(bot["is_active"], true);
    assert_eq!(bot["rate_limit_per_hour"], 100);
    assert_eq!(bot["api_key_prefix"], &key[..9]);
    assert_eq!(body["created_at"], bot["created_at"]);
    let id = bot["id"].as_i64().unwrap();

    // The key works and names the bot; only its digest is stored.
    let me = t.get("/v1/bot/me").key(&key).send().await;
    assert_eq!(me.assert_ok()["id"], id);
    assert_eq!(keys(&me.body), sorted(&PRIVATE_FIELDS));

    t.clock.advance_secs(5);
    let r = t
        .post(&format!("/v1/admin/bots/{id}/regenerate-key"))
        .cookie(&owner.token)
        .send()
        .await;
    let regenerated = r.assert_ok().clone();
    let new_key = regenerated["api_key"].as_str().unwrap().to_owned();
    assert_ne!(new_key, key);
    assert_eq!(regenerated["message"], "API key regenerated for bot My Bot");
    assert_eq!(regenerated["bot"]["api_key_prefix"], &new_key[..9]);
    assert_ne!(regenerated["bot"]["api_key_created_at"], bot["api_key_created_at"]);
    assert_eq!(regenerated["created_at"], bot["created_at"]);

    // The old key is dead at once; the new one works.
    t.get("/v1/bot/me")
        .key(&key)
        .send()
        .await
        .assert_error(401, "ERR_INVALID_API_KEY");
    assert_eq!(bot_id_of(&t, &new_key).await, id);

    let events = audit_events(&t, id).await;
    let names: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(names, ["BOT_REGISTER", "BOT_KEY_REGENERATE"]);
    assert_eq!(events[0].1["key_prefix"], &key[..9]);
    assert_eq!(events[1].1["old_key_prefix"], &key[..9]);
    assert_eq!(events[1].1["new_key_prefix"], &new_key[..9]);
    let mut conn = t.conn().await;
    let (leaks,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_log WHERE metadata LIKE $1 OR metadata LIKE $2")
        .bind(format!("%{key}%"))
        .bind(format!("%{new_key}%"))
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(leaks, 0, "keys never reach the audit log");
    drop(conn);

    // Deactivation refuses the key and hides the bot from the public; staff still see it.
    t.post(&format!("/v1/admin/bots/{id}/update"))
        .cookie(&owner.token)
        .json(json!({"is_active": false}))
        .send()
        .await
        .assert_ok();
    t.get("/v1/bot/me")
        .key(&new_key)
        .send()
        .await
        .assert_error(403, "ERR_BOT_INACTIVE");
    t.get(&format!("/v1/bots/{id}"))
        .send()
        .await
        .assert_error(404, "ERR_BOT_NOT_FOUND");
    let staff_view = t.get(&format!("/v1/bots/{id}")).cookie(&owner.token).send().await;
    assert_eq!(staff_view.assert_ok()["is_active"], false);
    assert_eq!(keys(&staff_view.body), sorted(&PRIVATE_FIELDS));
    t.post(&format!("/v1/admin/bots/{id}/update"))
        .cookie(&owner.token)
        .json(json!({"is_active": true}))
        .send()
        .await
        .assert_ok();
    assert_eq!(bot_id_of(&t, &new_key).await, id);
    let public_view = t.get(&format!("/v1/bots/{id}")).send().await;
    assert_eq!(keys(public_view.assert_ok()), sorted(&PUBLIC_FIELDS));

    // Deletion removes the bot, its key and its command aggregates.
    let now = rfc3339(t.app.now());
    t.post("/v1/bot/batch")
        .key(&new_key)
        .json(json!({"commands": [{"command": "help", "timestamp": now}]}))
        .send()
        .await
        .assert_ok();
    let r = t
        .post(&format!("/v1/admin/bots/{id}/delete"))
        .cookie(&owner.token)
        .send()
        .await;
    assert_eq!(r.assert_ok()["message"], "Bot 'My Bot' deleted");
    t.get("/v1/bot/me")
        .key(&new_key)
        .send()
        .await
        .assert_error(401, "ERR_INVALID_API_KEY");
    t.get(&format!("/v1/bots/{id}"))
        .cookie(&owner.token)
        .send()
        .await
        .assert_error(404, "ERR_BOT_NOT_FOUND");
    t.post(&format!("/v1/admin/bots/{id}/delete"))
        .cookie(&owner.token)
        .send()
        .await
        .assert_error(404, "ERR_BOT_NOT_FOUND");
    let mut conn = t.conn().await;
    let (stats,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM bot_command_stats WHERE bot_id = $1")
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(stats, 0);
    drop(conn);
    let events = audit_events(&t, id).await;
    let (last, metadata) = events.last().unwrap();
    assert_eq!(last, "BOT_DELETE");
    assert_eq!(metadata["name"], "My Bot");
    assert_eq!(metadata["owner_id"], owner.user.id);
});

both_backends!(a_batch_of_1000_records_is_counted_exactly, |t: TestApp| async move {
    let owner = t.user("owner-1", 3).await;
    let key = t.bot(&owner, "Counter", "discord", 3).await;
    let now = t.app.now();
    let names = ["help", "stats", "play", "skip"];
    let mut expected: BTreeMap<&str, i64> = BTreeMap::new();
    let records: Vec<Value> = (0..1000)
        .map(|i: i64| {
            let command = names[(i % 4) as usize];
            let count = i % 7 + 1;
            *expected.entry(command).or_default() += count;
            let at = now - (i % 48) * 1800 * MICROS_PER_SECOND - i * MICROS_PER_SECOND;
            let mut record = json!({"command": command, "count": count, "timestamp": rfc3339(at)});
            if i % 3 == 0 {
                record["user_id"] = json!(42);
                record["group_id"] = json!("1229891286278865008");
            } else if i % 3 == 1 {
                record["group_id"] = json!(10);
            }
            record
        })
        .collect();
    let r = t
        .post("/v1/bot/batch")
        .key(&key)
        .json(json!({"commands": records}))
        .send()
        .await;
    let body = r.assert_ok();
    assert_eq!(body["accepted"], 1000);
    assert_eq!(body["message"], "Batch update processed successfully");

    let r = t.get("/v1/bot/me/commands").key(&key).send().await;
    let usage = r.assert_ok().as_array().unwrap().clone();
    assert_eq!(r.header("x-total-count"), Some("4"));
    let got: BTreeMap<String, i64> = usage
        .iter()
        .map(|u| (u["command"].as_str().unwrap().to_owned(), u["count"].as_i64().unwrap()))
        .collect();
    let want: BTreeMap<String, i64> = expected.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    assert_eq!(got, want);
    let counts: Vec<i64> = usage.iter().map(|u| u["count"].as_i64().unwrap()).collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "sorted by count: {counts:?}");
    assert_eq!(usage[0].as_object().unwrap().len(), 4);

    // A second batch adds to the same buckets.
    t.post("/v1/bot/batch")
        .key(&key)
        .json(json!({"commands": [{"command": " help ", "count": 5, "timestamp": rfc3339(now)}]}))
        .send()
        .await
        .assert_ok();
    let id = bot_id_of(&t, &key).await;
    let staff_token = {
        let login_key = t.login_bot().await;
        t.login(&login_key, "owner-1").await
    };
    let r = t
        .get(&format!("/v1/admin/bots/{id}/commands"))
        .cookie(&staff_token)
        .send()
        .await;
    let help = r
        .assert_ok()
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["command"] == "help")
        .unwrap()
        .clone();
    assert_eq!(help["count"], expected["help"] + 5);
    assert_eq!(help["last_at"], rfc3339(now));

    // A window that ends half a day ago sees only the older part.
    let until = rfc3339(now - 12 * 3600 * MICROS_PER_SECOND);
    let r = t
        .get(&format!("/v1/bot/me/commands?until={}", until.replace(':', "%3A")))
        .key(&key)
        .send()
        .await;
    let early: i64 = r
        .assert_ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["count"].as_i64().unwrap())
        .sum();
    assert!(early > 0 && early < want.values().sum::<i64>());

    // 1001 records: refused whole, nothing counted.
    let too_many: Vec<Value> = (0..1001)
        .map(|_| json!({"command": "help", "timestamp": rfc3339(now)}))
        .collect();
    let r = t
        .post("/v1/bot/batch")
        .key(&key)
        .json(json!({"commands": too_many}))
        .send()
        .await;
    r.assert_error(400, "ERR_VALIDATION");
    assert_eq!(r.body["field"], "commands");
    assert_eq!(r.body["error"], "commands must have at most 1000 items");
    let mut conn = t.conn().await;
    let (total,): (i64,) = sqlx::query_as("SELECT CAST(SUM(count) AS BIGINT) FROM bot_command_stats WHERE bot_id = $1")
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(total, want.values().sum::<i64>() + 5);
});

fn header_u64(r: &TestResponse, name: &str) -> u64 {
    r.header(name)
        .unwrap_or_else(|| panic!("{name} missing"))
        .parse()
        .unwrap()
}

both_backends!(the_hourly_quota_refuses_the_sixth_request, |t: TestApp| async move {
    let login_key = t.login_bot().await;
    let owner = staff(&t, &login_key, "owner-1", 3).await;
    let (id, key) = registered(&t, &owner, "Small Bot", owner.user.id, 5).await;

    // The per-minute tiers are off in the harness; the quota still applies, on any endpoint.
    for remaining in (0..5).rev() {
        let path = if remaining % 2 == 0 { "/v1/bot/me" } else { "/v1/bots" };
        let r = t.get(path).key(&key).send().await;
        r.assert_ok();
        assert_eq!(header_u64(&r, "ratelimit-limit"), 5);
        assert_eq!(header_u64(&r, "ratelimit-remaining"), remaining);
    }
    let r = t.get("/v1/bot/me").key(&key).send().await;
    r.assert_error(429, "ERR_BOT_QUOTA_EXCEEDED");
    assert_eq!(r.body["error"], "Hourly request quota exceeded for this bot");
    assert_eq!(header_u64(&r, "retry-after"), 720);
    assert_eq!(header_u64(&r, "ratelimit-limit"), 5);
    assert_eq!(header_u64(&r, "ratelimit-remaining"), 0);
    assert_eq!(header_u64(&r, "ratelimit-reset"), 3600);
    // Public endpoints called with the key are refused too, and a refusal takes nothing.
    t.get("/v1/statistics/bots")
        .key(&key)
        .send()
        .await
        .assert_error(429, "ERR_BOT_QUOTA_EXCEEDED");

    // One request comes back every 720 seconds.
    t.clock.advance_secs(720);
    let r = t.get("/v1/bot/me").key(&key).send().await;
    r.assert_ok();
    assert_eq!(header_u64(&r, "ratelimit-remaining"), 0);
    t.get("/v1/bot/me")
        .key(&key)
        .send()
        .await
        .assert_error(429, "ERR_BOT_QUOTA_EXCEEDED");

    // A raised quota applies from the next request; other bots are unaffected.
    t.post(&format!("/v1/admin/bots/{id}/update"))
        .cookie(&owner.token)
        .json(json!({"rate_limit_per_hour": 3600}))
        .send()
        .await
        .assert_ok();
    t.clock.advance_secs(2);
    let r = t.get("/v1/bot/me").key(&key).send().await;
    r.assert_ok();
    assert_eq!(header_u64(&r, "ratelimit-limit"), 3600);
    t.get("/v1/bot/me").key(&login_key).send().await.assert_ok();
});

both_backends!(
    rate_limit_headers_describe_the_tighter_of_tier_and_quota,
    |c: &mut Config| c.rate_limit.bot = 3,
    |t: TestApp| async move {
        let owner = t.user("owner-1", 3).await;
        let key = t.bot(&owner, "Tight", "discord", 3).await;
        let mut conn = t.conn().await;
        sqlx::query("UPDATE bots SET rate_limit_per_hour = 5")
            .execute(&mut *conn)
            .await
            .unwrap();
        drop(conn);

        // Tier 3/min has fewer left than quota 5/h: the tier is described.
        let r = t.get("/v1/bot/me").key(&key).send().await;
        r.assert_ok();
        assert_eq!(header_u64(&r, "ratelimit-limit"), 3);
        assert_eq!(header_u64(&r, "ratelimit-remaining"), 2);
        t.get("/v1/bot/me").key(&key).send().await.assert_ok();
        t.get("/v1/bot/me").key(&key).send().await.assert_ok();
        // The tier refuses first, and that refusal costs no quota.
        let r = t.get("/v1/bot/me").key(&key).send().await;
        r.assert_error(429, "ERR_RATE_LIMITED");
        assert_eq!(header_u64(&r, "ratelimit-limit"), 3);

        // A minute later the tier is full again and the quota (2 left) is the tighter one.
        t.clock.advance_secs(60);
        let r = t.get("/v1/bot/me").key(&key).send().await;
        r.assert_ok();
        assert_eq!(header_u64(&r, "ratelimit-limit"), 5);
        assert_eq!(header_u64(&r, "ratelimit-remaining"), 1);
        t.get("/v1/bot/me").key(&key).send().await.assert_ok();
        let r = t.get("/v1/bot/me").key(&key).send().await;
        r.assert_error(429, "ERR_BOT_QUOTA_EXCEEDED");
        assert_eq!(header_u64(&r, "ratelimit-limit"), 5);
        assert_eq!(header_u64(&r, "ratelimit-remaining"), 0);
    }
);

async fn statistics(t: &TestApp, what: &str) -> Value {
    let r = t.get(&format!("/v1/statistics/{what}")).send().await;
    r.assert_ok().clone()
}

async fn exec(t: &TestApp, sql: &str) {
    let mut conn = t.conn().await;
    sqlx::query(sql).execute(&mut *conn).await.unwrap();
}

async fn add_chat(t: &TestApp, owner_id: i64, visibility: &str) {
    let now = t.app.now();
    let mut conn = t.conn().await;
    sqlx::query(
        "INSERT INTO chats (name, owner_id, visibility, last_activity_at, created_at, updated_at) \
         VALUES ('chat', $1, $2, $3, $3, $3)",
    )
    .bind(owner_id)
    .bind(visibility)
    .bind(now)
    .execute(&mut *conn)
    .await
    .unwrap();
}

both_backends!(
    statistics_count_users_bots_and_chats,
    |c: &mut Config| c.statistics.cache_s = 0,
    |t: TestApp| async move {
        let empty = statistics(&t, "app").await;
        assert_eq!(empty["users"]["total_count"], 0);
        assert_eq!(empty["bots"]["total_count"], 0);
        assert_eq!(empty["chats"]["total_count"], 0);
        assert_eq!(empty["application_name"], "Portal API");
        assert_eq!(empty["version"], env!("CARGO_PKG_VERSION"));

        let owner = t.user("owner-1", 3).await;
        let premium = t.user("premium", 0).await;
        let expired = t.user("expired", 0).await;
        let lifetime = t.user("lifetime", 0).await;
        let idle = t.user("idle", 0).await;
        let now = t.app.now();
        let day = 24 * 3600 * MICROS_PER_SECOND;
        exec(
            &t,
            &format!(
                "UPDATE users SET subscription_tier = 2, subscription_expires_at = {} WHERE id = {}",
                now + day,
                premium.id
            ),
        )
        .await;
        exec(
            &t,
            &format!(
                "UPDATE users SET subscription_tier = 1, subscription_expires_at = {} WHERE id = {}",
                now - 1,
                expired.id
            ),
        )
        .await;
        exec(
            &t,
            &format!("UPDATE users SET subscription_tier = 3 WHERE id = {}", lifetime.id),
        )
        .await;
        exec(
            &t,
            &format!(
                "UPDATE users SET last_activity_at = {} WHERE id = {}",
                now - 2 * day,
                idle.id
            ),
        )
        .await;
        let users = statistics(&t, "users").await;
        assert_eq!(
            users,
            json!({"total_count": 5, "basic_count": 3, "trial_count": 0, "premium_count": 1, "lifetime_count": 1, "active_24h_count": 4})
        );

        t.bot(&owner, "Official", "discord", 1).await;
        t.bot(&owner, "Verified", "discord", 2).await;
        t.bot(&owner, "Community", "discord", 3).await;
        t.bot(&owner, "Quiet", "telegram", 3).await;
        exec(&t, "UPDATE bots SET is_active = 0 WHERE name = 'Quiet'").await;
        let bots = statistics(&t, "bots").await;
        assert_eq!(
            bots,
            json!({"total_count": 4, "verified_count": 2, "official_count": 1, "community_count": 2, "active_count": 3})
        );

        add_chat(&t, owner.id, "official").await;
        add_chat(&t, owner.id, "public").await;
        add_chat(&t, owner.id, "private").await;
        add_chat(&t, owner.id, "private").await;
        let chats = statistics(&t, "chats").await;
        assert_eq!(chats, json!({"total_count": 4, "public_count": 2, "private_count": 2}));

        t.clock.advance_secs(42);
        let app = statistics(&t, "app").await;
        assert_eq!(app["uptime_seconds"], 42);
        assert_eq!(app["users"], users);
        assert_eq!(app["bots"], bots);
        assert_eq!(app["chats"], chats);
        assert!(app["started_at"].as_str().unwrap().ends_with('Z'));
    }
);

both_backends!(statistics_are_cached_and_say_so, |t: TestApp| async move {
    t.user("first", 0).await;
    let r = t.get("/v1/statistics/users").send().await;
    assert_eq!(r.assert_ok()["total_count"], 1);
    assert_eq!(r.header("cache-control"), Some("private, max-age=10"));

    // Within 10 seconds the cached count is served; after that it is computed anew.
    t.user("second", 0).await;
    t.clock.advance_secs(9);
    assert_eq!(statistics(&t, "users").await["total_count"], 1);
    assert_eq!(statistics(&t, "app").await["users"]["total_count"], 1);
    t.clock.advance_secs(2);
    assert_eq!(statistics(&t, "users").await["total_count"], 2);

    // Everything else is not to be stored, errors included.
    let r = t.get("/v1/bots").send().await;
    r.assert_ok();
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let r = t.get("/v1/nope").send().await;
    r.assert_error(404, "ERR_NOT_FOUND");
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let r = t.get("/v1/statistics/users").key("hbot_unknown").send().await;
    r.assert_error(401, "ERR_INVALID_API_KEY");
    assert_eq!(r.header("cache-control"), Some("no-store"));
});

/// Every refusal is a 400 naming the field, and leaves the bot as it was.
#[track_caller]
fn refused(r: &TestResponse, field: &str, message: &str) {
    r.assert_error(400, "ERR_VALIDATION");
    assert_eq!(r.body["field"], field, "body: {}", r.body);
    assert_eq!(r.body["error"], message, "body: {}", r.body);
}

both_backends!(bad_input_is_refused_and_changes_nothing, |t: TestApp| async move {
    let login_key = t.login_bot().await;
    let owner = staff(&t, &login_key, "owner-1", 3).await;
    let (id, key) = registered(&t, &owner, "Steady", owner.user.id, 1000).await;
    let bots_before = t.get("/v1/admin/bots").cookie(&owner.token).send().await;
    let me_before = t.get("/v1/bot/me").key(&key).send().await.assert_ok().clone();
    let audit_before = audit_events(&t, id).await.len();

    // Registration.
    let base = json!({"name": "Fine", "owner_id": owner.user.id, "platform": "discord"});
    let with = |field: &str, value: Value| {
        let mut body = base.clone();
        body[field] = value;
        body
    };
    let cases = [
        (with("name", json!("a")), "name", "name must be at least 2 characters"),
        (
            with("name", json!("   a   ")),
            "name",
            "name must be at least 2 characters",
        ),
        (
            with("name", json!("x".repeat(33))),
            "name",
            "name must be at most 32 characters",
        ),
        (with("name", json!(7)), "name", "name must be a string"),
        (with("owner_id", json!("5")), "owner_id", "owner_id must be an integer"),
        (with("owner_id", json!(0)), "owner_id", "owner_id must be at least 1"),
        (
            with("platform", json!("myspace")),
            "platform",
            "platform must be one of: discord, telegram",
        ),
        (
            with("rate_limit_per_hour", json!(0)),
            "rate_limit_per_hour",
            "rate_limit_per_hour must be between 1 and 100000",
        ),
        (
            with("rate_limit_per_hour", json!(100_001)),
            "rate_limit_per_hour",
            "rate_limit_per_hour must be between 1 and 100000",
        ),
    ];
    for (body, field, message) in cases {
        refused(&register(&t, &owner, body).await, field, message);
    }
    let r = register(&t, &owner, json!({"owner_id": owner.user.id, "platform": "discord"})).await;
    refused(&r, "name", "name is required");
    register(&t, &owner, with("owner_id", json!(999_999)))
        .await
        .assert_error(404, "ERR_USER_NOT_FOUND");
    register(&t, &owner, with("name", json!("STEADY")))
        .await
        .assert_error(409, "ERR_BOT_NAME_TAKEN");

    // Self-update: all or nothing.
    let update = |body: Value| t.post("/v1/bot/me/update").key(&key).json(body).send();
    let cases = [
        (json!({"name": "x"}), "name", "name must be at least 2 characters"),
        (
            json!({"name": "y".repeat(33)}),
            "name",
            "name must be at most 32 characters",
        ),
        (
            json!({"name": "Good Name", "latency_ms": 10_001}),
            "latency_ms",
            "latency_ms must be between 0 and 10000",
        ),
        (
            json!({"latency_ms": -0.5}),
            "latency_ms",
            "latency_ms must be between 0 and 10000",
        ),
        (
            json!({"latency_ms": "fast"}),
            "latency_ms",
            "latency_ms must be a number",
        ),
        (
            json!({"users": -1}),
            "users",
            "users must be between 0 and 9007199254740991",
        ),
        (
            json!({"users": 9_007_199_254_740_992_i64}),
            "users",
            "users must be between 0 and 9007199254740991",
        ),
        (json!({"users": 1.5}), "users", "users must be an integer"),
        (
            json!({"group_ids": [1, -2]}),
            "group_ids[1]",
            "group_ids[1] must be at least 0",
        ),
        (
            json!({"group_ids": ["a", true]}),
            "group_ids[1]",
            "group_ids[1] must be a string or an integer",
        ),
        (
            json!({"group_ids": [""]}),
            "group_ids[0]",
            "group_ids[0] must be at least 1 characters",
        ),
        (json!({"group_ids": "1,2"}), "group_ids", "group_ids must be an array"),
        (
            json!({"avatar_url": "ftp://example.org/a.png"}),
            "avatar_url",
            "avatar_url must be a valid URL",
        ),
        (
            json!({"users": 10, "avatar_url": 5}),
            "avatar_url",
            "avatar_url must be a string",
        ),
    ];
    for (body, field, message) in cases {
        refused(&update(body).await, field, message);
    }
    let too_many_groups: Vec<i64> = (0..50_001).collect();
    refused(
        &update(json!({"group_ids": too_many_groups})).await,
        "group_ids",
        "group_ids must have at most 50000 items",
    );
    let me_after = t.get("/v1/bot/me").key(&key).send().await.assert_ok().clone();
    assert_eq!(
        me_after, me_before,
        "a refused update changes nothing, not even the heartbeat"
    );
    assert_eq!(me_after["last_activity_at"], Value::Null);

    // Batch: all or nothing, errors name the record.
    let now = t.app.now();
    let ok = json!({"command": "help", "timestamp": rfc3339(now)});
    let batch = |second: Value| {
        t.post("/v1/bot/batch")
            .key(&key)
            .json(json!({"commands": [ok.clone(), second]}))
            .send()
    };
    let minute = 60 * MICROS_PER_SECOND;
    let cases = [
        (
            json!({"command": "help", "count": -1, "timestamp": rfc3339(now)}),
            "commands[1].count",
            "commands[1].count must be between 1 and 1000000",
        ),
        (
            json!({"command": "help", "count": 0, "timestamp": rfc3339(now)}),
            "commands[1].count",
            "commands[1].count must be between 1 and 1000000",
        ),
        (
            json!({"command": "help", "count": 1_000_001, "timestamp": rfc3339(now)}),
            "commands[1].count",
            "commands[1].count must be between 1 and 1000000",
        ),
        (
            json!({"command": "help", "timestamp": "yesterday"}),
            "commands[1].timestamp",
            "commands[1].timestamp must be a valid timestamp",
        ),
        (
            json!({"command": "help", "timestamp": "2026-03-19 12:00:00"}),
            "commands[1].timestamp",
            "commands[1].timestamp must be a valid timestamp",
        ),
        (
            json!({"command": "help", "timestamp": rfc3339(now + 6 * minute)}),
            "commands[1].timestamp",
            "commands[1].timestamp must be at most 5 minutes in the future",
        ),
        (
            json!({"command": "help", "timestamp": rfc3339(now - 31 * 24 * 60 * minute)}),
            "commands[1].timestamp",
            "commands[1].timestamp must be at most 30 days in the past",
        ),
        (
            json!({"command": "help"}),
            "commands[1].timestamp",
            "commands[1].timestamp is required",
        ),
        (
            json!({"command": "   ", "timestamp": rfc3339(now)}),
            "commands[1].command",
            "commands[1].command must be at least 1 characters",
        ),
        (
            json!({"command": "help", "user_id": 0, "timestamp": rfc3339(now)}),
            "commands[1].user_id",
            "commands[1].user_id must be at least 1",
        ),
        (
            json!({"command": "help", "group_id": -3, "timestamp": rfc3339(now)}),
            "commands[1].group_id",
            "commands[1].group_id must be at least 0",
        ),
        (json!("help"), "commands[1]", "commands[1] must be an object"),
    ];
    for (second, field, message) in cases {
        refused(&batch(second).await, field, message);
    }
    let r = t.post("/v1/bot/batch").key(&key).json(json!({})).send().await;
    refused(&r, "commands", "commands is required");
    let r = t
        .post("/v1/bot/batch")
        .key(&key)
        .json(json!({"commands": {"command": "help"}}))
        .send()
        .await;
    refused(&r, "commands", "commands must be an array");
    let r = t.get("/v1/bot/me/commands").key(&key).send().await;
    assert_eq!(r.assert_ok(), &json!([]));
    let r = t
        .get("/v1/bot/me/commands?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z")
        .key(&key)
        .send()
        .await;
    refused(&r, "since", "since must be before until");
    let r = t.get("/v1/bot/me/commands?since=soon").key(&key).send().await;
    refused(&r, "since", "since must be a valid timestamp");
    let r = t
        .get("/v1/bot/me/commands?since=2024-01-01T00:00:00Z&until=2025-01-02T00:00:00Z")
        .key(&key)
        .send()
        .await;
    refused(&r, "since", "since must be at most 366 days before until");

    // Admin update.
    let admin_update = |body: Value| {
        t.post(&format!("/v1/admin/bots/{id}/update"))
            .cookie(&owner.token)
            .json(body)
            .send()
    };
    let type_message = "bot_type must be one of: official, verified, community, 1, 2, 3";
    let cases = [
        (json!({"bot_type": "gold"}), "bot_type", type_message),
        (
            json!({"rate_limit_per_hour": 5, "bot_type": 4}),
            "bot_type",
            type_message,
        ),
        (json!({"bot_type": 1.0}), "bot_type", type_message),
        (json!({"is_active": "no"}), "is_active", "is_active must be a boolean"),
        (json!({"name": "z"}), "name", "name must be at least 2 characters"),
        (
            json!({"rate_limit_per_hour": 0}),
            "rate_limit_per_hour",
            "rate_limit_per_hour must be between 1 and 100000",
        ),
    ];
    for (body, field, message) in cases {
        refused(&admin_update(body).await, field, message);
    }
    let r = t
        .post("/v1/admin/bots/abc/update")
        .cookie(&owner.token)
        .json(json!({}))
        .send()
        .await;
    refused(&r, "bot_id", "bot_id must be a positive integer");
    t.post("/v1/admin/bots/424242/update")
        .cookie(&owner.token)
        .json(json!({"bot_type": 2}))
        .send()
        .await
        .assert_error(404, "ERR_BOT_NOT_FOUND");
    let r = t.get("/v1/admin/bots?limit=26").cookie(&owner.token).send().await;
    refused(&r, "limit", "limit must be between 1 and 25");

    // Nothing changed anywhere.
    let me_final = t.get("/v1/bot/me").key(&key).send().await.assert_ok().clone();
    assert_eq!(me_final, me_before);
    let bots_after = t.get("/v1/admin/bots").cookie(&owner.token).send().await;
    assert_eq!(bots_after.assert_ok(), bots_before.assert_ok());
    assert_eq!(bots_after.header("x-total-count"), Some("2"));
    assert_eq!(audit_events(&t, id).await.len(), audit_before);
});

both_backends!(
    a_bot_reports_itself_and_staff_update_it_with_audit,
    |t: TestApp| async move {
        let login_key = t.login_bot().await;
        let owner = staff(&t, &login_key, "owner-1", 3).await;
        let (id, key) = registered(&t, &owner, "Reporter", owner.user.id, 1000).await;
        let other_owner = t.user("someone", 0).await;
        t.bot(&other_owner, "Taken Name", "discord", 3).await;
        t.bot(&other_owner, "Elsewhere", "telegram", 3).await;

        // An empty body is a heartbeat.
        t.clock.advance_secs(10);
        let r = t.post("/v1/bot/me/update").key(&key).send().await;
        let beat = r.assert_ok().clone();
        assert_eq!(beat["message"], "Bot updated successfully");
        assert_eq!(beat["bot"]["last_activity_at"], rfc3339(t.app.now()));
        assert_eq!(beat["updated_at"], beat["bot"]["updated_at"]);
        assert_eq!(beat["bot"]["name"], "Reporter");

        let r = t
            .post("/v1/bot/me/update")
            .key(&key)
            .json(
                json!({"name": " Reporter v2 ", "avatar_url": "https://cdn.example.org/b.png",
                     "group_ids": ["1229891286278865008", "987654321098765432", 10, "10"],
                     "users": 5000, "latency_ms": 42.5}),
            )
            .send()
            .await;
        let bot = r.assert_ok()["bot"].clone();
        assert_eq!(bot["name"], "Reporter v2");
        assert_eq!(bot["groups"], 3);
        assert_eq!(bot["users"], 5000);
        assert_eq!(bot["latency_ms"], 42.5);
        assert_eq!(bot["avatar_url"], "https://cdn.example.org/b.png");
        // `null` clears the avatar; absent fields stay.
        let r = t
            .post("/v1/bot/me/update")
            .key(&key)
            .json(json!({"avatar_url": null}))
            .send()
            .await;
        let bot = r.assert_ok()["bot"].clone();
        assert_eq!(bot["avatar_url"], Value::Null);
        assert_eq!(bot["users"], 5000);
        // Names are unique per platform, regardless of case.
        t.post("/v1/bot/me/update")
            .key(&key)
            .json(json!({"name": "taken name"}))
            .send()
            .await
            .assert_error(409, "ERR_BOT_NAME_TAKEN");
        t.post("/v1/bot/me/update")
            .key(&key)
            .json(json!({"name": "Elsewhere"}))
            .send()
            .await
            .assert_ok();
        assert!(
            audit_events(&t, id).await.iter().all(|(e, _)| e == "BOT_REGISTER"),
            "self-updates are not audited"
        );

        // Staff update: type and quota in one request write two rows.
        let r = t
            .post(&format!("/v1/admin/bots/{id}/update"))
            .cookie(&owner.token)
            .json(json!({"bot_type": "Official", "rate_limit_per_hour": 2000}))
            .send()
            .await;
        let body = r.assert_ok();
        assert_eq!(body["message"], format!("Bot {id} updated"));
        assert_eq!(body["bot"]["bot_type"], 1);
        assert_eq!(body["bot"]["is_verified"], true);
        assert_eq!(body["bot"]["rate_limit_per_hour"], 2000);
        let events = audit_events(&t, id).await;
        let tail: Vec<&(String, Value)> = events.iter().skip(1).collect();
        assert_eq!(tail.len(), 2);
        assert_eq!(tail[0].0, "BOT_UPDATE");
        assert_eq!(
            tail[0].1["changes"],
            json!({"rate_limit_per_hour": {"old": 1000, "new": 2000}})
        );
        assert_eq!(tail[1].0, "BOT_VERIFY");
        assert_eq!(tail[1].1, json!({"old_bot_type": 3, "new_bot_type": 1}));

        // Unchanged values and an empty body write nothing.
        let count = events.len();
        for body in [
            json!({}),
            json!({"bot_type": 1, "rate_limit_per_hour": 2000, "is_active": true}),
        ] {
            t.post(&format!("/v1/admin/bots/{id}/update"))
                .cookie(&owner.token)
                .json(body)
                .send()
                .await
                .assert_ok();
        }
        assert_eq!(audit_events(&t, id).await.len(), count);
        t.post(&format!("/v1/admin/bots/{id}/update"))
            .cookie(&owner.token)
            .json(json!({"bot_type": 3}))
            .send()
            .await
            .assert_ok();
        let events = audit_events(&t, id).await;
        assert_eq!(events.last().unwrap().0, "BOT_UNVERIFY");

        // Owner change: to an existing user the actor outranks.
        let r = t
            .post(&format!("/v1/admin/bots/{id}/update"))
            .cookie(&owner.token)
            .json(json!({"owner_id": other_owner.id}))
            .send()
            .await;
        assert_eq!(r.assert_ok()["bot"]["owner_id"], other_owner.id);
        t.post(&format!("/v1/admin/bots/{id}/update"))
            .cookie(&owner.token)
            .json(json!({"owner_id": 999_999}))
            .send()
            .await
            .assert_error(404, "ERR_USER_NOT_FOUND");

        // Reset-stats zeroes the report but keeps the last activity.
        let last_activity = t.get("/v1/bot/me").key(&key).send().await.body["last_activity_at"].clone();
        let r = t
            .post(&format!("/v1/admin/bots/{id}/reset-stats"))
            .cookie(&owner.token)
            .send()
            .await;
        let body = r.assert_ok();
        assert_eq!(body["message"], "Statistics reset for bot 'Elsewhere'");
        assert_eq!(body["bot"]["groups"], 0);
        assert_eq!(body["bot"]["users"], 0);
        assert_eq!(body["bot"]["latency_ms"], Value::Null);
        assert_eq!(body["bot"]["last_activity_at"], last_activity);
        let (event, metadata) = audit_events(&t, id).await.pop().unwrap();
        assert_eq!(event, "BOT_STATS_RESET");
        assert_eq!(
            metadata,
            json!({"old_groups": 3, "old_users": 5000, "old_latency_ms": 42.5})
        );
    }
);

both_backends!(who_may_manage_a_bot, |t: TestApp| async move {
    let login_key = t.login_bot().await;
    let admin_a = staff(&t, &login_key, "admin-a", 2).await;
    let admin_b = staff(&t, &login_key, "admin-b", 2).await;
    let owner = staff(&t, &login_key, "owner-1", 3).await;
    let member = staff(&t, &login_key, "member", 0).await;

    // Registration: for oneself or for someone one outranks.
    let (own_id, _) = registered(&t, &admin_a, "A Own", admin_a.user.id, 1000).await;
    registered(&t, &admin_a, "A For Member", member.user.id, 1000).await;
    register(
        &t,
        &admin_a,
        json!({"name": "A For B", "owner_id": admin_b.user.id, "platform": "discord"}),
    )
    .await
    .assert_error(403, "ERR_HIERARCHY");
    let (b_id, _) = registered(&t, &admin_b, "B Own", admin_b.user.id, 1000).await;

    // Admin A may not touch Admin B's bot; the Owner may.
    for action in ["update", "regenerate-key", "reset-stats", "delete"] {
        t.post(&format!("/v1/admin/bots/{b_id}/{action}"))
            .cookie(&admin_a.token)
            .json(json!({"rate_limit_per_hour": 7}))
            .send()
            .await
            .assert_error(403, "ERR_HIERARCHY");
    }
    t.post(&format!("/v1/admin/bots/{b_id}/reset-stats"))
        .cookie(&owner.token)
        .send()
        .await
        .assert_ok();
    // Giving one's own bot away is checked against the new owner too.
    t.post(&format!("/v1/admin/bots/{own_id}/update"))
        .cookie(&admin_a.token)
        .json(json!({"owner_id": admin_b.user.id}))
        .send()
        .await
        .assert_error(403, "ERR_HIERARCHY");
    t.post(&format!("/v1/admin/bots/{own_id}/update"))
        .cookie(&admin_a.token)
        .json(json!({"owner_id": member.user.id}))
        .send()
        .await
        .assert_ok();

    // Below Admin: refused before anything else.
    t.get("/v1/admin/bots")
        .cookie(&member.token)
        .send()
        .await
        .assert_error(403, "ERR_INSUFFICIENT_PERMISSION");
    register(&t, &member, json!({}))
        .await
        .assert_error(403, "ERR_INSUFFICIENT_PERMISSION");
    t.get("/v1/admin/bots")
        .send()
        .await
        .assert_error(401, "ERR_AUTH_REQUIRED");

    // A timed-out Admin may read but not write, whatever the body holds.
    let now = t.app.now();
    let expires = now + 3600 * MICROS_PER_SECOND;
    exec(
        &t,
        &format!(
            "INSERT INTO moderation_actions (user_id, action_type, expires_at, created_at) \
             VALUES ({}, 'PLATFORM_TIMEOUT', {expires}, {now})",
            admin_a.user.id
        ),
    )
    .await;
    let r = register(&t, &admin_a, json!({"name": "x"})).await;
    r.assert_error(403, "ERR_ACCOUNT_TIMED_OUT");
    assert_eq!(r.body["expires_at"], rfc3339(expires));
    t.post(&format!("/v1/admin/bots/{own_id}/update"))
        .cookie(&admin_a.token)
        .raw(Some("application/json"), "{not json")
        .send()
        .await
        .assert_error(403, "ERR_ACCOUNT_TIMED_OUT");
    t.post(&format!("/v1/admin/bots/{own_id}/regenerate-key"))
        .cookie(&admin_a.token)
        .send()
        .await
        .assert_error(403, "ERR_ACCOUNT_TIMED_OUT");
    let r = t.get("/v1/admin/bots").cookie(&admin_a.token).send().await;
    r.assert_ok();
    assert_eq!(r.header("x-total-count"), Some("4"));
    t.get(&format!("/v1/admin/bots/{own_id}/commands"))
        .cookie(&admin_a.token)
        .send()
        .await
        .assert_ok();

    // The origin check applies to admin POSTs.
    t.post(&format!("/v1/admin/bots/{b_id}/reset-stats"))
        .cookie(&owner.token)
        .header("origin", "https://evil.example")
        .send()
        .await
        .assert_error(403, "ERR_FORBIDDEN");
});

both_backends!(public_listing_search_and_lookup, |t: TestApp| async move {
    let login_key = t.login_bot().await;
    let owner = staff(&t, &login_key, "owner-1", 3).await;
    let member = staff(&t, &login_key, "member", 0).await;
    let alpha = t.bot(&owner.user, "Alpha Bot", "discord", 2).await;
    let beta = t.bot(&member.user, "Beta_Bot", "telegram", 3).await;
    t.bot(&owner.user, "Gamma", "discord", 3).await;
    exec(&t, "UPDATE bots SET is_active = 0 WHERE name = 'Gamma'").await;
    let alpha_id = bot_id_of(&t, &alpha).await;

    // The public list: active bots only, public view, by id.
    let r = t.get("/v1/bots").send().await;
    let list = r.assert_ok().as_array().unwrap().clone();
    assert_eq!(r.header("x-total-count"), Some("3"));
    let names: Vec<&str> = list.iter().map(|b| b["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Login Bot", "Alpha Bot", "Beta_Bot"]);
    assert!(list.iter().all(|b| keys(b) == sorted(&PUBLIC_FIELDS)));
    let r = t.get("/v1/bots?limit=1&offset=1").cookie(&owner.token).send().await;
    assert_eq!(r.assert_ok().as_array().unwrap().len(), 1);
    assert_eq!(
        keys(&r.body[0]),
        sorted(&PUBLIC_FIELDS),
        "the list is public even for staff"
    );
    refused(
        &t.get("/v1/bots?limit=101").send().await,
        "limit",
        "limit must be between 1 and 100",
    );
    refused(
        &t.get("/v1/bots/0").send().await,
        "bot_id",
        "bot_id must be a positive integer",
    );

    // Search: a member sees active bots in the public view.
    let search = |path: &str, token: &str| t.get(path).cookie(token).send();
    let r = search("/v1/bots/search?q=BOT", &member.token).await;
    let body = r.assert_ok();
    assert_eq!(body["total"], 3);
    assert_eq!(body["limit"], 25);
    assert!(body["bots"]
        .as_array()
        .unwrap()
        .iter()
        .all(|b| keys(b) == sorted(&PUBLIC_FIELDS)));
    let r = search("/v1/bots/search?q=_", &member.token).await;
    assert_eq!(r.assert_ok()["total"], 1, "_ is an ordinary character");
    let r = search("/v1/bots/search?q=gamma", &member.token).await;
    assert_eq!(r.assert_ok()["total"], 0);
    let r = search(&format!("/v1/bots/search?q={alpha_id}"), &member.token).await;
    assert_eq!(r.assert_ok()["bots"][0]["id"], alpha_id);
    let r = search("/v1/bots/search?bot_type=verified", &member.token).await;
    assert_eq!(r.assert_ok()["total"], 1);
    search(&format!("/v1/bots/search?owner={}", owner.user.id), &member.token)
        .await
        .assert_error(403, "ERR_INSUFFICIENT_PERMISSION");
    refused(
        &search(&format!("/v1/bots/search?q={}", "q".repeat(51)), &member.token).await,
        "q",
        "q must be at most 50 characters",
    );
    refused(
        &search("/v1/bots/search?bot_type=gold", &member.token).await,
        "bot_type",
        "bot_type must be one of: official, verified, community, 1, 2, 3",
    );
    t.get("/v1/bots/search")
        .send()
        .await
        .assert_error(401, "ERR_AUTH_REQUIRED");
    // Staff: inactive bots too, private view, owner filter.
    let r = search(&format!("/v1/bots/search?owner={}", owner.user.id), &owner.token).await;
    let body = r.assert_ok();
    assert_eq!(body["total"], 2);
    assert!(body["bots"]
        .as_array()
        .unwrap()
        .iter()
        .all(|b| keys(b) == sorted(&PRIVATE_FIELDS)));

    // Lookup by platform identity, on the bot's own platform only.
    let r = t.get("/v1/bot/users/member").key(&alpha).send().await;
    let found = r.assert_ok();
    assert_eq!(found["id"], member.user.id);
    assert_eq!(found["state"], 0);
    assert_eq!(found["permission_level"], 0);
    assert_eq!(
        keys(found),
        sorted(&[
            "avatar_url",
            "created_at",
            "id",
            "last_activity_at",
            "permission_level",
            "state",
            "subscription_tier",
            "updated_at",
            "username"
        ])
    );
    t.get("/v1/bot/users/member")
        .key(&beta)
        .send()
        .await
        .assert_error(404, "ERR_USER_NOT_FOUND");
    t.get("/v1/bot/users/nobody")
        .key(&alpha)
        .send()
        .await
        .assert_error(404, "ERR_USER_NOT_FOUND");
    refused(
        &t.get("/v1/bot/users/bad$id").key(&alpha).send().await,
        "platform_user_id",
        "platform_user_id contains invalid characters",
    );

    // Bot endpoints need a bot key: a session or nothing is not enough.
    let r = t.get("/v1/bot/me").cookie(&owner.token).send().await;
    r.assert_error(401, "ERR_AUTH_REQUIRED");
    assert_eq!(r.body["error"], "Bot API key required");
    t.get("/v1/bot/me")
        .key("hbot_short")
        .send()
        .await
        .assert_error(401, "ERR_INVALID_API_KEY");
});

both_backends!(an_elevated_user_view_lists_the_bots, |t: TestApp| async move {
    let login_key = t.login_bot().await;
    let owner = staff(&t, &login_key, "owner-1", 3).await;
    let maker = t.user("maker", 0).await;
    let first = t.bot(&maker, "First", "discord", 3).await;
    t.bot(&maker, "Second", "telegram", 1).await;
    exec(&t, "UPDATE bots SET is_active = 0 WHERE name = 'Second'").await;

    let r = t
        .get(&format!("/v1/users/{}", maker.id))
        .cookie(&owner.token)
        .send()
        .await;
    let bots = r.assert_ok()["bots"].as_array().unwrap().clone();
    let mut names: Vec<&str> = bots.iter().map(|b| b["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["First", "Second"]);
    assert!(bots.iter().all(|b| keys(b) == sorted(&PRIVATE_FIELDS)));
    assert!(bots.iter().all(|b| b["owner_id"] == maker.id));

    // Anyone else gets the public card, without bots.
    let r = t.get(&format!("/v1/users/{}", maker.id)).key(&first).send().await;
    assert!(r.assert_ok().get("bots").is_none());
});

// With one pooled connection every statement is reused: a heartbeat (no latency) followed by a
// report with a latency must both work on that connection.
both_backends!(
    a_latency_report_after_a_heartbeat_on_one_connection,
    |c: &mut Config| c.database.max_connections = Some(1),
    |t: TestApp| async move {
        let owner = t.user("owner-1", 3).await;
        let key = t.bot(&owner, "Pinger", "discord", 3).await;
        for latency in [Value::Null, json!(42.5), Value::Null, json!(7)] {
            let body = match &latency {
                Value::Null => json!({}),
                value => json!({"latency_ms": value}),
            };
            let r = t.post("/v1/bot/me/update").key(&key).json(body).send().await;
            let reported = &r.assert_ok()["bot"]["latency_ms"];
            if !latency.is_null() {
                assert_eq!(reported.as_f64(), latency.as_f64());
            }
        }
    }
);
