//! The hourly quota of a bot and the rate-limit headers it reads.

use super::*;

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
