//! Statistics (70-statistics-health §1): the counts of users, bots and chats, and their cache.

use crate::common::TestApp;
use portal::config::Config;
use portal::time::MICROS_PER_SECOND;
use serde_json::{json, Value};

async fn statistics(t: &TestApp, what: &str) -> Value {
    let r = t.get(&format!("/v1/statistics/{what}")).send().await;
    r.assert_ok().clone()
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
        t.set_subscription(premium.id, 2, Some(now + day)).await;
        t.set_subscription(expired.id, 1, Some(now - 1)).await;
        t.set_subscription(lifetime.id, 3, None).await;
        t.exec(&format!(
            "UPDATE users SET last_activity_at = {} WHERE id = {}",
            now - 2 * day,
            idle.id
        ))
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
        t.exec("UPDATE bots SET is_active = 0 WHERE name = 'Quiet'").await;
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
        assert_eq!(
            chats,
            json!({"total_count": 4, "public_count": 2, "private_count": 2, "running_count": 0, "viewer_count": 0})
        );

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
