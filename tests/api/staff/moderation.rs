//! Platform moderation: the rank matrix of every staff write, timed-out staff, and timeouts and
//! bans with their expiry.

use super::*;
use portal::action_type::ActionType;

/// Every staff write on a user. `PermissionOverCeiling` asks for one level above the actor's
/// assignment ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Warn,
    Timeout,
    Untimeout,
    Ban,
    Unban,
    Permission,
    PermissionOverCeiling,
    Delete,
    Grant,
    Revoke,
}

impl Act {
    /// The endpoint's minimum level (30-admin-moderation and 40-subscriptions endpoint tables).
    fn floor(self) -> i64 {
        match self {
            Act::Warn | Act::Timeout | Act::Untimeout => 1,
            _ => 2,
        }
    }

    fn request(self, target: i64, target_level: i64, actor_level: i64) -> (String, Value) {
        let reason = "matrix";
        match self {
            Act::Warn => (user_path(target, "warn"), json!({"reason": reason})),
            Act::Timeout => (user_path(target, "timeout"), json!({"duration": 600, "reason": reason})),
            Act::Untimeout => (user_path(target, "untimeout"), json!({"reason": reason})),
            Act::Ban => (user_path(target, "ban"), json!({"reason": reason})),
            Act::Unban => (user_path(target, "unban"), json!({"reason": reason})),
            // Level 1 for a User, else 0: always a change, and within every ceiling.
            Act::Permission => (
                user_path(target, "permission"),
                json!({"level": if target_level == 0 { 1 } else { 0 }, "reason": reason}),
            ),
            Act::PermissionOverCeiling => (
                user_path(target, "permission"),
                json!({"level": actor_level.clamp(2, 3), "reason": reason}),
            ),
            Act::Delete => (user_path(target, "delete"), json!({"reason": reason})),
            Act::Grant => (
                "/v1/admin/subscriptions/grant".into(),
                json!({"user_id": target, "tier": 2, "duration_days": 30}),
            ),
            Act::Revoke => (
                "/v1/admin/subscriptions/revoke".into(),
                json!({"user_id": target, "reason": reason}),
            ),
        }
    }

    /// What an allowed act needs to find on its target to succeed.
    async fn prepare(self, t: &TestApp, target: i64) {
        match self {
            Act::Untimeout => {
                t.put_in_force(target, ActionType::PlatformTimeout, Some(3600)).await;
            }
            Act::Unban => {
                t.put_in_force(target, ActionType::PlatformBan, None).await;
            }
            Act::Revoke => t.set_subscription(target, 3, None).await,
            _ => {}
        }
    }
}

/// The contract's rules in the order of 00-conventions §4: the level floor (step 5), then self,
/// hierarchy and ceiling (step 10). `target` is `None` for the actor itself.
fn expected(act: Act, actor: i64, target: Option<i64>) -> Result<(), (u16, &'static str)> {
    if actor < act.floor() {
        return Err((403, "ERR_INSUFFICIENT_PERMISSION"));
    }
    let Some(target) = target else {
        return Err((400, "ERR_SELF_TARGET"));
    };
    let outranks = actor > target || (actor == 3 && target == 3);
    if !outranks {
        return Err((403, "ERR_HIERARCHY"));
    }
    // Admins may assign up to 1 and Owners up to 2 (00-conventions §3.3).
    if act == Act::PermissionOverCeiling {
        return Err((403, "ERR_PERMISSION_CEILING"));
    }
    Ok(())
}

/// One app per action: four actors (levels 0–3) each against fresh targets of levels 0–3 and
/// against themself. Every cell checks the status and code, and that exactly one audit row was
/// written when allowed and none when refused.
async fn rank_matrix(t: TestApp, act: Act) {
    let bot = t.login_bot().await;
    let mut actors = Vec::new();
    for level in 0..=3 {
        actors.push((level, t.staff(&bot, &format!("actor-{level}"), level).await));
    }
    for (actor_level, (actor, token)) in &actors {
        for target_level in [None, Some(0), Some(1), Some(2), Some(3)] {
            let (target_id, level_of_target) = match target_level {
                None => (actor.id, *actor_level),
                Some(level) => {
                    let pid = format!("target-{act:?}-{actor_level}-{level}");
                    let target = t.user(&pid, level).await;
                    act.prepare(&t, target.id).await;
                    (target.id, level)
                }
            };
            let (path, body) = act.request(target_id, level_of_target, *actor_level);
            let before = audit_count(&t).await;
            let r = t.post_as(token, &path, body).await;
            let cell = format!("{act:?}: actor {actor_level} on {target_level:?}");
            match expected(act, *actor_level, target_level) {
                Ok(()) => {
                    assert_eq!(r.status.as_u16(), 200, "{cell}: {}", r.body);
                    assert_eq!(audit_count(&t).await, before + 1, "{cell}");
                }
                Err((status, code)) => {
                    assert_eq!(r.status.as_u16(), status, "{cell}: {}", r.body);
                    assert_eq!(r.body["code"], code, "{cell}");
                    assert_eq!(audit_count(&t).await, before, "{cell}");
                }
            }
        }
    }
}

