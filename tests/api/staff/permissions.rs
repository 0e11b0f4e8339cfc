//! Permission changes and the last Owner, deletion, and the atomicity of an act and its audit row.

use super::*;
use portal::action_type::ActionType;

both_backends!(permission_changes_write_history, |t: TestApp| async move {
    let bot = t.login_bot().await;
    let (owner, owner_token) = t.staff(&bot, "owner", 3).await;
    let (user, user_token) = t.staff(&bot, "plain", 0).await;

    let now = t.app.now();
    let r = t
        .post_as(
            &owner_token,
            &user_path(user.id, "permission"),
            json!({"level": 2, "reason": " promoted "}),
        )
        .await;
    let body = r.assert_ok();
    assert_eq!(
        body["message"],
        format!("User {} permission level set to 2 (Admin)", user.id)
    );
    let change = body["change"].clone();
    assert_eq!(change["old_level"], 0);
    assert_eq!(change["new_level"], 2);
    assert_eq!(change["reason"], "promoted");
    assert_eq!(change["changed_by_id"], owner.id);
    assert_eq!(change["created_at"], rfc3339(now));
    // The new level applies to the user's next request.
    t.get("/v1/admin/audit/logs")
        .cookie(&user_token)
        .send()
        .await
        .assert_ok();

    let before = footprint(&t, user.id).await;
    t.post_as(
        &owner_token,
        &user_path(user.id, "permission"),
        json!({"level": 2, "reason": "again"}),
    )
    .await
    .assert_error(409, "ERR_PERMISSION_UNCHANGED");
    t.post_as(
        &owner_token,
        &user_path(user.id, "permission"),
        json!({"level": 3, "reason": "never"}),
    )
    .await
    .assert_error(403, "ERR_PERMISSION_CEILING");
    assert_eq!(footprint(&t, user.id).await, before);

    let audit = t
        .get(&format!(
            "/v1/admin/audit/logs?event_type=USER_PERMISSION&actor_id={}",
            owner.id
        ))
        .cookie(&owner_token)
        .send()
        .await;
    assert_eq!(
        audit.assert_ok()["items"][0]["metadata"],
        json!({"old_level": 0, "new_level": 2, "reason": "promoted", "history_id": change["id"], "sessions_ended": 0})
    );
});

both_backends!(the_last_unbanned_owner_is_kept, |t: TestApp| async move {
    let bot = t.login_bot().await;
    let (acting, acting_token) = t.staff(&bot, "owner-a", 3).await;
    let other = t.user("owner-b", 3).await;
    // Every other Owner is banned behind the API's back, so `other` is the last unbanned one.
    let bot_owner = scalar(&t, "SELECT owner_id FROM bots LIMIT 1", None).await;
    t.put_in_force(bot_owner, ActionType::PlatformBan, None).await;
    t.put_in_force(acting.id, ActionType::PlatformBan, None).await;

    let before = footprint(&t, other.id).await;
    t.post_as(&acting_token, &user_path(other.id, "ban"), json!({"reason": "x"}))
        .await
        .assert_error(409, "ERR_LAST_OWNER");
    t.post_as(&acting_token, &user_path(other.id, "delete"), json!({"reason": "x"}))
        .await
        .assert_error(409, "ERR_LAST_OWNER");
    t.post_as(
        &acting_token,
        &user_path(other.id, "permission"),
        json!({"level": 2, "reason": "x"}),
    )
    .await
    .assert_error(409, "ERR_LAST_OWNER");
    assert_eq!(footprint(&t, other.id).await, before);
    // Acts that keep the Owner an unbanned Owner are fine.
    t.post_as(&acting_token, &user_path(other.id, "warn"), json!({"reason": "x"}))
        .await
        .assert_ok();

    // The command-line tool meets the same guard.
    let mut tx = t.app.store.begin().await.unwrap();
    let refused = portal::domain::staff::delete_user(&t.app, &mut tx, None, &other, None).await;
    assert!(
        matches!(refused, Err(portal::error::ApiError::LastOwner)),
        "{refused:?}"
    );
});

both_backends!(owners_banning_each_other_at_once_leave_one, |t: TestApp| async move {
    let bot = t.login_bot().await;
    let (a, a_token) = t.staff(&bot, "owner-a", 3).await;
    let (b, b_token) = t.staff(&bot, "owner-b", 3).await;
    let bot_owner = scalar(&t, "SELECT owner_id FROM bots LIMIT 1", None).await;
    t.put_in_force(bot_owner, ActionType::PlatformBan, None).await;

    let a_path = user_path(b.id, "ban");
    let b_path = user_path(a.id, "ban");
    let (r1, r2) = tokio::join!(
        t.post_as(&a_token, &a_path, json!({"reason": "race"})),
        t.post_as(&b_token, &b_path, json!({"reason": "race"})),
    );
    let ok = [&r1, &r2].iter().filter(|r| r.status.as_u16() == 200).count();
    assert_eq!(ok, 1, "{} / {}", r1.body, r2.body);
    for r in [&r1, &r2] {
        // The loser either lost the race for the guard or its session was ended by the winner.
        let code = r.body["code"].as_str().unwrap_or("");
        assert!(
            r.status.as_u16() == 200 || code == "ERR_LAST_OWNER" || code == "ERR_AUTH_REQUIRED",
            "{}",
            r.body
        );
    }
    let unbanned_owners = scalar(
        &t,
        "SELECT COUNT(*) FROM users u WHERE permission_level = 3 AND NOT EXISTS (SELECT 1 FROM moderation_actions m \
         WHERE m.user_id = u.id AND m.action_type = 'PLATFORM_BAN' AND m.is_lifted = 0)",
        None,
    )
    .await;
    assert_eq!(unbanned_owners, 1);
});

