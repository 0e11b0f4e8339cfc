//! The user API: the rank-graded profile views, self-service and search.

use crate::common::{keys, TestApp};
use portal::action_type::ActionType;
use portal::level::Level;
use portal::store::{self, users::UserRow};
use serde_json::{json, Value};

const PUBLIC_KEYS: [&str; 4] = ["avatar_url", "id", "subscription_tier", "username"];
const DETAIL_KEYS: [&str; 21] = [
    "avatar_source",
    "avatar_url",
    "bots",
    "chats",
    "created_at",
    "id",
    "kind",
    "last_activity_at",
    "linked_platforms",
    "moderation_actions",
    "permission_history",
    "permission_level",
    "permission_since",
    "session_history",
    "state",
    "subscription_expires_at",
    "subscription_granted_by",
    "subscription_history",
    "subscription_tier",
    "updated_at",
    "username",
];

fn detail_keys() -> Vec<String> {
    DETAIL_KEYS.iter().map(|s| s.to_string()).collect()
}

/// An ended session with geo, written directly (as verify and logout would leave it).
async fn ended_session(t: &TestApp, user: &UserRow, suffix: &str, geo: Option<Value>, reason: &str) {
    let now = t.app.now();
    let mut conn = t.conn().await;
    let inserted = store::sessions::insert_unless_suffix_live(
        &mut conn,
        store::sessions::NewSession {
            user_id: user.id,
            token_hash: &portal::crypto::sha256_hex(suffix),
            token_suffix: suffix,
            expires_at: now + 3_600_000_000,
            client_ip: "198.51.100.7",
            user_agent: Some("Mozilla/5.0 (Test)"),
            geo: geo.map(|g| g.to_string()),
            now,
        },
    )
    .await
    .unwrap();
    assert!(inserted);
    sqlx::query("UPDATE sessions SET ended_at = $1, end_reason = $2 WHERE token_suffix = $3")
        .bind(now + 60_000_000)
        .bind(reason)
        .bind(suffix)
        .execute(&mut *conn)
        .await
        .unwrap();
}

/// 20-users §2: the view and whether `session_history` is filled.
fn expected_view(viewer: Option<Level>, target: Level) -> (&'static str, bool) {
    match viewer {
        Some(v) if v >= Level::Admin && portal::level::can_act_on(v, target) => ("detail", v == Level::Owner),
        _ => ("public", false),
    }
}

both_backends!(the_view_matrix_holds, |t: TestApp| async move {
    let bot = t.login_bot().await;
    let levels = [Level::User, Level::Moderator, Level::Admin, Level::Owner];
    let mut targets = Vec::new();
    let mut viewers = Vec::new();
    for level in levels {
        let target = t.user(&format!("t{}", level.as_i64()), level.as_i64()).await;
        ended_session(&t, &target, &format!("ended{}", level.as_i64()), None, "logout").await;
        targets.push((level, target));
        let viewer = t.user(&format!("v{}", level.as_i64()), level.as_i64()).await;
        let token = t.login(&bot, &format!("v{}", level.as_i64())).await;
        viewers.push((Some(level), Some(token), viewer.id));
    }
    viewers.push((None, None, 0));
    for (viewer_level, token, _) in &viewers {
        for (target_level, target) in &targets {
            let request = t.get(&format!("/v1/users/{}", target.id));
            let request = match token {
                Some(token) => request.cookie(token),
                None => request.key(&bot),
            };
            let r = request.send().await;
            let body = r.assert_ok();
            let (view, sessions) = expected_view(*viewer_level, *target_level);
            let label = format!("viewer {viewer_level:?} → target {target_level:?}");
            if view == "public" {
                assert_eq!(keys(body), PUBLIC_KEYS, "{label}");
            } else {
                assert_eq!(keys(body), detail_keys(), "{label}");
                assert_eq!(
                    body["session_history"].as_array().unwrap().len(),
                    usize::from(sessions),
                    "{label}"
                );
            }
        }
    }
    // The user themself: public, except for an Owner.
    for (viewer_level, token, viewer_id) in viewers.iter().filter(|v| v.1.is_some()) {
        let r = t
            .get(&format!("/v1/users/{viewer_id}"))
            .cookie(token.as_ref().unwrap())
            .send()
            .await;
        let expected = if *viewer_level == Some(Level::Owner) {
            detail_keys()
        } else {
            PUBLIC_KEYS.iter().map(|s| s.to_string()).collect()
        };
        assert_eq!(keys(r.assert_ok()), expected, "self view of {viewer_level:?}");
    }
    // By username, the same rules.
    let owner_token = viewers[3].1.clone().unwrap();
    let r = t.get("/v1/users/profile/UT0").cookie(&owner_token).send().await;
    assert_eq!(keys(r.assert_ok()), detail_keys());
    // Without any credential: 401, even with no public keys configured.
    t.get(&format!("/v1/users/{}", targets[0].1.id))
        .send()
        .await
        .assert_error(401, "ERR_AUTH_REQUIRED");
});

