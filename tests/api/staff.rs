//! Staff actions under the rank ladder: platform moderation, permission changes, deletion, the
//! moderation search, the audit log and subscriptions (30-admin-moderation, 40-subscriptions).

use crate::common::{TestApp, TestResponse};
use portal::store::history::NewModeration;
use portal::store::users::{SubscriptionChange, UserRow};
use portal::time::Timestamp;
use serde_json::{json, Value};

const DAY: i64 = 86_400;
const MICROS: i64 = 1_000_000;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A user at `level` with a live session: (user, session token).
async fn staff(t: &TestApp, bot: &str, pid: &str, level: i64) -> (UserRow, String) {
    let user = t.user(pid, level).await;
    let token = t.login(bot, pid).await;
    (user, token)
}

async fn scalar(t: &TestApp, sql: &str, bind: Option<i64>) -> i64 {
    let mut conn = t.conn().await;
    let query = sqlx::query_as::<_, (i64,)>(sql);
    let query = match bind {
        Some(v) => query.bind(v),
        None => query,
    };
    query.fetch_one(&mut *conn).await.unwrap().0
}

async fn audit_count(t: &TestApp) -> i64 {
    scalar(t, "SELECT COUNT(*) FROM audit_log", None).await
}

async fn moderation_count(t: &TestApp) -> i64 {
    scalar(t, "SELECT COUNT(*) FROM moderation_actions", None).await
}

/// Rows of the user's history tables and live sessions, to show that a refusal changed nothing.
async fn footprint(t: &TestApp, user_id: i64) -> Vec<i64> {
    let mut out = vec![audit_count(t).await, moderation_count(t).await];
    for sql in [
        "SELECT COUNT(*) FROM subscription_history WHERE user_id = $1",
        "SELECT COUNT(*) FROM permission_history WHERE user_id = $1",
        "SELECT COUNT(*) FROM sessions WHERE user_id = $1 AND ended_at IS NULL",
        "SELECT permission_level FROM users WHERE id = $1",
        "SELECT subscription_tier FROM users WHERE id = $1",
    ] {
        out.push(scalar(t, sql, Some(user_id)).await);
    }
    out
}

/// The staff record of a user, as an Owner sees it.
async fn detail(t: &TestApp, owner_token: &str, user_id: i64) -> Value {
    t.get(&format!("/v1/users/{user_id}"))
        .cookie(owner_token)
        .send()
        .await
        .assert_ok()
        .clone()
}

async fn post(t: &TestApp, token: &str, path: &str, body: Value) -> TestResponse {
    t.post(path).cookie(token).json(body).send().await
}

fn user_path(user_id: i64, act: &str) -> String {
    format!("/v1/admin/users/{user_id}/{act}")
}

/// Puts a platform action in force directly in the store, as another staff member would have.
async fn put_in_force(t: &TestApp, user_id: i64, action_type: &str, expires_in_s: Option<i64>) {
    let now = t.app.now();
    let mut conn = t.conn().await;
    portal::store::history::insert_moderation(
        &mut conn,
        NewModeration {
            user_id,
            action_type,
            reason: Some("set up by the test"),
            chat_id: None,
            issued_by_id: None,
            expires_at: expires_in_s.map(|s| now + s * MICROS),
            now,
        },
    )
    .await
    .unwrap();
}

async fn give_lifetime(t: &TestApp, user_id: i64) {
    let mut conn = t.conn().await;
    portal::store::users::set_subscription(
        &mut conn,
        user_id,
        SubscriptionChange {
            tier: 3,
            expires_at: None,
            granted_by: None,
            uses_trial: false,
            now: t.app.now(),
        },
    )
    .await
    .unwrap();
}

fn ts(micros: i64) -> String {
    Timestamp(micros).to_rfc3339()
}

/// The web login flow up to verify, returning verify's answer (for identities that may be refused).
async fn try_login(t: &TestApp, bot: &str, pid: &str) -> TestResponse {
    t.post("/v1/authentication/request")
        .json(json!({"platform": "discord", "platform_user_id": pid}))
        .send()
        .await
        .assert_ok();
    let fetched = t
        .post("/v1/authentication/bot/login-code")
        .key(bot)
        .json(json!({"platform": "discord", "platform_user_id": pid, "platform_username": format!("name-{pid}"), "platform_avatar_url": null}))
        .send()
        .await;
    let code = fetched.assert_ok()["code"].as_str().expect("a pending code").to_owned();
    t.verify(&code).await
}

