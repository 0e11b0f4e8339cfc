//! Staff actions under the rank ladder: platform moderation, permission changes, deletion, the
//! moderation search, the audit log and subscriptions (30-admin-moderation, 40-subscriptions).

mod common;

use common::{TestApp, TestResponse};
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
    t.post("/v1/authentication/verify")
        .json(json!({"code": code}))
        .send()
        .await
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
                json!({"level": (actor_level.max(2)).min(3), "reason": reason}),
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

    let r = post(&t, &owner, &user_path(admin.id, "timeout"), json!({"duration": 600, "reason": "cool down"})).await;
    let until = r.assert_ok()["action"]["expires_at"].clone();
    let before = footprint(&t, target.id).await;

    // Every POST under /v1/admin/ refuses, with the end of the timeout, before reading the body.
    for (path, body) in [
        (user_path(target.id, "warn"), json!({"reason": "x"})),
        (user_path(target.id, "ban"), json!({})),
        (user_path(target.id, "permission"), json!({"level": 9})),
        ("/v1/admin/subscriptions/grant".into(), json!({"user_id": target.id, "tier": 3})),
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
    for path in ["/v1/admin/moderation/actions", "/v1/admin/audit/logs", "/v1/admin/subscriptions/active"] {
        t.get(path).cookie(&admin_token).send().await.assert_ok();
    }

    // The level floor comes first: a timed-out User is told about the level, not the timeout.
    post(&t, &owner, &user_path(user.id, "timeout"), json!({"duration": 600, "reason": "x"}))
        .await
        .assert_ok();
    post(&t, &user_token, &user_path(target.id, "warn"), json!({"reason": "x"}))
        .await
        .assert_error(403, "ERR_INSUFFICIENT_PERMISSION");

    // When the timeout ends, the Admin acts again.
    t.clock.advance_secs(601);
    post(&t, &admin_token, &user_path(target.id, "warn"), json!({"reason": "back"}))
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
    let r = post(&t, &owner_token, &user_path(user.id, "timeout"), json!({"duration": 60, "reason": "  spam  "})).await;
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
    let r = post(&t, &mod_token, &user_path(user.id, "timeout"), json!({"duration": 120, "reason": "again"})).await;
    let second_id = r.assert_ok()["action"]["id"].as_i64().unwrap();
    let d = detail(&t, &owner_token, user.id).await;
    let actions = d["moderation_actions"].as_array().unwrap();
    assert_eq!(actions[0]["id"], second_id);
    assert_eq!(actions[1]["id"], action["id"]);
    assert_eq!(actions[1]["is_lifted"], true);
    let audit = t
        .get(&format!("/v1/admin/audit/logs?event_type=USER_TIMEOUT&target_id={}", user.id))
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
    post(&t, &owner_token, &user_path(user.id, "untimeout"), json!({"reason": "x"}))
        .await
        .assert_error(409, "ERR_NOT_TIMED_OUT");

    // Untimeout lifts what is in force and answers the newest.
    post(&t, &owner_token, &user_path(user.id, "timeout"), json!({"duration": 3600, "reason": "x"}))
        .await
        .assert_ok();
    let lifted_at = t.app.now();
    let r = post(&t, &mod_token, &user_path(user.id, "untimeout"), json!({"reason": "appeal"})).await;
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
    post(&t, &mod_token, &user_path(user.id, "timeout"), json!({"duration": 60, "reason": "x"}))
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
        scalar(&t, "SELECT COUNT(*) FROM login_codes WHERE platform_user_id = 'plain'", None).await,
        1
    );

    let now = t.app.now();
    let r = post(&t, &owner_token, &user_path(user.id, "ban"), json!({"reason": "evasion", "duration": 3600})).await;
    let body = r.assert_ok().clone();
    let until = ts(now + 3600 * MICROS);
    assert_eq!(body["message"], format!("User {} banned until {until}", user.id));
    assert_eq!(body["action"]["action_type"], "PLATFORM_BAN");
    assert_eq!(body["action"]["expires_at"], until);
    for token in [&user_token, &second_token] {
        t.get("/v1/users/me").cookie(token).send().await.assert_error(401, "ERR_AUTH_REQUIRED");
    }
    assert_eq!(
        scalar(&t, "SELECT COUNT(*) FROM login_codes WHERE platform_user_id = 'plain'", None).await,
        0
    );
    let ended: Vec<(String,)> = sqlx::query_as("SELECT end_reason FROM sessions WHERE user_id = $1")
        .bind(user.id)
        .fetch_all(&mut *t.conn().await)
        .await
        .unwrap();
    assert_eq!(ended, vec![("banned".to_owned(),), ("banned".to_owned(),)]);
    let audit = t
        .get(&format!("/v1/admin/audit/logs?event_type=USER_BAN&target_id={}", user.id))
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
    post(&t, &owner_token, &user_path(user.id, "timeout"), json!({"duration": 7200, "reason": "x"}))
        .await
        .assert_ok();
    let first = post(&t, &owner_token, &user_path(user.id, "ban"), json!({"reason": "x", "duration": 600})).await;
    let first_id = first.assert_ok()["action"]["id"].clone();
    let r = post(&t, &owner_token, &user_path(user.id, "ban"), json!({"reason": "worse", "duration": null})).await;
    assert_eq!(r.assert_ok()["message"], format!("User {} banned permanently", user.id));
    assert_eq!(r.body["action"]["expires_at"], Value::Null);
    let d = detail(&t, &owner_token, user.id).await;
    assert_eq!(d["state"], 2);
    assert_eq!(d["moderation_actions"][1]["id"], first_id);
    assert_eq!(d["moderation_actions"][1]["is_lifted"], true);
    let r = post(&t, &owner_token, &user_path(user.id, "unban"), json!({"reason": "appeal"})).await;
    let body = r.assert_ok();
    assert_eq!(body["message"], format!("User {} unbanned", user.id));
    assert_eq!(body["action"]["reason"], "worse");
    assert_eq!(body["action"]["lifted_by_id"], owner.id);
    assert_eq!(detail(&t, &owner_token, user.id).await["state"], 1);
    post(&t, &owner_token, &user_path(user.id, "unban"), json!({"reason": "again"}))
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
    let r = post(&t, &owner_token, &user_path(user.id, "permission"), json!({"level": 2, "reason": " promoted "})).await;
    let body = r.assert_ok();
    assert_eq!(body["message"], format!("User {} permission level set to 2 (Admin)", user.id));
    let change = body["change"].clone();
    assert_eq!(change["old_level"], 0);
    assert_eq!(change["new_level"], 2);
    assert_eq!(change["reason"], "promoted");
    assert_eq!(change["changed_by_id"], owner.id);
    assert_eq!(change["created_at"], ts(now));
    // The new level applies to the user's next request.
    t.get("/v1/admin/audit/logs").cookie(&user_token).send().await.assert_ok();

    let before = footprint(&t, user.id).await;
    post(&t, &owner_token, &user_path(user.id, "permission"), json!({"level": 2, "reason": "again"}))
        .await
        .assert_error(409, "ERR_PERMISSION_UNCHANGED");
    post(&t, &owner_token, &user_path(user.id, "permission"), json!({"level": 3, "reason": "never"}))
        .await
        .assert_error(403, "ERR_PERMISSION_CEILING");
    assert_eq!(footprint(&t, user.id).await, before);

    let audit = t
        .get(&format!("/v1/admin/audit/logs?event_type=USER_PERMISSION&actor_id={}", owner.id))
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
    post(&t, &acting_token, &user_path(other.id, "delete"), json!({"reason": "x"}))
        .await
        .assert_error(409, "ERR_LAST_OWNER");
    post(&t, &acting_token, &user_path(other.id, "permission"), json!({"level": 2, "reason": "x"}))
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
    assert!(matches!(refused, Err(portal::error::ApiError::LastOwner)), "{refused:?}");
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
        assert!(r.status.as_u16() == 200 || code == "ERR_LAST_OWNER" || code == "ERR_AUTH_REQUIRED", "{}", r.body);
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

