//! The moderation search, the audit log, and the staff view of the history they record.

use super::*;
use portal::action_type::ActionType;
use portal::store::history::NewModeration;

both_backends!(moderation_search_filters_and_pages, |t: TestApp| async move {
    let bot = t.login_bot().await;
    let (owner, owner_token) = t.staff(&bot, "owner", 3).await;
    let (moderator, mod_token) = t.staff(&bot, "mod", 1).await;
    let (_, user_token) = t.staff(&bot, "plain", 0).await;
    let a = t.user("a", 0).await;
    let b = t.user("b", 0).await;

    let warn_a = t
        .post_as(&mod_token, &user_path(a.id, "warn"), json!({"reason": "1"}))
        .await;
    let warn_a = warn_a.assert_ok()["action"]["id"].as_i64().unwrap();
    t.clock.advance_secs(1);
    let short = t
        .post_as(
            &mod_token,
            &user_path(a.id, "timeout"),
            json!({"duration": 60, "reason": "2"}),
        )
        .await;
    let short = short.assert_ok()["action"]["id"].as_i64().unwrap();
    t.clock.advance_secs(61);
    let ban_b = t
        .post_as(&owner_token, &user_path(b.id, "ban"), json!({"reason": "3"}))
        .await;
    let ban_b = ban_b.assert_ok()["action"]["id"].as_i64().unwrap();
    t.clock.advance_secs(1);
    t.post_as(&owner_token, &user_path(b.id, "unban"), json!({"reason": "4"}))
        .await
        .assert_ok();
    t.clock.advance_secs(1);
    let ban_b2 = t
        .post_as(
            &owner_token,
            &user_path(b.id, "ban"),
            json!({"reason": "5", "duration": 600}),
        )
        .await;
    let ban_b2 = ban_b2.assert_ok()["action"]["id"].as_i64().unwrap();
    let mut conn = t.conn().await;
    let chat_mute = portal::store::history::insert_moderation(
        &mut conn,
        NewModeration {
            user_id: a.id,
            action_type: ActionType::ChatMute,
            reason: None,
            chat_id: Some(77),
            issued_by_id: Some(owner.id),
            expires_at: None,
            now: t.app.now(),
        },
    )
    .await
    .unwrap();
    drop(conn);

    let ids = |r: &TestResponse| -> Vec<i64> {
        r.body["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_i64().unwrap())
            .collect()
    };
    let search = |query: String| {
        let token = mod_token.clone();
        let t = &t;
        async move {
            let r = t
                .get(&format!("/v1/admin/moderation/actions{query}"))
                .cookie(&token)
                .send()
                .await;
            r.assert_ok();
            r
        }
    };
    let all = search(String::new()).await;
    assert_eq!(ids(&all), vec![chat_mute, ban_b2, ban_b, short, warn_a]);
    assert_eq!(
        (
            all.body["total"].clone(),
            all.body["limit"].clone(),
            all.body["offset"].clone()
        ),
        (json!(5), json!(25), json!(0))
    );
    for (query, expected) in [
        (format!("?user_id={}", a.id), vec![chat_mute, short, warn_a]),
        (format!("?issued_by={}", moderator.id), vec![short, warn_a]),
        ("?action_type=PLATFORM_BAN".into(), vec![ban_b2, ban_b]),
        ("?chat_id=77".into(), vec![chat_mute]),
        // In force now: warnings and open-ended or running acts; not lifted, not expired.
        ("?active_only=true".into(), vec![chat_mute, ban_b2, warn_a]),
        (
            format!("?active_only=1&user_id={}&action_type=PLATFORM_TIMEOUT", a.id),
            vec![],
        ),
        ("?user_id=999999".into(), vec![]),
    ] {
        let r = search(query.clone()).await;
        assert_eq!(ids(&r), expected, "{query}");
        assert_eq!(r.body["total"], expected.len(), "{query}");
    }
    let page = search("?limit=2&offset=1".into()).await;
    assert_eq!(ids(&page), vec![ban_b2, ban_b]);
    assert_eq!(
        (
            page.body["total"].clone(),
            page.body["limit"].clone(),
            page.body["offset"].clone()
        ),
        (json!(5), json!(2), json!(1))
    );
    assert_eq!(ids(&search("?offset=50".into()).await), Vec::<i64>::new());
    let first = &all.body["actions"][1];
    assert_eq!(
        crate::common::keys(first),
        [
            "action_type",
            "chat_id",
            "created_at",
            "expires_at",
            "id",
            "is_lifted",
            "issued_by_id",
            "lifted_at",
            "lifted_by_id",
            "reason",
            "user_id"
        ]
    );

    for (bad, field) in [
        ("action_type=WARNING", "action_type"),
        ("action_type=platform_ban", "action_type"),
        ("user_id=0", "user_id"),
        ("issued_by=x", "issued_by"),
        ("chat_id=-1", "chat_id"),
        ("active_only=yes", "active_only"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("offset=-1", "offset"),
    ] {
        let r = t
            .get(&format!("/v1/admin/moderation/actions?{bad}"))
            .cookie(&mod_token)
            .send()
            .await;
        r.assert_error(400, "ERR_VALIDATION");
        assert_eq!(r.body["field"], field, "{bad}");
    }
    t.get("/v1/admin/moderation/actions")
        .cookie(&user_token)
        .send()
        .await
        .assert_error(403, "ERR_INSUFFICIENT_PERMISSION");
    t.get("/v1/admin/moderation/actions")
        .send()
        .await
        .assert_error(401, "ERR_AUTH_REQUIRED");
});

both_backends!(audit_log_filters_and_pages, |t: TestApp| async move {
    let bot = t.login_bot().await;
    let (owner, owner_token) = t.staff(&bot, "owner", 3).await;
    let (moderator, mod_token) = t.staff(&bot, "mod", 1).await;
    let (_, user_token) = t.staff(&bot, "plain", 0).await;
    let a = t.user("a", 0).await;
    let baseline = audit_count(&t).await;

    // The clock stands still between jumps, so the set-up above shares no instant with these.
    t.clock.advance_secs(10);
    let start = t.app.now();
    t.post_as(&mod_token, &user_path(a.id, "warn"), json!({"reason": "w"}))
        .await
        .assert_ok();
    t.clock.advance_secs(10);
    let middle = t.app.now();
    grant(&t, &owner_token, json!({"user_id": a.id, "tier": 3, "reason": "early"}))
        .await
        .assert_ok();
    t.clock.advance_secs(10);
    t.post_as(
        &owner_token,
        &user_path(moderator.id, "permission"),
        json!({"level": 0, "reason": "p"}),
    )
    .await
    .assert_ok();

    let events = |r: &TestResponse| -> Vec<String> {
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["event_type"].as_str().unwrap().to_owned())
            .collect()
    };
    let read = |query: String| {
        let t = &t;
        let token = owner_token.clone();
        async move {
            let r = t
                .get(&format!("/v1/admin/audit/logs{query}"))
                .cookie(&token)
                .send()
                .await;
            r.assert_ok();
            r
        }
    };
    let all = read(String::new()).await;
    assert_eq!(all.body["total"], baseline + 3);
    assert_eq!(
        events(&all)[..3],
        ["USER_PERMISSION", "SUBSCRIPTION_GRANT", "USER_WARN"]
    );
    assert_eq!(
        (all.body["limit"].clone(), all.body["offset"].clone()),
        (json!(50), json!(0))
    );
    let entry = &all.body["items"][1];
    assert_eq!(
        crate::common::keys(entry),
        [
            "actor_id",
            "created_at",
            "event_type",
            "id",
            "metadata",
            "target_id",
            "target_type"
        ]
    );
    assert_eq!(entry["actor_id"], owner.id);
    assert_eq!(entry["target_id"], a.id);
    assert_eq!(entry["metadata"]["reason"], "early");
    assert_eq!(entry["metadata"]["duration_days"], Value::Null);

    let since = rfc3339(start);
    let until = rfc3339(middle);
    for (query, expected) in [
        ("?event_type=USER_WARN".to_owned(), vec!["USER_WARN"]),
        (
            format!("?target_type=user&target_id={}", a.id),
            vec!["SUBSCRIPTION_GRANT", "USER_WARN"],
        ),
        (format!("?target_id={}", a.id), vec!["SUBSCRIPTION_GRANT", "USER_WARN"]),
        (format!("?actor_id={}", moderator.id), vec!["USER_WARN"]),
        ("?target_type=system".into(), vec![]),
        (format!("?since={since}&until={until}"), vec!["USER_WARN"]),
        (
            format!("?since={}", rfc3339(middle)),
            vec!["USER_PERMISSION", "SUBSCRIPTION_GRANT"],
        ),
        (
            "?limit=1&offset=1&since=2000-01-01T01:00:00%2B01:00".into(),
            vec!["SUBSCRIPTION_GRANT"],
        ),
    ] {
        let r = read(query.clone()).await;
        assert_eq!(events(&r), expected, "{query}");
    }

    for (bad, field) in [
        ("event_type=USER_KICK", "event_type"),
        ("target_type=users", "target_type"),
        ("target_id=0", "target_id"),
        ("actor_id=abc", "actor_id"),
        ("since=yesterday", "since"),
        ("until=2026-13-01T00:00:00Z", "until"),
        ("since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", "until"),
        ("since=2026-01-01T00:00:00Z&until=2026-01-01T00:00:00Z", "until"),
        ("limit=201", "limit"),
        ("offset=-5", "offset"),
    ] {
        let r = t
            .get(&format!("/v1/admin/audit/logs?{bad}"))
            .cookie(&owner_token)
            .send()
            .await;
        r.assert_error(400, "ERR_VALIDATION");
        assert_eq!(r.body["field"], field, "{bad}");
    }
    // Every event type of 00-conventions §12 is a filter, including those of the chat transport
    // and browser rooms.
    for event_type in [
        "CHAT_MESSAGES_DELETE",
        "CHAT_CLEAR",
        "CHAT_CONFIG_UPDATE",
        "BROWSER_START",
        "BROWSER_STOP",
        "BROWSER_CONTROL_OVERRIDE",
        "PUBLIC_KEY_REVOKE",
    ] {
        let r = read(format!("?event_type={event_type}")).await;
        assert_eq!(events(&r), Vec::<&str>::new(), "{event_type}");
    }
    t.get("/v1/admin/audit/logs")
        .cookie(&user_token)
        .send()
        .await
        .assert_error(403, "ERR_INSUFFICIENT_PERMISSION");
});

// ---------------------------------------------------------------------------------------------
// The staff view of a user shows the history written here
// ---------------------------------------------------------------------------------------------

both_backends!(
    elevated_view_shows_moderation_permission_and_subscription_history,
    |t: TestApp| async move {
        let bot = t.login_bot().await;
        let (owner, owner_token) = t.staff(&bot, "owner", 3).await;
        let (_, user_token) = t.staff(&bot, "plain", 0).await;
        let user = t.user("target", 0).await;

        let warned = t
            .post_as(&owner_token, &user_path(user.id, "warn"), json!({"reason": "first"}))
            .await;
        let warned = warned.assert_ok()["action"].clone();
        t.clock.advance_secs(1);
        let timed = t
            .post_as(
                &owner_token,
                &user_path(user.id, "timeout"),
                json!({"duration": 3600, "reason": "second"}),
            )
            .await;
        let timed = timed.assert_ok()["action"].clone();
        let changed = t
            .post_as(
                &owner_token,
                &user_path(user.id, "permission"),
                json!({"level": 1, "reason": "trusted"}),
            )
            .await;
        let change = changed.assert_ok()["change"].clone();
        let granted_at = t.app.now();
        grant(
            &t,
            &owner_token,
            json!({"user_id": user.id, "tier": 2, "duration_days": 30, "reason": "winner"}),
        )
        .await
        .assert_ok();

        let d = detail(&t, &owner_token, user.id).await;
        assert_eq!(d["state"], 1);
        assert_eq!(d["permission_level"], 1);
        assert_eq!(d["subscription_tier"], 2);
        assert_eq!(d["subscription_granted_by"], owner.id);
        assert_eq!(d["subscription_expires_at"], rfc3339(granted_at + 30 * DAY * MICROS));
        assert_eq!(d["moderation_actions"], json!([timed, warned]));
        assert_eq!(d["permission_history"], json!([change]));
        assert_eq!(
            d["subscription_history"][0],
            json!({"id": d["subscription_history"][0]["id"], "old_tier": 0, "new_tier": 2, "reason": "winner",
               "granted_by_id": owner.id, "created_at": rfc3339(granted_at)})
        );

        // The user sees the same records as their own, without who issued them.
        let target_token = t.login(&bot, "target").await;
        let own = t.get("/v1/users/me/punishments").cookie(&target_token).send().await;
        let own = own.assert_ok().as_array().unwrap().clone();
        assert_eq!(own.len(), 2);
        assert_eq!(own[0]["id"], timed["id"]);
        assert!(own.iter().all(|a| a.get("issued_by_id").is_none()));
        // A User's staff view is closed to a User.
        let public = t
            .get(&format!("/v1/users/{}", user.id))
            .cookie(&user_token)
            .send()
            .await;
        assert!(public.assert_ok().get("moderation_actions").is_none());
    }
);