// ---------------------------------------------------------------------------------------------
// The rank matrix
// ---------------------------------------------------------------------------------------------

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
            Act::Untimeout => put_in_force(t, target, "PLATFORM_TIMEOUT", Some(3600)).await,
            Act::Unban => put_in_force(t, target, "PLATFORM_BAN", None).await,
            Act::Revoke => give_lifetime(t, target).await,
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
        actors.push((level, staff(&t, &bot, &format!("actor-{level}"), level).await));
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
            let r = post(&t, token, &path, body).await;
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
    let (_, owner) = staff(&t, &bot, "owner", 3).await;
    let (admin, admin_token) = staff(&t, &bot, "admin", 2).await;
    let (user, user_token) = staff(&t, &bot, "plain", 0).await;
    let target = t.user("target", 0).await;

    let r = post(
        &t,
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
        let r = post(&t, &admin_token, &path, body).await;
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
    post(
        &t,
        &owner,
        &user_path(user.id, "timeout"),
        json!({"duration": 600, "reason": "x"}),
    )
    .await
    .assert_ok();
    post(&t, &user_token, &user_path(target.id, "warn"), json!({"reason": "x"}))
        .await
        .assert_error(403, "ERR_INSUFFICIENT_PERMISSION");

    // When the timeout ends, the Admin acts again.
    t.clock.advance_secs(601);
    post(
        &t,
        &admin_token,
        &user_path(target.id, "warn"),
        json!({"reason": "back"}),
    )
    .await
    .assert_ok();
});

// ---------------------------------------------------------------------------------------------
// Timeouts, bans and their expiry
// ---------------------------------------------------------------------------------------------