// ---------------------------------------------------------------------------------------------
// Deletion
// ---------------------------------------------------------------------------------------------

both_backends!(
    delete_removes_the_user_and_what_belongs_to_it,
    |t: TestApp| async move {
        let bot = t.login_bot().await;
        let (owner, owner_token) = t.staff(&bot, "owner", 3).await;
        let (doomed, _) = t.staff(&bot, "doomed", 1).await;
        let other = t.user("other", 0).await;
        let now = t.app.now();
        let owned_bot = t.bot(&doomed, "Doomed Bot", "discord", 3).await;

        let mut conn = t.conn().await;
        let insert_chat = "INSERT INTO chats (name, owner_id, last_activity_at, created_at, updated_at) \
                       VALUES ('c', $1, $2, $2, $2) RETURNING id";
        let (own_chat,): (i64,) = sqlx::query_as(insert_chat)
            .bind(doomed.id)
            .bind(now)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        let (foreign_chat,): (i64,) = sqlx::query_as(insert_chat)
            .bind(other.id)
            .bind(now)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        for (chat, user) in [(own_chat, other.id), (foreign_chat, doomed.id)] {
            sqlx::query("INSERT INTO chat_members (chat_id, user_id, joined_at) VALUES ($1, $2, $3)")
                .bind(chat)
                .bind(user)
                .bind(now)
                .execute(&mut *conn)
                .await
                .unwrap();
        }
        sqlx::query("INSERT INTO chat_invites (code, chat_id, created_by_id, created_at) VALUES ('inv1', $1, $2, $3)")
            .bind(foreign_chat)
            .bind(doomed.id)
            .bind(now)
            .execute(&mut *conn)
            .await
            .unwrap();
        sqlx::query("INSERT INTO notifications (user_id, title, body, created_at) VALUES ($1, 't', 'b', $2)")
            .bind(doomed.id)
            .bind(now)
            .execute(&mut *conn)
            .await
            .unwrap();
        drop(conn);
        // The doomed Moderator's own act on someone else stays, naming them.
        t.post("/v1/authentication/request")
            .json(json!({"platform": "discord", "platform_user_id": "doomed"}))
            .send()
            .await
            .assert_ok();
        let doomed_token = t.login(&bot, "doomed").await;
        let issued = t
            .post_as(&doomed_token, &user_path(other.id, "warn"), json!({"reason": "x"}))
            .await;
        let issued_id = issued.assert_ok()["action"]["id"].as_i64().unwrap();
        t.post_as(&owner_token, &user_path(doomed.id, "warn"), json!({"reason": "x"}))
            .await
            .assert_ok();
        t.post("/v1/authentication/request")
            .json(json!({"platform": "discord", "platform_user_id": "doomed"}))
            .send()
            .await
            .assert_ok();

        let r = t
            .post_as(
                &owner_token,
                &user_path(doomed.id, "delete"),
                json!({"reason": "requested"}),
            )
            .await;
        assert_eq!(
            r.assert_ok(),
            &json!({"message": format!("User {} deleted", doomed.id)})
        );

        t.get(&format!("/v1/users/{}", doomed.id))
            .cookie(&owner_token)
            .send()
            .await
            .assert_error(404, "ERR_USER_NOT_FOUND");
        t.get("/v1/users/me")
            .cookie(&doomed_token)
            .send()
            .await
            .assert_error(401, "ERR_AUTH_REQUIRED");
        t.get("/v1/users/me")
            .key(&owned_bot)
            .send()
            .await
            .assert_error(401, "ERR_INVALID_API_KEY");
        for (sql, left) in [
            ("SELECT COUNT(*) FROM sessions WHERE user_id = $1", 0),
            ("SELECT COUNT(*) FROM linked_platforms WHERE user_id = $1", 0),
            ("SELECT COUNT(*) FROM bots WHERE owner_id = $1", 0),
            ("SELECT COUNT(*) FROM chats WHERE owner_id = $1", 0),
            ("SELECT COUNT(*) FROM chat_members WHERE user_id = $1", 0),
            ("SELECT COUNT(*) FROM notifications WHERE user_id = $1", 0),
            ("SELECT COUNT(*) FROM moderation_actions WHERE user_id = $1", 0),
            ("SELECT COUNT(*) FROM permission_history WHERE user_id = $1", 0),
            ("SELECT COUNT(*) FROM moderation_actions WHERE issued_by_id = $1", 1),
        ] {
            assert_eq!(scalar(&t, sql, Some(doomed.id)).await, left, "{sql}");
        }
        assert_eq!(
            scalar(
                &t,
                "SELECT COUNT(*) FROM login_codes WHERE platform_user_id = 'doomed'",
                None
            )
            .await,
            0
        );
        assert_eq!(
            scalar(
                &t,
                "SELECT COUNT(*) FROM chat_invites WHERE created_by_id IS NULL",
                None
            )
            .await,
            1
        );
        assert_eq!(
            scalar(
                &t,
                "SELECT COUNT(*) FROM chat_members WHERE chat_id = $1",
                Some(own_chat)
            )
            .await,
            0
        );
        assert_eq!(
            scalar(
                &t,
                "SELECT issued_by_id FROM moderation_actions WHERE id = $1",
                Some(issued_id)
            )
            .await,
            doomed.id
        );
        let audit = t
            .get(&format!(
                "/v1/admin/audit/logs?event_type=USER_DELETE&target_type=user&target_id={}",
                doomed.id
            ))
            .cookie(&owner_token)
            .send()
            .await;
        let entry = &audit.assert_ok()["items"][0];
        assert_eq!(entry["actor_id"], owner.id);
        let bot_id = scalar(
            &t,
            "SELECT MAX(target_id) FROM audit_log WHERE event_type = 'BOT_REGISTER'",
            None,
        )
        .await;
        assert_eq!(
            entry["metadata"],
            json!({"username": "udoomed", "permission_level": 1, "reason": "requested",
               "deleted_bot_ids": [bot_id], "deleted_chat_ids": [own_chat]})
        );
        // Audit rows naming the deleted user stay.
        let kept = t
            .get(&format!("/v1/admin/audit/logs?actor_id={}", doomed.id))
            .cookie(&owner_token)
            .send()
            .await;
        assert_eq!(kept.assert_ok()["total"], 1);

        // The identity may sign up again, as a new user.
        t.login(&bot, "doomed").await;
        let new_id = scalar(
            &t,
            "SELECT user_id FROM linked_platforms WHERE platform_user_id = 'doomed'",
            None,
        )
        .await;
        assert!(new_id > doomed.id);
    }
);

