//! `POST /v1/authentication/stranger` (91-matchmaking §8.1): its steps in order, the cookie, and
//! the creation limit of an address group under attack.

use super::{new_stranger, BECOME};
use crate::common::{People, TestApp, HOUR, SECOND};
use serde_json::json;

fn three_per_hour(config: &mut portal::config::Config) {
    config.stranger.max_per_hour = 3;
}

async fn strangers(t: &TestApp) -> i64 {
    t.count("SELECT COUNT(*) FROM users WHERE kind = 'stranger'").await
}

both_backends!(
    a_stranger_is_made_with_one_session_and_its_cookie,
    |t: TestApp| async move {
        let created = t.post(BECOME).header("user-agent", "stranger-test/1.0").send().await;
        let body = created.assert_ok();
        assert_eq!(body["user_created"], true);
        assert_eq!(body["kind"], "stranger");
        assert_eq!(body["permission_level"], 0);
        assert_eq!(body["subscription_tier"], 0);
        assert_eq!(body["avatar_url"], json!(null));
        assert_eq!(body["linked_platforms"], json!([]));
        let username = body["username"].as_str().unwrap();
        let parts: Vec<&str> = username.split('-').collect();
        assert_eq!(parts.len(), 3, "{username}");
        assert!(parts[..2]
            .iter()
            .all(|w| (3..=10).contains(&w.len()) && w.bytes().all(|b| b.is_ascii_lowercase())));
        assert!(
            parts[2].len() == 4 && parts[2].bytes().all(|b| b.is_ascii_digit()),
            "{username}"
        );
        let cookie = created.header("set-cookie").unwrap();
        assert!(cookie.split("; ").any(|a| a == "Max-Age=86400"), "{cookie}");
        let token = created.session_cookie().unwrap();

        // Its one session is as verify makes them; the address group is stored, never shown.
        let id = body["id"].as_i64().unwrap();
        let mut conn = t.conn().await;
        let (ip, agent, ttl, group): (String, Option<String>, i64, Option<String>) = sqlx::query_as(
            "SELECT s.client_ip, s.user_agent, s.expires_at - s.created_at, u.created_from_group \
         FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.id = $1",
        )
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        assert_eq!(
            (ip.as_str(), agent.as_deref(), ttl, group.as_deref()),
            (
                "203.0.113.10",
                Some("stranger-test/1.0"),
                86_400 * SECOND,
                Some("203.0.113.10")
            )
        );
        let me = t.get("/v1/users/me").cookie(&token).send().await;
        assert_eq!(me.assert_ok()["kind"], "stranger");
        assert_eq!(me.body["username"], username);
        assert!(!me.body.to_string().contains("203.0.113"));

        // Step 1: a stranger asking again gets itself back, and nothing is made or counted.
        let again = t.post(BECOME).cookie(&token).send().await;
        assert_eq!(again.assert_ok()["user_created"], false);
        assert_eq!(again.body["id"], id);
        assert!(again.header("set-cookie").is_none());
        assert_eq!(strangers(&t).await, 1);
        assert_eq!(t.count("SELECT COUNT(*) FROM stranger_creations").await, 1);
    }
);

both_backends!(a_registered_session_is_refused_and_kept, |t: TestApp| async move {
    let people = People::new(&t).await;
    let (_, alice) = people.at("alice", 0).await;
    t.post(BECOME)
        .cookie(&alice)
        .send()
        .await
        .assert_error(409, "ERR_ALREADY_SIGNED_IN");
    assert_eq!(strangers(&t).await, 0);
    assert_eq!(
        t.get("/v1/users/me").cookie(&alice).send().await.assert_ok()["kind"],
        "registered"
    );
});

both_backends!(
    a_stranger_block_on_the_address_group_refuses_creation,
    |t: TestApp| async move {
        let now = t.app.now();
        let ends = now + HOUR * SECOND;
        t.exec(&format!(
            "INSERT INTO stranger_blocks (user_id, username, address_group, reason, issued_by_id, created_at, expires_at) \
             VALUES (99, 'gone-otter-0001', '203.0.113.10', 'spam', 1, {now}, {ends})"
        ))
        .await;
        let refused = t.post(BECOME).send().await;
        refused.assert_error(403, "ERR_STRANGER_BLOCKED");
        assert_eq!(refused.body["expires_at"], crate::common::rfc3339(ends));
        assert_eq!(strangers(&t).await, 0);
        // Another address group is not covered.
        t.exec("UPDATE stranger_blocks SET address_group = '198.51.100.7'")
            .await;
        new_stranger(&t).await;
    }
);

both_backends!(
    the_address_group_may_create_so_many_strangers_an_hour,
    three_per_hour,
    |t: TestApp| async move {
        for _ in 0..3 {
            new_stranger(&t).await;
            t.clock.advance_secs(600);
        }
        let refused = t.post(BECOME).send().await;
        refused.assert_error(429, "ERR_TOO_MANY_STRANGER_SESSIONS");
        // The oldest creation leaves the window 3600 s after it was made: 1800 s from now.
        assert_eq!(refused.header("retry-after"), Some("1800"));
        assert!(refused.session_cookie().is_none());
        t.clock.advance_secs(1799);
        t.post(BECOME)
            .send()
            .await
            .assert_error(429, "ERR_TOO_MANY_STRANGER_SESSIONS");
        t.clock.advance_secs(1);
        new_stranger(&t).await;
        // A deleted stranger does not give its creation back.
        t.exec("DELETE FROM users WHERE kind = 'stranger'").await;
        t.post(BECOME)
            .send()
            .await
            .assert_error(429, "ERR_TOO_MANY_STRANGER_SESSIONS");
    }
);

// The attack: many creations sent at once from one address group, to get past the hourly limit
// between its check and its insert. The check and the creation are one step per group.
both_backends!(
    creations_sent_at_once_never_pass_the_limit,
    three_per_hour,
    |t: TestApp| async move {
        let t = std::sync::Arc::new(t);
        let attempts: Vec<_> = (0..24)
            .map(|_| {
                let t = t.clone();
                tokio::spawn(async move { t.post(BECOME).send().await.status.as_u16() })
            })
            .collect();
        let mut statuses = Vec::new();
        for attempt in attempts {
            statuses.push(attempt.await.unwrap());
        }
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 3, "{statuses:?}");
        assert!(statuses.iter().all(|s| *s == 200 || *s == 429), "{statuses:?}");
        assert_eq!(strangers(&t).await, 3);
    }
);

both_backends!(a_page_of_another_site_cannot_make_a_stranger, |t: TestApp| async move {
    t.post(BECOME)
        .header("origin", "https://evil.example")
        .send()
        .await
        .assert_error(403, "ERR_FORBIDDEN");
    assert_eq!(strangers(&t).await, 0);
    assert_eq!(t.count("SELECT COUNT(*) FROM stranger_creations").await, 0);
});