both_backends!(matrix_warn, |t: TestApp| rank_matrix(t, Act::Warn));
both_backends!(matrix_timeout, |t: TestApp| rank_matrix(t, Act::Timeout));
both_backends!(matrix_untimeout, |t: TestApp| rank_matrix(t, Act::Untimeout));
both_backends!(matrix_ban, |t: TestApp| rank_matrix(t, Act::Ban));
both_backends!(matrix_unban, |t: TestApp| rank_matrix(t, Act::Unban));
both_backends!(matrix_permission, |t: TestApp| rank_matrix(t, Act::Permission));
both_backends!(matrix_permission_over_ceiling, |t: TestApp| rank_matrix(
    t,
    Act::PermissionOverCeiling
));
both_backends!(matrix_delete, |t: TestApp| rank_matrix(t, Act::Delete));
both_backends!(matrix_grant, |t: TestApp| rank_matrix(t, Act::Grant));
both_backends!(matrix_revoke, |t: TestApp| rank_matrix(t, Act::Revoke));

// ---------------------------------------------------------------------------------------------
// Timed-out callers (00-conventions §3.5)
// ---------------------------------------------------------------------------------------------

both_backends!(timed_out_staff_may_read_but_not_act, |t: TestApp| async move {
    let bot = t.login_bot().await;
    let (_, owner) = t.staff(&bot, "owner", 3).await;
    let (admin, admin_token) = t.staff(&bot, "admin", 2).await;
    let (user, user_token) = t.staff(&bot, "plain", 0).await;
    let target = t.user("target", 0).await;

    let r = t
        .post_as(
            &owner,
            &user_path(admin.id, "timeout"),
            json!({"duration": 600, "reason": "cool down"}),
        )
        .await;
    let until = r.assert_ok()["action"]["expires_at"].clone();
    let before = footprint(&t, target.id).await;

    // Every POST under /v1/admin/ refuses, with the end of the timeout, before reading the body.
    for (path, body) in [
        (user_path(target.id, "warn"), json!({"reason": "x"})),
        (user_path(target.id, "ban"), json!({})),
        (user_path(target.id, "permission"), json!({"level": 9})),
        (
            "/v1/admin/subscriptions/grant".into(),
            json!({"user_id": target.id, "tier": 3}),
        ),
        ("/v1/admin/subscriptions/revoke".into(), json!({})),
    ] {
        let r = t.post_as(&admin_token, &path, body).await;
        r.assert_error(403, "ERR_ACCOUNT_TIMED_OUT");
        assert_eq!(r.body["expires_at"], until, "{path}");
    }
    let r = t
        .post(&user_path(target.id, "warn"))
        .cookie(&admin_token)
        .raw(Some("application/json"), "{not json")
        .send()
        .await;
    r.assert_error(403, "ERR_ACCOUNT_TIMED_OUT");
    assert_eq!(footprint(&t, target.id).await, before);

    // Reads stay open.
    for path in [
        "/v1/admin/moderation/actions",
        "/v1/admin/audit/logs",
        "/v1/admin/subscriptions/active",
    ] {
        t.get(path).cookie(&admin_token).send().await.assert_ok();
    }

    // The level floor comes first: a timed-out User is told about the level, not the timeout.
    t.post_as(
        &owner,
        &user_path(user.id, "timeout"),
        json!({"duration": 600, "reason": "x"}),
    )
    .await
    .assert_ok();
    t.post_as(&user_token, &user_path(target.id, "warn"), json!({"reason": "x"}))
        .await
        .assert_error(403, "ERR_INSUFFICIENT_PERMISSION");

    // When the timeout ends, the Admin acts again.
    t.clock.advance_secs(601);
    t.post_as(&admin_token, &user_path(target.id, "warn"), json!({"reason": "back"}))
        .await
        .assert_ok();
});

// ---------------------------------------------------------------------------------------------
// Timeouts, bans and their expiry
// ---------------------------------------------------------------------------------------------