// Public cards that miss the cache together are read by one statement with an id list of one of a
// few lengths, padded with a repeated id; a key the statement did not return is read again by its
// own reader. Whatever batches form, each answer is its own user's card and an unknown id a 404.
both_backends!(cards_read_together_are_each_their_own_user, |t: TestApp| async move {
    let bot = t.login_bot().await;
    let mut users = Vec::new();
    for i in 0..45 {
        users.push(t.user(&format!("card{i}"), 0).await);
    }
    let unknown = users.iter().map(|u| u.id).max().unwrap() + 1_000;
    // Rounds of 1, 3, 4, 5, 33 and 45 reads at once: every list length, its padding and a
    // batch of more than one statement.
    let mut next = 0;
    for round in [1, 3, 4, 5, 33, 45] {
        t.clock.advance_secs(2);
        let ids: Vec<i64> = (0..round).map(|i| users[(next + i) % users.len()].id).collect();
        next += round;
        let reads = ids
            .iter()
            .chain(std::iter::once(&unknown))
            .map(|id| t.get(&format!("/v1/users/{id}")).key(&bot).send());
        let answers = futures_util::future::join_all(reads).await;
        let (known, missing) = answers.split_at(ids.len());
        for (id, answer) in ids.iter().zip(known) {
            let body = answer.assert_ok();
            let user = users.iter().find(|u| u.id == *id).unwrap();
            assert_eq!(body["id"], *id);
            assert_eq!(body["username"], user.username.as_str());
        }
        missing[0].assert_error(404, "ERR_USER_NOT_FOUND");
    }
});

both_backends!(profile_bad_input, |t: TestApp| async move {
    let bot = t.login_bot().await;
    for bad in ["0", "-1", "abc", "99999999999999999999", "1.5"] {
        let r = t.get(&format!("/v1/users/{bad}")).key(&bot).send().await;
        r.assert_error(400, "ERR_VALIDATION");
        assert_eq!(r.body["error"], "user_id must be a positive integer");
    }
    t.get("/v1/users/424242")
        .key(&bot)
        .send()
        .await
        .assert_error(404, "ERR_USER_NOT_FOUND");
    t.get("/v1/users/profile/nobody-here")
        .key(&bot)
        .send()
        .await
        .assert_error(404, "ERR_USER_NOT_FOUND");
    t.get(&format!("/v1/users/profile/{}", "a".repeat(200)))
        .key(&bot)
        .send()
        .await
        .assert_error(404, "ERR_USER_NOT_FOUND");
    t.get("/v1/users/profile/%FF%FE")
        .key(&bot)
        .send()
        .await
        .assert_error(404, "ERR_NOT_FOUND");
    t.get("/v1/users/me/")
        .key(&bot)
        .send()
        .await
        .assert_error(404, "ERR_NOT_FOUND");
});