both_backends!(timeouts_replace_each_other_and_expire, |t: TestApp| async move {
    let bot = t.login_bot().await;
    let (owner, owner_token) = staff(&t, &bot, "owner", 3).await;
    let (_, mod_token) = staff(&t, &bot, "mod", 1).await;
    let (user, user_token) = staff(&t, &bot, "plain", 0).await;

    let now = t.app.now();
    let r = post(
        &t,
        &owner_token,
        &user_path(user.id, "timeout"),
        json!({"duration": 60, "reason": "  spam  "}),
    )
    .await;
    let first = r.assert_ok().clone();
    let expires = ts(now + 60 * MICROS);
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
    assert_eq!(action["created_at"], ts(now));
    assert_eq!(detail(&t, &owner_token, user.id).await["state"], 1);
    // Sessions are kept through a timeout.
    t.get("/v1/users/me").cookie(&user_token).send().await.assert_ok();

    // A second timeout, by a Moderator, replaces the Owner's.
    let r = post(
        &t,
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
        json!({"action_id": second_id, "reason": "again", "duration": 120, "expires_at": ts(now + 120 * MICROS),
               "replaced_action_ids": [action["id"]], "chat_id": null})
    );

    // Expiry is read-time: no lift, no job.
    t.clock.advance_secs(121);
    let d = detail(&t, &owner_token, user.id).await;
    assert_eq!(d["state"], 0);
    assert_eq!(d["moderation_actions"][0]["is_lifted"], false);
    post(
        &t,
        &owner_token,
        &user_path(user.id, "untimeout"),
        json!({"reason": "x"}),
    )
    .await
    .assert_error(409, "ERR_NOT_TIMED_OUT");

    // Untimeout lifts what is in force and answers the newest.
    post(
        &t,
        &owner_token,
        &user_path(user.id, "timeout"),
        json!({"duration": 3600, "reason": "x"}),
    )
    .await
    .assert_ok();
    let lifted_at = t.app.now();
    let r = post(
        &t,
        &mod_token,
        &user_path(user.id, "untimeout"),
        json!({"reason": "appeal"}),
    )
    .await;
    let body = r.assert_ok();
    assert_eq!(body["message"], format!("Timeout lifted for user {}", user.id));
    assert_eq!(body["action"]["is_lifted"], true);
    assert_eq!(body["action"]["lifted_at"], ts(lifted_at));
    assert_eq!(detail(&t, &owner_token, user.id).await["state"], 0);

    // A banned user cannot be timed out.
    post(&t, &owner_token, &user_path(user.id, "ban"), json!({"reason": "x"}))
        .await
        .assert_ok();
    let before = moderation_count(&t).await;
    post(
        &t,
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
    let (owner, owner_token) = staff(&t, &bot, "owner", 3).await;
    let (user, user_token) = staff(&t, &bot, "plain", 0).await;
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
    let r = post(
        &t,
        &owner_token,
        &user_path(user.id, "ban"),
        json!({"reason": "evasion", "duration": 3600}),
    )
    .await;
    let body = r.assert_ok().clone();
    let until = ts(now + 3600 * MICROS);
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
    let refused = try_login(&t, &bot, "plain").await;
    refused.assert_error(403, "ERR_ACCOUNT_BANNED");
    assert_eq!(refused.body["expires_at"], until);

    // The ban runs out on its own; the user logs in again.
    t.clock.advance_secs(3601);
    assert_eq!(detail(&t, &owner_token, user.id).await["state"], 0);
    t.login(&bot, "plain").await;

    // A permanent ban replaces a timed one; a timeout under it shows again after the unban.
    post(
        &t,
        &owner_token,
        &user_path(user.id, "timeout"),
        json!({"duration": 7200, "reason": "x"}),
    )
    .await
    .assert_ok();
    let first = post(
        &t,
        &owner_token,
        &user_path(user.id, "ban"),
        json!({"reason": "x", "duration": 600}),
    )
    .await;
    let first_id = first.assert_ok()["action"]["id"].clone();
    let r = post(
        &t,
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
    let r = post(
        &t,
        &owner_token,
        &user_path(user.id, "unban"),
        json!({"reason": "appeal"}),
    )
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
    post(
        &t,
        &owner_token,
        &user_path(user.id, "unban"),
        json!({"reason": "again"}),
    )
    .await
    .assert_error(409, "ERR_NOT_BANNED");
});

// ---------------------------------------------------------------------------------------------
// Permission changes and the last Owner
// ---------------------------------------------------------------------------------------------

both_backends!(permission_changes_write_history, |t: TestApp| async move {
    let bot = t.login_bot().await;
    let (owner, owner_token) = staff(&t, &bot, "owner", 3).await;
    let (user, user_token) = staff(&t, &bot, "plain", 0).await;

    let now = t.app.now();
    let r = post(
        &t,
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
    assert_eq!(change["created_at"], ts(now));
    // The new level applies to the user's next request.
    t.get("/v1/admin/audit/logs")
        .cookie(&user_token)
        .send()
        .await
        .assert_ok();

    let before = footprint(&t, user.id).await;
    post(
        &t,
        &owner_token,
        &user_path(user.id, "permission"),
        json!({"level": 2, "reason": "again"}),
    )
    .await
    .assert_error(409, "ERR_PERMISSION_UNCHANGED");
    post(
        &t,
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
    let (acting, acting_token) = staff(&t, &bot, "owner-a", 3).await;
    let other = t.user("owner-b", 3).await;
    // Every other Owner is banned behind the API's back, so `other` is the last unbanned one.
    let bot_owner = scalar(&t, "SELECT owner_id FROM bots LIMIT 1", None).await;
    put_in_force(&t, bot_owner, "PLATFORM_BAN", None).await;
    put_in_force(&t, acting.id, "PLATFORM_BAN", None).await;

    let before = footprint(&t, other.id).await;
    post(&t, &acting_token, &user_path(other.id, "ban"), json!({"reason": "x"}))
        .await
        .assert_error(409, "ERR_LAST_OWNER");
    post(
        &t,
        &acting_token,
        &user_path(other.id, "delete"),
        json!({"reason": "x"}),
    )
    .await
    .assert_error(409, "ERR_LAST_OWNER");
    post(
        &t,
        &acting_token,
        &user_path(other.id, "permission"),
        json!({"level": 2, "reason": "x"}),
    )
    .await
    .assert_error(409, "ERR_LAST_OWNER");
    assert_eq!(footprint(&t, other.id).await, before);
    // Acts that keep the Owner an unbanned Owner are fine.
    post(&t, &acting_token, &user_path(other.id, "warn"), json!({"reason": "x"}))
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
    let (a, a_token) = staff(&t, &bot, "owner-a", 3).await;
    let (b, b_token) = staff(&t, &bot, "owner-b", 3).await;
    let bot_owner = scalar(&t, "SELECT owner_id FROM bots LIMIT 1", None).await;
    put_in_force(&t, bot_owner, "PLATFORM_BAN", None).await;

    let a_path = user_path(b.id, "ban");
    let b_path = user_path(a.id, "ban");
    let (r1, r2) = tokio::join!(
        post(&t, &a_token, &a_path, json!({"reason": "race"})),
        post(&t, &b_token, &b_path, json!({"reason": "race"})),
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
        let (owner, owner_token) = staff(&t, &bot, "owner", 3).await;
        let (doomed, _) = staff(&t, &bot, "doomed", 1).await;
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
        let issued = post(&t, &doomed_token, &user_path(other.id, "warn"), json!({"reason": "x"})).await;
        let issued_id = issued.assert_ok()["action"]["id"].as_i64().unwrap();
        post(&t, &owner_token, &user_path(doomed.id, "warn"), json!({"reason": "x"}))
            .await
            .assert_ok();
        t.post("/v1/authentication/request")
            .json(json!({"platform": "discord", "platform_user_id": "doomed"}))
            .send()
            .await
            .assert_ok();

        let r = post(
            &t,
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
    let (owner, owner_token) = staff(&t, &bot, "owner", 3).await;
    let (user, user_token) = staff(&t, &bot, "plain", 0).await;
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
        post(&t, &owner_token, path, body.clone())
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
    post(&t, &owner_token, &user_path(user.id, "ban"), json!({"reason": "x"}))
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

// ---------------------------------------------------------------------------------------------
// Subscriptions
// ---------------------------------------------------------------------------------------------

async fn grant(t: &TestApp, token: &str, body: Value) -> TestResponse {
    post(t, token, "/v1/admin/subscriptions/grant", body).await
}

async fn revoke(t: &TestApp, token: &str, user_id: i64) -> TestResponse {
    post(
        t,
        token,
        "/v1/admin/subscriptions/revoke",
        json!({"user_id": user_id, "reason": "chargeback"}),
    )
    .await
}

both_backends!(subscription_grants_follow_the_tier_rules, |t: TestApp| async move {
    let bot = t.login_bot().await;
    let (admin, admin_token) = staff(&t, &bot, "admin", 2).await;
    let user = t.user("plain", 0).await;
    let paid = t.user("paid", 0).await;

    // Trial, in any case of its name: seven days, once.
    let now = t.app.now();
    let r = grant(
        &t,
        &admin_token,
        json!({"user_id": user.id, "tier": "trial", "reason": "  onboarding "}),
    )
    .await;
    let body = r.assert_ok();
    assert_eq!(
        body["message"],
        format!("Subscription granted to user {} (7-day trial)", user.id)
    );
    assert_eq!(
        body["subscription"],
        json!({"user_id": user.id, "subscription_tier": 1, "expires_at": ts(now + 7 * DAY * MICROS),
               "is_active": true, "granted_by_id": admin.id, "trial_used": true})
    );
    let before = footprint(&t, user.id).await;
    grant(&t, &admin_token, json!({"user_id": user.id, "tier": 1}))
        .await
        .assert_error(409, "ERR_TRIAL_ALREADY_USED");
    assert_eq!(footprint(&t, user.id).await, before);

    // Premium over a Trial starts now; Premium over Premium extends it. (Staff sessions last a
    // day, so the Admin logs in again after each jump of the clock.)
    t.clock.advance_secs(DAY);
    let admin_token = t.login(&bot, "admin").await;
    let now = t.app.now();
    let r = grant(
        &t,
        &admin_token,
        json!({"user_id": user.id, "tier": 2, "duration_days": 30}),
    )
    .await;
    let body = r.assert_ok();
    assert_eq!(
        body["message"],
        format!("Subscription granted to user {} for 30 days", user.id)
    );
    let premium_until = now + 30 * DAY * MICROS;
    assert_eq!(body["subscription"]["expires_at"], ts(premium_until));
    t.clock.advance_secs(10 * DAY);
    let admin_token = t.login(&bot, "admin").await;
    let r = grant(
        &t,
        &admin_token,
        json!({"user_id": user.id, "tier": "Premium", "duration_days": 5, "reason": ""}),
    )
    .await;
    assert_eq!(
        r.assert_ok()["subscription"]["expires_at"],
        ts(premium_until + 5 * DAY * MICROS)
    );
    let audit = t
        .get(&format!(
            "/v1/admin/audit/logs?event_type=SUBSCRIPTION_GRANT&target_id={}&limit=1",
            user.id
        ))
        .cookie(&admin_token)
        .send()
        .await;
    let entry = &audit.assert_ok()["items"][0];
    let history_id = scalar(
        &t,
        "SELECT MAX(id) FROM subscription_history WHERE user_id = $1",
        Some(user.id),
    )
    .await;
    assert_eq!(
        entry["metadata"],
        json!({"old_tier": 2, "new_tier": 2, "duration_days": 5, "old_expires_at": ts(premium_until),
               "new_expires_at": ts(premium_until + 5 * DAY * MICROS), "reason": null, "history_id": history_id})
    );

    // A Trial never replaces a paid tier.
    grant(
        &t,
        &admin_token,
        json!({"user_id": paid.id, "tier": 2, "duration_days": 30}),
    )
    .await
    .assert_ok();
    grant(&t, &admin_token, json!({"user_id": paid.id, "tier": "TRIAL"}))
        .await
        .assert_error(409, "ERR_SUBSCRIPTION_ACTIVE");

    // Lifetime drops the remaining Premium; nothing is granted over it.
    let r = grant(
        &t,
        &admin_token,
        json!({"user_id": user.id, "tier": 3, "duration_days": null}),
    )
    .await;
    let body = r.assert_ok();
    assert_eq!(
        body["message"],
        format!("Lifetime subscription granted to user {}", user.id)
    );
    assert_eq!(body["subscription"]["subscription_tier"], 3);
    assert_eq!(body["subscription"]["expires_at"], Value::Null);
    for tier in [json!(1), json!("PREMIUM"), json!(3)] {
        grant(
            &t,
            &admin_token,
            json!({"user_id": user.id, "tier": tier, "duration_days": 3}),
        )
        .await
        .assert_error(409, "ERR_ALREADY_LIFETIME");
    }

    // The active list: effective tiers, by id, with a tier filter.
    let r = t
        .get("/v1/admin/subscriptions/active")
        .cookie(&admin_token)
        .send()
        .await;
    let body = r.assert_ok();
    assert_eq!(body["total"], 2);
    assert_eq!(
        body["users"][0],
        json!({"id": user.id, "name": "uplain", "tier": 3, "expires_at": null, "is_active": true})
    );
    assert_eq!(body["users"][1]["id"], paid.id);
    assert_eq!(body["users"][1]["tier"], 2);
    for (filter, expected) in [("2", vec![paid.id]), ("lifetime", vec![user.id]), ("TRIAL", vec![])] {
        let r = t
            .get(&format!("/v1/admin/subscriptions/active?tier={filter}"))
            .cookie(&admin_token)
            .send()
            .await;
        let ids: Vec<i64> = r.assert_ok()["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, expected, "{filter}");
    }
    let r = t
        .get("/v1/admin/subscriptions/active?limit=1&offset=1")
        .cookie(&admin_token)
        .send()
        .await;
    assert_eq!(r.assert_ok()["users"][0]["id"], paid.id);
    assert_eq!(r.body["total"], 2);
    for bad in ["tier=0", "tier=BASIC", "tier=4", "limit=0", "limit=1001", "offset=-1"] {
        t.get(&format!("/v1/admin/subscriptions/active?{bad}"))
            .cookie(&admin_token)
            .send()
            .await
            .assert_error(400, "ERR_VALIDATION");
    }

    // Revoke returns to Basic at once; the used Trial stays used.
    let r = revoke(&t, &admin_token, user.id).await;
    let body = r.assert_ok();
    assert_eq!(body["message"], format!("Subscription revoked for user {}", user.id));
    assert_eq!(
        body["subscription"],
        json!({"user_id": user.id, "subscription_tier": 0, "expires_at": null, "is_active": false,
               "granted_by_id": null, "trial_used": true})
    );
    let before = footprint(&t, user.id).await;
    revoke(&t, &admin_token, user.id)
        .await
        .assert_error(409, "ERR_NO_SUBSCRIPTION");
    grant(&t, &admin_token, json!({"user_id": user.id, "tier": 1}))
        .await
        .assert_error(409, "ERR_TRIAL_ALREADY_USED");
    assert_eq!(footprint(&t, user.id).await, before);
});

both_backends!(
    subscriptions_expire_at_read_time_and_the_sweeper_records_it,
    |t: TestApp| async move {
        let bot = t.login_bot().await;
        let (admin, admin_token) = staff(&t, &bot, "admin", 2).await;
        t.user("owner", 3).await;
        let user = t.user("plain", 0).await;
        let regrant = t.user("regrant", 0).await;

        let granted_at = t.app.now();
        for target in [user.id, regrant.id] {
            grant(
                &t,
                &admin_token,
                json!({"user_id": target, "tier": 2, "duration_days": 1}),
            )
            .await
            .assert_ok();
        }
        let expiry = granted_at + DAY * MICROS;
        t.clock.advance_secs(DAY + 5);
        // Staff sessions last a day.
        let admin_token = t.login(&bot, "admin").await;
        let owner_token = t.login(&bot, "owner").await;

        // Basic from the instant of expiry, before any sweep.
        let d = detail(&t, &owner_token, user.id).await;
        assert_eq!(d["subscription_tier"], 0);
        assert_eq!(d["subscription_expires_at"], Value::Null);
        assert_eq!(d["subscription_granted_by"], Value::Null);
        assert_eq!(d["subscription_history"].as_array().unwrap().len(), 1);
        let r = t
            .get("/v1/admin/subscriptions/active")
            .cookie(&admin_token)
            .send()
            .await;
        assert_eq!(r.assert_ok()["total"], 0);
        // A refused revoke writes nothing, the expiry included.
        revoke(&t, &admin_token, user.id)
            .await
            .assert_error(409, "ERR_NO_SUBSCRIPTION");
        assert_eq!(
            detail(&t, &owner_token, user.id).await["subscription_history"]
                .as_array()
                .unwrap()
                .len(),
            1
        );

        // A grant records the expiry first, dated at the expiry instant.
        let regranted_at = t.app.now();
        grant(
            &t,
            &admin_token,
            json!({"user_id": regrant.id, "tier": 2, "duration_days": 3}),
        )
        .await
        .assert_ok();
        let history = detail(&t, &owner_token, regrant.id).await["subscription_history"].clone();
        let steps: Vec<(i64, i64, Value, Value)> = history
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h["old_tier"].as_i64().unwrap(),
                    h["new_tier"].as_i64().unwrap(),
                    h["reason"].clone(),
                    h["created_at"].clone(),
                )
            })
            .collect();
        assert_eq!(
            steps,
            vec![
                (0, 2, Value::Null, json!(ts(regranted_at))),
                (2, 0, json!("expired"), json!(ts(expiry))),
                (0, 2, Value::Null, json!(ts(granted_at))),
            ]
        );
        assert_eq!(history[1]["granted_by_id"], Value::Null);
        assert_eq!(history[2]["granted_by_id"], admin.id);

        // The sweeper records the other expiry once, however often it runs; no audit row.
        let audits = audit_count(&t).await;
        assert_eq!(portal::domain::subscriptions::sweep_expired(&t.app).await.unwrap(), 1);
        assert_eq!(portal::domain::subscriptions::sweep_expired(&t.app).await.unwrap(), 0);
        assert_eq!(audit_count(&t).await, audits);
        let d = detail(&t, &owner_token, user.id).await;
        let newest = &d["subscription_history"][0];
        assert_eq!(
            (
                newest["old_tier"].clone(),
                newest["new_tier"].clone(),
                newest["reason"].clone()
            ),
            (json!(2), json!(0), json!("expired"))
        );
        assert_eq!(newest["created_at"], ts(expiry));
        assert_eq!(newest["granted_by_id"], Value::Null);
        assert_eq!(d["updated_at"], ts(expiry));
        assert_eq!(d["subscription_history"].as_array().unwrap().len(), 2);

        // A Trial runs out after seven days too.
        grant(&t, &admin_token, json!({"user_id": user.id, "tier": "TRIAL"}))
            .await
            .assert_ok();
        t.clock.advance_secs(7 * DAY - 1);
        let owner_token = t.login(&bot, "owner").await;
        assert_eq!(detail(&t, &owner_token, user.id).await["subscription_tier"], 1);
        t.clock.advance_secs(1);
        assert_eq!(detail(&t, &owner_token, user.id).await["subscription_tier"], 0);
        // That Trial and the three-day Premium of the other user.
        assert_eq!(portal::domain::subscriptions::sweep_expired(&t.app).await.unwrap(), 2);
    }
);

// ---------------------------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------------------------

both_backends!(bad_input_is_refused_and_changes_nothing, |t: TestApp| async move {
    let bot = t.login_bot().await;
    let (_, owner) = staff(&t, &bot, "owner", 3).await;
    let user = t.user("plain", 0).await;
    let u = user.id;
    let long = "x".repeat(501);
    let grant_path = "/v1/admin/subscriptions/grant";
    let revoke_path = "/v1/admin/subscriptions/revoke";
    let cases: Vec<(String, Value, &str)> = vec![
        (user_path(u, "timeout"), json!({"reason": "x"}), "duration"),
        (
            user_path(u, "timeout"),
            json!({"duration": 59, "reason": "x"}),
            "duration",
        ),
        (
            user_path(u, "timeout"),
            json!({"duration": 2_592_001, "reason": "x"}),
            "duration",
        ),
        (
            user_path(u, "timeout"),
            json!({"duration": "600", "reason": "x"}),
            "duration",
        ),
        (
            user_path(u, "timeout"),
            json!({"duration": 600.0, "reason": "x"}),
            "duration",
        ),
        (user_path(u, "timeout"), json!({"duration": 600}), "reason"),
        (user_path(u, "ban"), json!({"reason": "x", "duration": -1}), "duration"),
        (user_path(u, "ban"), json!({"reason": "x", "duration": 59}), "duration"),
        (
            user_path(u, "ban"),
            json!({"reason": "x", "duration": 31_536_001}),
            "duration",
        ),
        (
            user_path(u, "ban"),
            json!({"reason": "x", "duration": "1h"}),
            "duration",
        ),
        (user_path(u, "ban"), json!({"duration": 600}), "reason"),
        (user_path(u, "warn"), json!({}), "reason"),
        (user_path(u, "warn"), json!({"reason": null}), "reason"),
        (user_path(u, "warn"), json!({"reason": ""}), "reason"),
        (user_path(u, "warn"), json!({"reason": " \n\t "}), "reason"),
        (user_path(u, "warn"), json!({"reason": long.clone()}), "reason"),
        (user_path(u, "warn"), json!({"reason": 42}), "reason"),
        (user_path(u, "untimeout"), json!({"reason": ""}), "reason"),
        (user_path(u, "unban"), json!({"reason": long.clone()}), "reason"),
        (user_path(u, "delete"), json!({"reason": "   "}), "reason"),
        (user_path(u, "permission"), json!({"level": 4, "reason": "x"}), "level"),
        (user_path(u, "permission"), json!({"level": -1, "reason": "x"}), "level"),
        (
            user_path(u, "permission"),
            json!({"level": "1", "reason": "x"}),
            "level",
        ),
        (user_path(u, "permission"), json!({"level": 1}), "reason"),
        ("/v1/admin/users/0/warn".into(), json!({"reason": "x"}), "user_id"),
        ("/v1/admin/users/abc/ban".into(), json!({"reason": "x"}), "user_id"),
        ("/v1/admin/users/-3/delete".into(), json!({"reason": "x"}), "user_id"),
        (grant_path.into(), json!({"tier": 2, "duration_days": 3}), "user_id"),
        (grant_path.into(), json!({"user_id": 0, "tier": 3}), "user_id"),
        (
            grant_path.into(),
            json!({"user_id": u.to_string(), "tier": 3}),
            "user_id",
        ),
        (grant_path.into(), json!({"user_id": u}), "tier"),
        (grant_path.into(), json!({"user_id": u, "tier": 7}), "tier"),
        (grant_path.into(), json!({"user_id": u, "tier": 0}), "tier"),
        (grant_path.into(), json!({"user_id": u, "tier": "GOLD"}), "tier"),
        (grant_path.into(), json!({"user_id": u, "tier": "BASIC"}), "tier"),
        (grant_path.into(), json!({"user_id": u, "tier": "2"}), "tier"),
        (grant_path.into(), json!({"user_id": u, "tier": 2.0}), "tier"),
        (grant_path.into(), json!({"user_id": u, "tier": true}), "tier"),
        (grant_path.into(), json!({"user_id": u, "tier": 2}), "duration_days"),
        (
            grant_path.into(),
            json!({"user_id": u, "tier": 2, "duration_days": 0}),
            "duration_days",
        ),
        (
            grant_path.into(),
            json!({"user_id": u, "tier": 2, "duration_days": 3651}),
            "duration_days",
        ),
        (
            grant_path.into(),
            json!({"user_id": u, "tier": 2, "duration_days": "30"}),
            "duration_days",
        ),
        (
            grant_path.into(),
            json!({"user_id": u, "tier": 1, "duration_days": "x"}),
            "duration_days",
        ),
        (
            grant_path.into(),
            json!({"user_id": u, "tier": 3, "reason": long.clone()}),
            "reason",
        ),
        (
            grant_path.into(),
            json!({"user_id": u, "tier": 3, "reason": 5}),
            "reason",
        ),
        (revoke_path.into(), json!({"user_id": u}), "reason"),
        (revoke_path.into(), json!({"reason": "x"}), "user_id"),
    ];
    let before = footprint(&t, u).await;
    for (path, body, field) in &cases {
        let r = post(&t, &owner, path, body.clone()).await;
        r.assert_error(400, "ERR_VALIDATION");
        assert_eq!(r.body["field"], *field, "{path} {body}: {}", r.body);
        let message = r.body["error"].as_str().unwrap();
        assert!(message.starts_with(field), "{message}");
    }
    let r = post(
        &t,
        &owner,
        &user_path(u, "timeout"),
        json!({"duration": 59, "reason": "x"}),
    )
    .await;
    assert_eq!(r.body["error"], "duration must be between 60 and 2592000");
    let r = post(&t, &owner, grant_path, json!({"user_id": u, "tier": "GOLD"})).await;
    assert_eq!(
        r.body["error"],
        "tier must be one of: 1, 2, 3, TRIAL, PREMIUM, LIFETIME"
    );
    let r = post(&t, &owner, grant_path, json!({"user_id": u, "tier": 2})).await;
    assert_eq!(r.body["error"], "duration_days is required");

    // Unknown users.
    let ghost = 999_999;
    for (path, body) in [
        (user_path(ghost, "warn"), json!({"reason": "x"})),
        (user_path(ghost, "timeout"), json!({"duration": 60, "reason": "x"})),
        (user_path(ghost, "untimeout"), json!({"reason": "x"})),
        (user_path(ghost, "ban"), json!({"reason": "x"})),
        (user_path(ghost, "unban"), json!({"reason": "x"})),
        (user_path(ghost, "permission"), json!({"level": 1, "reason": "x"})),
        (user_path(ghost, "delete"), json!({"reason": "x"})),
        (grant_path.into(), json!({"user_id": ghost, "tier": 3})),
        (revoke_path.into(), json!({"user_id": ghost, "reason": "x"})),
    ] {
        post(&t, &owner, &path, body)
            .await
            .assert_error(404, "ERR_USER_NOT_FOUND");
    }

    // Conflicts.
    post(&t, &owner, &user_path(u, "untimeout"), json!({"reason": "x"}))
        .await
        .assert_error(409, "ERR_NOT_TIMED_OUT");
    post(&t, &owner, &user_path(u, "unban"), json!({"reason": "x"}))
        .await
        .assert_error(409, "ERR_NOT_BANNED");
    post(
        &t,
        &owner,
        &user_path(u, "permission"),
        json!({"level": 0, "reason": "x"}),
    )
    .await
    .assert_error(409, "ERR_PERMISSION_UNCHANGED");
    revoke(&t, &owner, u).await.assert_error(409, "ERR_NO_SUBSCRIPTION");
    assert_eq!(footprint(&t, u).await, before);

    // Trial twice: the second changes nothing.
    grant(&t, &owner, json!({"user_id": u, "tier": "TRIAL"}))
        .await
        .assert_ok();
    let after_trial = footprint(&t, u).await;
    grant(&t, &owner, json!({"user_id": u, "tier": "TRIAL"}))
        .await
        .assert_error(409, "ERR_TRIAL_ALREADY_USED");
    assert_eq!(footprint(&t, u).await, after_trial);

    // A reason of 500 characters after trimming is accepted and stored trimmed.
    let exact = "y".repeat(500);
    let r = post(
        &t,
        &owner,
        &user_path(u, "warn"),
        json!({"reason": format!("  {exact}\n")}),
    )
    .await;
    assert_eq!(r.assert_ok()["action"]["reason"], exact);
});

// ---------------------------------------------------------------------------------------------
// Moderation search and the audit log
// ---------------------------------------------------------------------------------------------

both_backends!(moderation_search_filters_and_pages, |t: TestApp| async move {
    let bot = t.login_bot().await;
    let (owner, owner_token) = staff(&t, &bot, "owner", 3).await;
    let (moderator, mod_token) = staff(&t, &bot, "mod", 1).await;
    let (_, user_token) = staff(&t, &bot, "plain", 0).await;
    let a = t.user("a", 0).await;
    let b = t.user("b", 0).await;

    let warn_a = post(&t, &mod_token, &user_path(a.id, "warn"), json!({"reason": "1"})).await;
    let warn_a = warn_a.assert_ok()["action"]["id"].as_i64().unwrap();
    t.clock.advance_secs(1);
    let short = post(
        &t,
        &mod_token,
        &user_path(a.id, "timeout"),
        json!({"duration": 60, "reason": "2"}),
    )
    .await;
    let short = short.assert_ok()["action"]["id"].as_i64().unwrap();
    t.clock.advance_secs(61);
    let ban_b = post(&t, &owner_token, &user_path(b.id, "ban"), json!({"reason": "3"})).await;
    let ban_b = ban_b.assert_ok()["action"]["id"].as_i64().unwrap();
    t.clock.advance_secs(1);
    post(&t, &owner_token, &user_path(b.id, "unban"), json!({"reason": "4"}))
        .await
        .assert_ok();
    t.clock.advance_secs(1);
    let ban_b2 = post(
        &t,
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
            action_type: "CHAT_MUTE",
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
    let (owner, owner_token) = staff(&t, &bot, "owner", 3).await;
    let (moderator, mod_token) = staff(&t, &bot, "mod", 1).await;
    let (_, user_token) = staff(&t, &bot, "plain", 0).await;
    let a = t.user("a", 0).await;
    let baseline = audit_count(&t).await;

    // The clock stands still between jumps, so the set-up above shares no instant with these.
    t.clock.advance_secs(10);
    let start = t.app.now();
    post(&t, &mod_token, &user_path(a.id, "warn"), json!({"reason": "w"}))
        .await
        .assert_ok();
    t.clock.advance_secs(10);
    let middle = t.app.now();
    grant(&t, &owner_token, json!({"user_id": a.id, "tier": 3, "reason": "early"}))
        .await
        .assert_ok();
    t.clock.advance_secs(10);
    post(
        &t,
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

    let since = Timestamp(start).to_rfc3339();
    let until = Timestamp(middle).to_rfc3339();
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
            format!("?since={}", Timestamp(middle).to_rfc3339()),
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
        let (owner, owner_token) = staff(&t, &bot, "owner", 3).await;
        let (_, user_token) = staff(&t, &bot, "plain", 0).await;
        let user = t.user("target", 0).await;

        let warned = post(
            &t,
            &owner_token,
            &user_path(user.id, "warn"),
            json!({"reason": "first"}),
        )
        .await;
        let warned = warned.assert_ok()["action"].clone();
        t.clock.advance_secs(1);
        let timed = post(
            &t,
            &owner_token,
            &user_path(user.id, "timeout"),
            json!({"duration": 3600, "reason": "second"}),
        )
        .await;
        let timed = timed.assert_ok()["action"].clone();
        let changed = post(
            &t,
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
        assert_eq!(d["subscription_expires_at"], ts(granted_at + 30 * DAY * MICROS));
        assert_eq!(d["moderation_actions"], json!([timed, warned]));
        assert_eq!(d["permission_history"], json!([change]));
        assert_eq!(
            d["subscription_history"][0],
            json!({"id": d["subscription_history"][0]["id"], "old_tier": 0, "new_tier": 2, "reason": "winner",
               "granted_by_id": owner.id, "created_at": ts(granted_at)})
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