both_backends!(timeouts_replace_each_other_and_expire, |t: TestApp| async move {
    let bot = t.login_bot().await;
    let (owner, owner_token) = t.staff(&bot, "owner", 3).await;
    let (_, mod_token) = t.staff(&bot, "mod", 1).await;
    let (user, user_token) = t.staff(&bot, "plain", 0).await;

    let now = t.app.now();
    let r = t
        .post_as(
            &owner_token,
            &user_path(user.id, "timeout"),
            json!({"duration": 60, "reason": "  spam  "}),
        )
        .await;
    let first = r.assert_ok().clone();
    let expires = rfc3339(now + 60 * MICROS);
    assert_eq!(first["message"], format!("User {} timed out until {expires}", user.id));
    let action = &first["action"];
    assert_eq!(action["action_type"], "PLATFORM_TIMEOUT");
    assert_eq!(action["reason"], "spam");
    assert_eq!(action["user_id"], user.id);
    assert_eq!(action["issued_by_id"], owner.id);
    assert_eq!(action["chat_id"], Value::Null);
    assert_eq!(action["is_lifted"], false);
    assert_eq!(action["expires_at"], expires);
    assert_eq!(action["lifted_at"], Value::Null);
    assert_eq!(action["created_at"], rfc3339(now));
    assert_eq!(detail(&t, &owner_token, user.id).await["state"], 1);
    // Sessions are kept through a timeout.
    t.get("/v1/users/me").cookie(&user_token).send().await.assert_ok();

    // A second timeout, by a Moderator, replaces the Owner's.
    let r = t
        .post_as(
            &mod_token,
            &user_path(user.id, "timeout"),
            json!({"duration": 120, "reason": "again"}),
        )
        .await;
    let second_id = r.assert_ok()["action"]["id"].as_i64().unwrap();
    let d = detail(&t, &owner_token, user.id).await;
    let actions = d["moderation_actions"].as_array().unwrap();
    assert_eq!(actions[0]["id"], second_id);
    assert_eq!(actions[1]["id"], action["id"]);
    assert_eq!(actions[1]["is_lifted"], true);
    let audit = t
        .get(&format!(
            "/v1/admin/audit/logs?event_type=USER_TIMEOUT&target_id={}",
            user.id
        ))
        .cookie(&owner_token)
        .send()
        .await;
    let newest = &audit.assert_ok()["items"][0];
    assert_eq!(
        newest["metadata"],
        json!({"action_id": second_id, "reason": "again", "duration": 120, "expires_at": rfc3339(now + 120 * MICROS),
               "replaced_action_ids": [action["id"]], "chat_id": null})
    );

    // Expiry is read-time: no lift, no job.
    t.clock.advance_secs(121);
    let d = detail(&t, &owner_token, user.id).await;
    assert_eq!(d["state"], 0);
    assert_eq!(d["moderation_actions"][0]["is_lifted"], false);
    t.post_as(&owner_token, &user_path(user.id, "untimeout"), json!({"reason": "x"}))
        .await
        .assert_error(409, "ERR_NOT_TIMED_OUT");

    // Untimeout lifts what is in force and answers the newest.
    t.post_as(
        &owner_token,
        &user_path(user.id, "timeout"),
        json!({"duration": 3600, "reason": "x"}),
    )
    .await
    .assert_ok();
    let lifted_at = t.app.now();
    let r = t
        .post_as(
            &mod_token,
            &user_path(user.id, "untimeout"),
            json!({"reason": "appeal"}),
        )
        .await;
    let body = r.assert_ok();
    assert_eq!(body["message"], format!("Timeout lifted for user {}", user.id));
    assert_eq!(body["action"]["is_lifted"], true);
    assert_eq!(body["action"]["lifted_at"], rfc3339(lifted_at));
    assert_eq!(detail(&t, &owner_token, user.id).await["state"], 0);

    // A banned user cannot be timed out.
    t.post_as(&owner_token, &user_path(user.id, "ban"), json!({"reason": "x"}))
        .await
        .assert_ok();
    let before = moderation_count(&t).await;
    t.post_as(
        &mod_token,
        &user_path(user.id, "timeout"),
        json!({"duration": 60, "reason": "x"}),
    )
    .await
    .assert_error(409, "ERR_ALREADY_BANNED");
    assert_eq!(moderation_count(&t).await, before);
});