both_backends!(update_me_applies_fields_independently, |t: TestApp| async move {
    let bot = t.login_bot().await;
    t.user("taken", 0).await;
    let me = t.user("me", 0).await;
    let token = t.login(&bot, "me").await;
    let r = t
        .post("/v1/users/me/update")
        .cookie(&token)
        .json(json!({"username": "bad name!", "avatar_source": "discord_3"}))
        .send()
        .await;
    let body = r.assert_ok();
    assert_eq!(
        body["errors"],
        json!({"username": "username contains invalid characters"})
    );
    assert_eq!(body["user"]["username"], me.username);
    assert_eq!(
        body["user"]["avatar_url"],
        "https://cdn.discordapp.com/embed/avatars/3.png"
    );

    let r = t
        .post("/v1/users/me/update")
        .cookie(&token)
        .json(json!({"username": "UTAKEN"}))
        .send()
        .await;
    assert_eq!(
        r.assert_ok()["errors"],
        json!({"username": "username is already taken"})
    );
    let r = t
        .post("/v1/users/me/update")
        .cookie(&token)
        .json(json!({"username": 5, "avatar_source": 7}))
        .send()
        .await;
    assert_eq!(
        r.assert_ok()["errors"],
        json!({"username": "username must be a string", "avatar_source": "avatar_source must be a string"})
    );
    let r = t
        .post("/v1/users/me/update")
        .cookie(&token)
        .json(json!({"username": "ab", "avatar_source": "telegram"}))
        .send()
        .await;
    assert_eq!(
        r.assert_ok()["errors"],
        json!({"username": "username must be at least 3 characters", "avatar_source": "avatar_source must be a linked platform, discord_0 to discord_5, or empty"})
    );
    let r = t
        .post("/v1/users/me/update")
        .cookie(&token)
        .json(json!({"username": "x".repeat(33)}))
        .send()
        .await;
    assert_eq!(r.body["errors"]["username"], "username must be at most 32 characters");

    let r = t
        .post("/v1/users/me/update")
        .cookie(&token)
        .json(json!({"username": "New.Name", "avatar_source": "discord"}))
        .send()
        .await;
    let body = r.assert_ok();
    assert_eq!(body["errors"], Value::Null);
    assert_eq!(body["user"]["username"], "New.Name");
    assert_eq!(body["user"]["avatar_source"], "discord");
    assert_eq!(
        body["user"]["avatar_url"], body["user"]["linked_platforms"][0]["platform_avatar_url"],
        "the linked platform's avatar"
    );
    // Only the case changes: allowed.
    let r = t
        .post("/v1/users/me/update")
        .cookie(&token)
        .json(json!({"username": "new.name", "avatar_source": null}))
        .send()
        .await;
    assert_eq!(r.assert_ok()["user"]["username"], "new.name");
    assert_eq!(r.body["user"]["avatar_source"], Value::Null);
    let r = t
        .post("/v1/users/me/update")
        .cookie(&token)
        .json(json!({}))
        .send()
        .await;
    assert_eq!(r.assert_ok()["errors"], Value::Null);
    t.post("/v1/users/me/update")
        .cookie(&token)
        .json(json!([1]))
        .send()
        .await
        .assert_error(400, "ERR_VALIDATION");
    let me_now = t.get("/v1/users/me").cookie(&token).send().await;
    assert_eq!(me_now.assert_ok()["username"], "new.name");
});