// ---------------------------------------------------------------------------------------------
// Atomicity: the change and its audit row commit together or not at all
// ---------------------------------------------------------------------------------------------

both_backends!(a_failed_audit_insert_undoes_the_whole_act, |t: TestApp| async move {
    let bot = t.login_bot().await;
    let (owner, owner_token) = t.staff(&bot, "owner", 3).await;
    let (user, user_token) = t.staff(&bot, "plain", 0).await;
    t.post("/v1/authentication/request")
        .json(json!({"platform": "discord", "platform_user_id": "plain"}))
        .send()
        .await
        .assert_ok();
    let before = footprint(&t, user.id).await;
    let codes = "SELECT COUNT(*) FROM login_codes WHERE platform_user_id = 'plain'";

    t.app.store.fail_audit_inserts(true);
    let writes = [
        (user_path(user.id, "ban"), json!({"reason": "x"})),
        (user_path(user.id, "timeout"), json!({"duration": 60, "reason": "x"})),
        (user_path(user.id, "warn"), json!({"reason": "x"})),
        (user_path(user.id, "permission"), json!({"level": 1, "reason": "x"})),
        (
            "/v1/admin/subscriptions/grant".into(),
            json!({"user_id": user.id, "tier": "LIFETIME"}),
        ),
        (user_path(user.id, "delete"), json!({"reason": "x"})),
    ];
    for (path, body) in &writes {
        t.post_as(&owner_token, path, body.clone())
            .await
            .assert_error(500, "ERR_INTERNAL");
    }
    t.app.store.fail_audit_inserts(false);

    // Nothing happened: no moderation row, level, tier and history as before, sessions and the
    // pending code alive.
    assert_eq!(footprint(&t, user.id).await, before);
    assert_eq!(scalar(&t, codes, None).await, 1);
    t.get("/v1/users/me").cookie(&user_token).send().await.assert_ok();
    let r = t
        .get(&format!("/v1/admin/moderation/actions?user_id={}", user.id))
        .cookie(&owner_token)
        .send()
        .await;
    assert_eq!(r.assert_ok()["total"], 0);
    let d = detail(&t, &owner_token, user.id).await;
    assert_eq!(d["permission_level"], 0);
    assert_eq!(d["subscription_tier"], 0);
    assert_eq!(d["state"], 0);

    // The same ban, with the audit log working, does all of it at once.
    t.post_as(&owner_token, &user_path(user.id, "ban"), json!({"reason": "x"}))
        .await
        .assert_ok();
    t.get("/v1/users/me")
        .cookie(&user_token)
        .send()
        .await
        .assert_error(401, "ERR_AUTH_REQUIRED");
    assert_eq!(scalar(&t, codes, None).await, 0);
    let r = t
        .get(&format!(
            "/v1/admin/audit/logs?actor_id={}&event_type=USER_BAN",
            owner.id
        ))
        .cookie(&owner_token)
        .send()
        .await;
    assert_eq!(r.assert_ok()["total"], 1);
});