both_backends!(bans_end_sessions_and_codes_and_expire, |t: TestApp| async move {
    let bot = t.login_bot().await;
    let (owner, owner_token) = t.staff(&bot, "owner", 3).await;
    let (user, user_token) = t.staff(&bot, "plain", 0).await;
    let second_token = t.login(&bot, "plain").await;
    // A pending web code of the user's identity.
    t.post("/v1/authentication/request")
        .json(json!({"platform": "discord", "platform_user_id": "plain"}))
        .send()
        .await
        .assert_ok();
    assert_eq!(
        scalar(
            &t,
            "SELECT COUNT(*) FROM login_codes WHERE platform_user_id = 'plain'",
            None
        )
        .await,
        1
    );

    let now = t.app.now();
    let r = t
        .post_as(
            &owner_token,
            &user_path(user.id, "ban"),
            json!({"reason": "evasion", "duration": 3600}),
        )
        .await;
    let body = r.assert_ok().clone();
    let until = rfc3339(now + 3600 * MICROS);
    assert_eq!(body["message"], format!("User {} banned until {until}", user.id));
    assert_eq!(body["action"]["action_type"], "PLATFORM_BAN");
    assert_eq!(body["action"]["expires_at"], until);
    for token in [&user_token, &second_token] {
        t.get("/v1/users/me")
            .cookie(token)
            .send()
            .await
            .assert_error(401, "ERR_AUTH_REQUIRED");
    }
    assert_eq!(
        scalar(
            &t,
            "SELECT COUNT(*) FROM login_codes WHERE platform_user_id = 'plain'",
            None
        )
        .await,
        0
    );
    let ended: Vec<(String,)> = sqlx::query_as("SELECT end_reason FROM sessions WHERE user_id = $1")
        .bind(user.id)
        .fetch_all(&mut *t.conn().await)
        .await
        .unwrap();
    assert_eq!(ended, vec![("banned".to_owned(),), ("banned".to_owned(),)]);
    let audit = t
        .get(&format!(
            "/v1/admin/audit/logs?event_type=USER_BAN&target_id={}",
            user.id
        ))
        .cookie(&owner_token)
        .send()
        .await;
    let entry = audit.assert_ok()["items"][0].clone();
    assert_eq!(entry["actor_id"], owner.id);
    assert_eq!(entry["target_type"], "user");
    assert_eq!(
        entry["metadata"],
        json!({"action_id": body["action"]["id"], "reason": "evasion", "duration": 3600, "expires_at": until,
               "replaced_action_ids": [], "sessions_ended": 2})
    );
    let d = detail(&t, &owner_token, user.id).await;
    assert_eq!(d["state"], 2);
    let refused = t.try_login(&bot, "plain").await;
    refused.assert_error(403, "ERR_ACCOUNT_BANNED");
    assert_eq!(refused.body["expires_at"], until);

    // The ban runs out on its own; the user logs in again.
    t.clock.advance_secs(3601);
    assert_eq!(detail(&t, &owner_token, user.id).await["state"], 0);
    t.login(&bot, "plain").await;

    // A permanent ban replaces a timed one; a timeout under it shows again after the unban.
    t.post_as(
        &owner_token,
        &user_path(user.id, "timeout"),
        json!({"duration": 7200, "reason": "x"}),
    )
    .await
    .assert_ok();
    let first = t
        .post_as(
            &owner_token,
            &user_path(user.id, "ban"),
            json!({"reason": "x", "duration": 600}),
        )
        .await;
    let first_id = first.assert_ok()["action"]["id"].clone();
    let r = t
        .post_as(
            &owner_token,
            &user_path(user.id, "ban"),
            json!({"reason": "worse", "duration": null}),
        )
        .await;
    assert_eq!(r.assert_ok()["message"], format!("User {} banned permanently", user.id));
    assert_eq!(r.body["action"]["expires_at"], Value::Null);
    let d = detail(&t, &owner_token, user.id).await;
    assert_eq!(d["state"], 2);
    assert_eq!(d["moderation_actions"][1]["id"], first_id);
    assert_eq!(d["moderation_actions"][1]["is_lifted"], true);
    let r = t
        .post_as(&owner_token, &user_path(user.id, "unban"), json!({"reason": "appeal"}))
        .await;
    let body = r.assert_ok();
    assert_eq!(body["message"], format!("User {} unbanned", user.id));
    assert_eq!(body["action"]["reason"], "worse");
    assert_eq!(body["action"]["lifted_by_id"], owner.id);
    let unban = t
        .get(&format!(
            "/v1/admin/audit/logs?event_type=USER_UNBAN&target_id={}",
            user.id
        ))
        .cookie(&owner_token)
        .send()
        .await;
    assert_eq!(
        unban.assert_ok()["items"][0]["metadata"],
        json!({"action_ids": [body["action"]["id"]], "reason": "appeal"})
    );
    assert_eq!(detail(&t, &owner_token, user.id).await["state"], 1);
    t.post_as(&owner_token, &user_path(user.id, "unban"), json!({"reason": "again"}))
        .await
        .assert_error(409, "ERR_NOT_BANNED");
});