both_backends!(self_service_reads, |t: TestApp| async move {
    let bot = t.login_bot().await;
    let me = t.user("reader", 0).await;
    let token = t.login(&bot, "reader").await;
    let sub = t.get("/v1/users/me/subscription").cookie(&token).send().await;
    let body = sub.assert_ok();
    assert_eq!(body["subscription_tier"], 0);
    assert_eq!(body["is_active"], false);
    assert_eq!(body["expires_at"], Value::Null);
    assert_eq!(body["history"], json!([]));

    let now = t.app.now();
    let mut conn = t.conn().await;
    for i in 0..3 {
        store::history::insert_moderation(
            &mut conn,
            store::history::NewModeration {
                user_id: me.id,
                action_type: ActionType::PlatformWarning,
                reason: Some(&format!("warning {i}")),
                chat_id: None,
                issued_by_id: Some(1),
                expires_at: None,
                now: now + i,
            },
        )
        .await
        .unwrap();
    }
    drop(conn);
    let page = t
        .get("/v1/users/me/punishments?limit=2&offset=0")
        .cookie(&token)
        .send()
        .await;
    assert_eq!(page.header("x-total-count"), Some("3"));
    let items = page.assert_ok().as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["reason"], "warning 2", "newest first");
    assert_eq!(
        keys(&items[0]),
        [
            "action_type",
            "chat_id",
            "created_at",
            "expires_at",
            "id",
            "is_lifted",
            "lifted_at",
            "reason"
        ]
    );
    for bad in ["limit=0", "limit=101", "offset=-1", "limit=abc"] {
        t.get(&format!("/v1/users/me/punishments?{bad}"))
            .cookie(&token)
            .send()
            .await
            .assert_error(400, "ERR_VALIDATION");
    }
    let chats = t.get("/v1/users/me/chats").cookie(&token).send().await;
    assert_eq!(chats.assert_ok(), &json!([]));
    assert_eq!(chats.header("x-total-count"), Some("0"));
});

both_backends!(search_orders_and_grades_results, |t: TestApp| async move {
    let bot = t.login_bot().await;
    for id in ["alpha", "alphabet", "xalpha", "beta"] {
        t.user(id, 0).await;
    }
    let moderator = t.user("mod", 1).await;
    t.user("admin", 2).await;
    let user_token = t.login(&bot, "beta").await;
    let admin_token = t.login(&bot, "admin").await;
    let r = t.get("/v1/users/search?q=ALPHA").cookie(&user_token).send().await;
    let body = r.assert_ok();
    let names: Vec<&str> = body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ualpha", "ualphabet", "uxalpha"]);
    assert_eq!(body["total"], 3);
    assert_eq!((body["limit"].as_i64(), body["offset"].as_i64()), (Some(25), Some(0)));
    assert_eq!(keys(&body["users"][0]), PUBLIC_KEYS);

    let r = t
        .get(&format!("/v1/users/search?q={}", moderator.id))
        .cookie(&admin_token)
        .send()
        .await;
    let first = &r.assert_ok()["users"][0];
    assert_eq!(first["id"], moderator.id, "an exact id comes first");
    assert!(
        first.get("permission_level").is_some(),
        "an Admin sees the private record of a Moderator"
    );
    let r = t.get("/v1/users/search?q=uadmin").cookie(&admin_token).send().await;
    assert_eq!(keys(&r.body["users"][0]), PUBLIC_KEYS, "but not of themself");
    let r = t.get("/v1/users/search?q=%25").cookie(&user_token).send().await;
    assert_eq!(r.assert_ok()["total"], 0, "% is an ordinary character");
    t.get(&format!("/v1/users/search?q={}", "a".repeat(51)))
        .cookie(&user_token)
        .send()
        .await
        .assert_error(400, "ERR_VALIDATION");
    t.get("/v1/users/search?offset=10001")
        .cookie(&user_token)
        .send()
        .await
        .assert_error(400, "ERR_VALIDATION");
    t.get("/v1/users/search")
        .send()
        .await
        .assert_error(401, "ERR_AUTH_REQUIRED");
});