both_backends!(delete_removes_the_user_and_what_belongs_to_it, |t: TestApp| async move {
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

    let r = post(&t, &owner_token, &user_path(doomed.id, "delete"), json!({"reason": "requested"})).await;
    assert_eq!(r.assert_ok(), &json!({"message": format!("User {} deleted", doomed.id)}));

    t.get(&format!("/v1/users/{}", doomed.id))
        .cookie(&owner_token)
        .send()
        .await
        .assert_error(404, "ERR_USER_NOT_FOUND");
    t.get("/v1/users/me").cookie(&doomed_token).send().await.assert_error(401, "ERR_AUTH_REQUIRED");
    t.get("/v1/users/me").key(&owned_bot).send().await.assert_error(401, "ERR_INVALID_API_KEY");
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
    assert_eq!(scalar(&t, "SELECT COUNT(*) FROM login_codes WHERE platform_user_id = 'doomed'", None).await, 0);
    assert_eq!(scalar(&t, "SELECT COUNT(*) FROM chat_invites WHERE created_by_id IS NULL", None).await, 1);
    assert_eq!(scalar(&t, "SELECT COUNT(*) FROM chat_members WHERE chat_id = $1", Some(own_chat)).await, 0);
    assert_eq!(
        scalar(&t, "SELECT issued_by_id FROM moderation_actions WHERE id = $1", Some(issued_id)).await,
        doomed.id
    );
    let audit = t
        .get(&format!("/v1/admin/audit/logs?event_type=USER_DELETE&target_type=user&target_id={}", doomed.id))
        .cookie(&owner_token)
        .send()
        .await;
    let entry = &audit.assert_ok()["items"][0];
    assert_eq!(entry["actor_id"], owner.id);
    let bot_id = scalar(&t, "SELECT MAX(target_id) FROM audit_log WHERE event_type = 'BOT_REGISTER'", None).await;
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
    let new_id = scalar(&t, "SELECT user_id FROM linked_platforms WHERE platform_user_id = 'doomed'", None).await;
    assert!(new_id > doomed.id);
});