// Effective values are computed at read time: an expired timeout reads state 0 and an expired
// Premium reads tier 0.
both_backends!(effective_state_and_tier_expire_at_read_time, |t: TestApp| async move {
    let bot = t.login_bot().await;
    let target = t.user("subject", 0).await;
    let owner = t.user("boss", 3).await;
    let _ = owner;
    let token = t.login(&bot, "boss").await;
    let now = t.app.now();
    let mut conn = t.conn().await;
    store::history::insert_moderation(
        &mut conn,
        store::history::NewModeration {
            user_id: target.id,
            action_type: ActionType::PlatformTimeout,
            reason: Some("cool down"),
            chat_id: None,
            issued_by_id: None,
            expires_at: Some(now + 600_000_000),
            now,
        },
    )
    .await
    .unwrap();
    sqlx::query("UPDATE users SET subscription_tier = 2, subscription_expires_at = $1, subscription_granted_by = 1 WHERE id = $2")
        .bind(now + 600_000_000).bind(target.id).execute(&mut *conn).await.unwrap();
    drop(conn);
    let before = t.get(&format!("/v1/users/{}", target.id)).cookie(&token).send().await;
    assert_eq!(
        (before.body["state"].as_i64(), before.body["subscription_tier"].as_i64()),
        (Some(1), Some(2))
    );
    t.clock.advance_secs(601);
    let token = t.login(&bot, "boss").await;
    let after = t.get(&format!("/v1/users/{}", target.id)).cookie(&token).send().await;
    assert_eq!(
        (after.body["state"].as_i64(), after.body["subscription_tier"].as_i64()),
        (Some(0), Some(0))
    );
    assert_eq!(after.body["subscription_expires_at"], Value::Null);
});

#[tokio::test]
async fn profile_views_match_their_snapshots() {
    let t = TestApp::new(crate::common::Kind::Sqlite, |_| {}).await.unwrap();
    let start = portal::time::Timestamp::parse("2026-04-01T00:00:00Z").unwrap().0;
    t.clock.set(start);
    let bot = t.login_bot().await;
    let admin = t.user("admin", 2).await;
    let subject = t.user("subject", 0).await;
    t.user("owner", 3).await;
    let mut conn = t.conn().await;
    let hour = 3_600_000_000i64;
    use store::history::{insert_moderation, NewModeration};
    insert_moderation(
        &mut conn,
        NewModeration {
            user_id: subject.id,
            action_type: ActionType::PlatformWarning,
            reason: Some("Spamming in chat"),
            chat_id: None,
            issued_by_id: Some(admin.id),
            expires_at: None,
            now: start + hour,
        },
    )
    .await
    .unwrap();
    let ban = insert_moderation(
        &mut conn,
        NewModeration {
            user_id: subject.id,
            action_type: ActionType::PlatformBan,
            reason: Some("Raid"),
            chat_id: None,
            issued_by_id: Some(admin.id),
            expires_at: None,
            now: start + 2 * hour,
        },
    )
    .await
    .unwrap();
    sqlx::query("UPDATE moderation_actions SET is_lifted = 1, lifted_at = $1, lifted_by_id = $2 WHERE id = $3")
        .bind(start + 3 * hour)
        .bind(admin.id)
        .bind(ban)
        .execute(&mut *conn)
        .await
        .unwrap();
    insert_moderation(
        &mut conn,
        NewModeration {
            user_id: subject.id,
            action_type: ActionType::PlatformTimeout,
            reason: Some("Cool down"),
            chat_id: None,
            issued_by_id: Some(admin.id),
            expires_at: Some(start + 100 * hour),
            now: start + 4 * hour,
        },
    )
    .await
    .unwrap();
    store::history::insert_history(
        &mut conn,
        store::history::History::Subscription,
        store::history::HistoryEntry {
            user_id: subject.id,
            old: 0,
            new: 2,
            reason: Some("Contest winner"),
            by: Some(admin.id),
            now: start + 5 * hour,
        },
    )
    .await
    .unwrap();
    sqlx::query("UPDATE users SET subscription_tier = 2, subscription_expires_at = $1, subscription_granted_by = $2 WHERE id = $3").bind(start + 1000 * hour).bind(admin.id).bind(subject.id).execute(&mut *conn).await.unwrap();
    store::history::insert_history(
        &mut conn,
        store::history::History::Permission,
        store::history::HistoryEntry {
            user_id: subject.id,
            old: 1,
            new: 0,
            reason: Some("Stepped down"),
            by: Some(admin.id),
            now: start + 6 * hour,
        },
    )
    .await
    .unwrap();
    sqlx::query("INSERT INTO chats (name, owner_id, visibility, last_activity_at, created_at, updated_at) VALUES ('movie-night', $1, 'private', $2, $2, $2)").bind(subject.id).bind(start + 7 * hour).execute(&mut *conn).await.unwrap();
    drop(conn);
    let mut tx = t.app.store.begin().await.unwrap();
    portal::domain::staff::register_bot(
        &t.app,
        &mut tx,
        Some(admin.id),
        portal::domain::staff::NewBotSpec {
            name: "My Bot",
            platform: "discord",
            owner: &subject,
            bot_type: portal::bot_type::BotType::Community,
            rate_limit_per_hour: 1000,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let berlin = json!({"city": "Berlin", "region_name": "Land Berlin", "country_code": "DE", "lat": 52.52, "lon": 13.405, "isp": "Deutsche Telekom", "org": "Deutsche Telekom", "is_mobile": false, "is_proxy": false, "is_hosting": false});
    ended_session(&t, &subject, "xyz789", Some(berlin), "logout").await;
    t.clock.advance_secs(3600);
    ended_session(&t, &subject, "Qm4_tZ", None, "revoked").await;
    t.clock.advance_secs(3600);
    let admin_token = t.login(&bot, "admin").await;
    let owner_token = t.login(&bot, "owner").await;
    let user_token = t.login(&bot, "subject").await;
    let scrub = |mut v: Value| {
        if let Some(bots) = v.get_mut("bots").and_then(Value::as_array_mut) {
            for b in bots {
                b["api_key_prefix"] = json!("hbot_XXXX");
            }
        }
        v["last_activity_at"] = json!("[activity]");
        v
    };
    let public = t
        .get(&format!("/v1/users/{}", subject.id))
        .cookie(&user_token)
        .send()
        .await;
    insta::assert_json_snapshot!("profile_public", public.body);
    let elevated = t
        .get(&format!("/v1/users/{}", subject.id))
        .cookie(&admin_token)
        .send()
        .await;
    insta::assert_json_snapshot!("profile_elevated", scrub(elevated.body));
    let owner = t
        .get(&format!("/v1/users/{}", subject.id))
        .cookie(&owner_token)
        .send()
        .await;
    insta::assert_json_snapshot!("profile_owner_viewer", scrub(owner.body));
}

both_backends!(views_show_a_write_at_once, |t: TestApp| async move {
    let bot = t.login_bot().await;
    let target = t.user("fresh-target", 0).await;
    t.user("fresh-viewer", 0).await;
    t.user("fresh-owner", 3).await;
    let target_token = t.login(&bot, "fresh-target").await;
    let viewer_token = t.login(&bot, "fresh-viewer").await;
    let owner_token = t.login(&bot, "fresh-owner").await;
    let path = format!("/v1/users/{}", target.id);
    let names = || async {
        let mut seen = Vec::new();
        for (path, token) in [(&path, &viewer_token), (&path, &owner_token)] {
            let r = t.get(path).cookie(token).send().await;
            seen.push(r.assert_ok()["username"].clone());
        }
        let me = t.get("/v1/users/me").cookie(&target_token).send().await;
        seen.push(me.assert_ok()["username"].clone());
        seen
    };
    assert_eq!(names().await, vec![json!(target.username); 3]);
    t.post("/v1/users/me/update")
        .cookie(&target_token)
        .json(json!({"username": "renamed"}))
        .send()
        .await
        .assert_ok();
    assert_eq!(names().await, vec![json!("renamed"); 3], "read right after the write");
});

both_backends!(a_view_changes_when_a_subscription_runs_out, |t: TestApp| async move {
    let bot = t.login_bot().await;
    let target = t.user("lapsing", 0).await;
    t.user("watcher", 0).await;
    let token = t.login(&bot, "watcher").await;
    let now = t.app.now();
    t.set_subscription(target.id, 2, Some(now + 500_000)).await;
    let tier = || async {
        t.get(&format!("/v1/users/{}", target.id))
            .cookie(&token)
            .send()
            .await
            .assert_ok()["subscription_tier"]
            .clone()
    };
    assert_eq!(tier().await, json!(2));
    // Half a second on the server's clock: well within a cached view's second, past the expiry.
    t.clock.set(now + 600_000);
    assert_eq!(tier().await, json!(0));
});
