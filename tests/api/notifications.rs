//! Notifications, the portal status, the hard mute and moderation inside a chat
//! (80-notifications-portal), through HTTP on both backends.

use crate::common::{keys, People, TestApp, TestResponse, NOTIFICATION_FIELDS};
use portal::time::Timestamp;
use serde_json::{json, Value};

const HOUR: i64 = 3600;
const SECOND: i64 = 1_000_000;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn now_text(t: &TestApp) -> String {
    Timestamp(t.app.now()).to_rfc3339()
}

async fn post(t: &TestApp, token: &str, path: &str, body: Value) -> TestResponse {
    t.post(path).cookie(token).json(body).send().await
}

async fn get(t: &TestApp, token: &str, path: &str) -> Value {
    t.get(path).cookie(token).send().await.assert_ok().clone()
}

/// The rows a refusal must leave alone.
async fn footprint(t: &TestApp) -> Vec<i64> {
    let mut out = Vec::new();
    for table in [
        "notifications",
        "notification_reads",
        "moderation_actions",
        "audit_log",
        "chat_members",
    ] {
        out.push(t.count(&format!("SELECT COUNT(*) FROM {table}")).await);
    }
    out
}

/// The audit rows of one event type, oldest first: (actor_id, target_type, target_id, metadata).
async fn audits(t: &TestApp, event_type: &str) -> Vec<(Option<i64>, String, Option<i64>, Value)> {
    let mut conn = t.conn().await;
    let rows: Vec<(Option<i64>, String, Option<i64>, String)> = sqlx::query_as(
        "SELECT actor_id, target_type, target_id, metadata FROM audit_log WHERE event_type = $1 ORDER BY id",
    )
    .bind(event_type)
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(a, tt, ti, m)| (a, tt, ti, serde_json::from_str(&m).unwrap()))
        .collect()
}

/// A user's moderation actions as an Owner sees them in the elevated view, newest first.
async fn actions_of(t: &TestApp, owner: &str, user_id: i64) -> Vec<Value> {
    get(t, owner, &format!("/v1/users/{user_id}")).await["moderation_actions"]
        .as_array()
        .unwrap()
        .clone()
}

/// A private chat owned by `owner_id` (made a Lifetime subscriber first); returns its id.
async fn private_chat(t: &TestApp, owner_id: i64, owner: &str, name: &str) -> i64 {
    t.set_subscription(owner_id, 3, None).await;
    post(t, owner, "/v1/portal/chats", json!({"name": name}))
        .await
        .assert_ok()["id"]
        .as_i64()
        .unwrap()
}

/// A public chat owned by a non-staff user: their private chat given a slug by an Admin.
async fn public_chat(t: &TestApp, owner_id: i64, owner: &str, admin: &str, slug: &str) -> i64 {
    let id = private_chat(t, owner_id, owner, slug).await;
    let r = post(t, admin, &format!("/v1/admin/chats/{id}/update"), json!({"slug": slug})).await;
    assert_eq!(r.assert_ok()["visibility"], "public");
    id
}

/// An official chat owned by the Admin+ who creates it.
async fn official_chat(t: &TestApp, admin: &str, slug: &str) -> i64 {
    post(t, admin, "/v1/admin/chats", json!({"name": slug, "slug": slug}))
        .await
        .assert_ok()["chat_id"]
        .as_i64()
        .unwrap()
}

/// Lets every token join the chat through one invite of its manager.
async fn join(t: &TestApp, manager: &str, chat_id: i64, members: &[&str]) {
    let code = post(t, manager, &format!("/v1/portal/chats/{chat_id}/invites"), json!({})).await;
    let code = code.assert_ok()["code"].as_str().unwrap().to_owned();
    for token in members {
        t.post(&format!("/v1/portal/resolve/{code}"))
            .cookie(token)
            .send()
            .await
            .assert_ok();
    }
}

async fn is_member(t: &TestApp, chat_id: i64, user_id: i64) -> bool {
    t.count(&format!(
        "SELECT COUNT(*) FROM chat_members WHERE chat_id = {chat_id} AND user_id = {user_id}"
    ))
    .await
        == 1
}

fn chat_path(chat_id: i64, action: &str) -> String {
    format!("/v1/portal/chats/{chat_id}/{action}")
}

// ---------------------------------------------------------------------------------------------
// Notifications
// ---------------------------------------------------------------------------------------------

both_backends!(listing_pages_newest_first_with_counts, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (_, admin) = p.at("admin", 2).await;
    let (alice_id, alice) = p.signed_up("alice").await;
    let signup_time = now_text(&t);

    // The welcome notification of sign-up.
    let r = get(&t, &alice, "/v1/notifications").await;
    assert_eq!(keys(&r), ["limit", "notifications", "offset", "total", "unread"]);
    assert_eq!((r["total"].as_i64(), r["unread"].as_i64()), (Some(1), Some(1)));
    assert_eq!((r["offset"].as_i64(), r["limit"].as_i64()), (Some(0), Some(50)));
    let welcome = &r["notifications"][0];
    assert_eq!(keys(welcome), NOTIFICATION_FIELDS);
    assert_eq!(welcome["title"], "Welcome to Portal");
    assert_eq!(welcome["body"], "Your account has been created.");
    assert_eq!(welcome["type"], "success");
    assert_eq!(welcome["read_at"], Value::Null);
    assert_eq!(welcome["created_by"], Value::Null);
    assert_eq!(welcome["is_broadcast"], false);
    assert_eq!(welcome["created_at"], signup_time.as_str());
    let welcome_id = welcome["id"].as_i64().unwrap();

    // Three targeted notifications a second apart, then a broadcast.
    let mut targeted = Vec::new();
    for n in 1..=3 {
        t.clock.advance_secs(1);
        let r = post(
            &t,
            &admin,
            "/v1/admin/notifications",
            json!({"user_id": alice_id, "title": format!("n{n}"), "body": "b"}),
        )
        .await;
        targeted.push(r.assert_ok()["notification"]["id"].as_i64().unwrap());
    }
    t.clock.advance_secs(1);
    let r = post(
        &t,
        &admin,
        "/v1/admin/notifications",
        json!({"title": "all", "body": "everyone"}),
    )
    .await;
    let broadcast_id = r.assert_ok()["notification"]["id"].as_i64().unwrap();

    // A user created after the broadcast does not see it; one created in the same instant does.
    let (_, same_instant) = p.at("same-instant", 0).await;
    t.clock.advance_secs(1);
    let (_, later) = p.at("later", 0).await;
    let r = get(&t, &later, "/v1/notifications").await;
    assert_eq!((r["total"].as_i64(), r["unread"].as_i64()), (Some(0), Some(0)));
    assert_eq!(r["notifications"], json!([]));
    assert_eq!(
        get(&t, &later, "/v1/notifications/unread-count").await,
        json!({"unread": 0})
    );
    let r = get(&t, &same_instant, "/v1/notifications").await;
    assert_eq!(r["notifications"][0]["id"], broadcast_id);
    assert_eq!(r["notifications"][0]["is_broadcast"], true);
    // Another user's targeted notifications stay theirs; the admin sees the broadcast only.
    let r = get(&t, &admin, "/v1/notifications").await;
    assert_eq!(r["total"], 1);
    assert_eq!(r["notifications"][0]["id"], broadcast_id);

    // Alice: newest first, paged.
    let ids = |page: &Value| -> Vec<i64> {
        page["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["id"].as_i64().unwrap())
            .collect()
    };
    let expected = vec![broadcast_id, targeted[2], targeted[1], targeted[0], welcome_id];
    let all = get(&t, &alice, "/v1/notifications").await;
    assert_eq!(ids(&all), expected);
    assert_eq!((all["total"].as_i64(), all["unread"].as_i64()), (Some(5), Some(5)));
    let first = get(&t, &alice, "/v1/notifications?limit=2").await;
    assert_eq!(ids(&first), expected[..2]);
    assert_eq!((first["total"].as_i64(), first["limit"].as_i64()), (Some(5), Some(2)));
    let second = get(&t, &alice, "/v1/notifications?offset=2&limit=2").await;
    assert_eq!(ids(&second), expected[2..4]);
    assert_eq!(second["offset"], 2);
    let past = get(&t, &alice, "/v1/notifications?offset=10&limit=100").await;
    assert_eq!(ids(&past), Vec::<i64>::new());
    assert_eq!(past["total"], 5);
    assert_eq!(
        get(&t, &alice, "/v1/notifications/unread-count").await,
        json!({"unread": 5})
    );

    // Bad paging is refused, never clamped.
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        ("offset=1.5", "offset"),
    ] {
        let r = t.get(&format!("/v1/notifications?{query}")).cookie(&alice).send().await;
        r.assert_error(400, "ERR_VALIDATION");
        assert_eq!(r.body["field"], field, "{query}");
    }

    // A session is required.
    for path in ["/v1/notifications", "/v1/notifications/unread-count"] {
        t.get(path).send().await.assert_error(401, "ERR_AUTH_REQUIRED");
    }
});

both_backends!(marking_read_is_per_user, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (_, admin) = p.at("admin", 2).await;
    let (alice_id, alice) = p.signed_up("alice").await;
    let (_, bob) = p.signed_up("bob").await;
    let welcome = get(&t, &alice, "/v1/notifications").await["notifications"][0]["id"]
        .as_i64()
        .unwrap();
    t.clock.advance_secs(5);
    let broadcast = post(
        &t,
        &admin,
        "/v1/admin/notifications",
        json!({"title": "t", "body": "b"}),
    )
    .await;
    let broadcast = broadcast.assert_ok()["notification"]["id"].as_i64().unwrap();
    let audit_rows = t.count("SELECT COUNT(*) FROM audit_log").await;
    let read = |id: i64| format!("/v1/notifications/{id}/read");

    // Path validation, then visibility (another user's notification does not exist for Bob).
    for raw in ["0", "-1", "abc", "1.0"] {
        let r = t
            .post(&format!("/v1/notifications/{raw}/read"))
            .cookie(&alice)
            .send()
            .await;
        r.assert_error(400, "ERR_VALIDATION");
        assert_eq!(r.body["error"], "notification_id must be a positive integer");
    }
    let before = footprint(&t).await;
    t.post(&read(welcome))
        .cookie(&bob)
        .send()
        .await
        .assert_error(404, "ERR_NOTIFICATION_NOT_FOUND");
    t.post(&read(9999))
        .cookie(&alice)
        .send()
        .await
        .assert_error(404, "ERR_NOTIFICATION_NOT_FOUND");
    // A cross-site request is refused before anything else.
    t.post(&read(welcome))
        .cookie(&alice)
        .header("origin", "https://evil.example")
        .send()
        .await
        .assert_error(403, "ERR_FORBIDDEN");
    t.post(&read(welcome))
        .send()
        .await
        .assert_error(401, "ERR_AUTH_REQUIRED");
    assert_eq!(footprint(&t).await, before);

    // Alice reads her welcome notification: the answer carries her read mark.
    t.clock.advance_secs(7);
    let r = t.post(&read(welcome)).cookie(&alice).send().await;
    let body = r.assert_ok();
    assert_eq!(body["id"], welcome);
    assert_eq!(body["read_at"], now_text(&t).as_str());
    assert_eq!(body["title"], "Welcome to Portal");
    t.post(&read(welcome))
        .cookie(&alice)
        .send()
        .await
        .assert_error(409, "ERR_NOTIFICATION_ALREADY_READ");
    assert_eq!(
        get(&t, &alice, "/v1/notifications/unread-count").await,
        json!({"unread": 1})
    );
    // Bob's welcome notification is untouched.
    assert_eq!(
        get(&t, &bob, "/v1/notifications/unread-count").await,
        json!({"unread": 2})
    );

    // A broadcast's read state is per user.
    t.post(&read(broadcast)).cookie(&alice).send().await.assert_ok();
    let bobs = get(&t, &bob, "/v1/notifications").await;
    assert_eq!(bobs["notifications"][0]["id"], broadcast);
    assert_eq!(bobs["notifications"][0]["read_at"], Value::Null);
    assert_eq!(bobs["unread"], 2);

    // Read-all marks what is unread, all at one time; again it marks nothing.
    t.clock.advance_secs(3);
    // A timed-out user keeps self-service on their notifications.
    t.time_out(alice_id, HOUR).await;
    let r = t.post("/v1/notifications/read-all").cookie(&bob).send().await;
    assert_eq!(r.assert_ok(), &json!({"marked": 2}));
    let bobs = get(&t, &bob, "/v1/notifications").await;
    assert_eq!(bobs["unread"], 0);
    for n in bobs["notifications"].as_array().unwrap() {
        assert_eq!(n["read_at"], now_text(&t).as_str());
    }
    let r = t.post("/v1/notifications/read-all").cookie(&bob).send().await;
    assert_eq!(r.assert_ok(), &json!({"marked": 0}));
    let r = t.post("/v1/notifications/read-all").cookie(&alice).send().await;
    assert_eq!(r.assert_ok(), &json!({"marked": 0}));
    // Alice's earlier read marks kept their time.
    let alices = get(&t, &alice, "/v1/notifications").await;
    assert_ne!(alices["notifications"][1]["read_at"], now_text(&t).as_str());
    t.post("/v1/notifications/read-all")
        .cookie(&bob)
        .header("origin", "https://evil.example")
        .send()
        .await
        .assert_error(403, "ERR_FORBIDDEN");
    // Marking read is self-service: never audited.
    assert_eq!(t.count("SELECT COUNT(*) FROM audit_log").await, audit_rows);
});

both_backends!(admins_send_and_broadcast_with_audit, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (admin_id, admin) = p.at("admin", 2).await;
    let (_, moderator) = p.at("moderator", 1).await;
    let (owner_id, owner) = p.at("owner", 3).await;
    let (alice_id, alice) = p.at("alice", 0).await;
    let send = "/v1/admin/notifications";

    // Targeted, trimmed, typed; no hierarchy: an Admin may inform an Owner, and themself.
    let r = post(
        &t,
        &admin,
        send,
        json!({"user_id": alice_id, "title": "  Granted ", "body": " Premium until June ", "type": "success"}),
    )
    .await;
    let body = r.assert_ok().clone();
    assert_eq!(keys(&body), ["message", "notification", "recipients"]);
    assert_eq!(body["message"], format!("Notification sent to user {alice_id}"));
    assert_eq!(body["recipients"], 1);
    let targeted_id = body["notification"]["id"].as_i64().unwrap();
    assert_eq!(
        body["notification"],
        json!({"id": targeted_id, "title": "Granted", "body": "Premium until June", "type": "success",
               "read_at": null, "created_at": now_text(&t), "created_by": admin_id, "is_broadcast": false})
    );
    let listed = get(&t, &alice, "/v1/notifications").await;
    assert_eq!(listed["notifications"][0], body["notification"]);
    for user_id in [owner_id, admin_id] {
        post(&t, &admin, send, json!({"user_id": user_id, "title": "t", "body": "b"}))
            .await
            .assert_ok();
    }

    // Broadcast: `user_id` absent or null, default type, every existing user counted.
    let users = t.count("SELECT COUNT(*) FROM users").await;
    let r = post(
        &t,
        &admin,
        send,
        json!({"user_id": null, "title": "Maintenance", "body": "Tonight"}),
    )
    .await;
    let body = r.assert_ok().clone();
    assert_eq!(body["message"], "Notification broadcast to all users");
    assert_eq!(body["recipients"], users);
    assert_eq!(body["notification"]["type"], "info");
    assert_eq!(body["notification"]["is_broadcast"], true);
    assert_eq!(body["notification"]["created_by"], admin_id);
    let broadcast_id = body["notification"]["id"].as_i64().unwrap();

    let rows = audits(&t, "NOTIFICATION_SEND").await;
    assert_eq!(rows.len(), 4);
    assert_eq!(
        rows[0],
        (
            Some(admin_id),
            "user".to_owned(),
            Some(alice_id),
            json!({"notification_id": targeted_id, "recipient_count": 1, "title": "Granted", "type": "success"})
        )
    );
    assert_eq!(
        rows[3],
        (
            Some(admin_id),
            "system".to_owned(),
            None,
            json!({"notification_id": broadcast_id, "recipient_count": users, "title": "Maintenance", "type": "info"})
        )
    );
    // The audit log reads the same through the API.
    let logs = get(
        &t,
        &admin,
        "/v1/admin/audit/logs?event_type=NOTIFICATION_SEND&target_type=system",
    )
    .await;
    assert_eq!(logs["total"], 1);
    assert_eq!(logs["items"][0]["metadata"]["notification_id"], broadcast_id);

    // Refusals change nothing.
    let before = footprint(&t).await;
    let r = post(&t, &moderator, send, json!({"title": "t", "body": "b"})).await;
    r.assert_error(403, "ERR_INSUFFICIENT_PERMISSION");
    assert_eq!(r.body["error"], "Admin access required");
    post(&t, &alice, send, json!({"title": "t", "body": "b"}))
        .await
        .assert_error(403, "ERR_INSUFFICIENT_PERMISSION");
    t.post(send)
        .json(json!({"title": "t", "body": "b"}))
        .send()
        .await
        .assert_error(401, "ERR_AUTH_REQUIRED");
    for (body, field, message) in [
        (
            json!({"user_id": 0, "title": "t", "body": "b"}),
            "user_id",
            "user_id must be at least 1",
        ),
        (
            json!({"user_id": "5", "title": "t", "body": "b"}),
            "user_id",
            "user_id must be an integer",
        ),
        (json!({"user_id": 0}), "user_id", "user_id must be at least 1"),
        (json!({"body": "b"}), "title", "title is required"),
        (
            json!({"title": "   ", "body": "b"}),
            "title",
            "title must be at least 1 characters",
        ),
        (
            json!({"title": "x".repeat(101), "body": "b"}),
            "title",
            "title must be at most 100 characters",
        ),
        (json!({"title": 5, "body": "b"}), "title", "title must be a string"),
        (json!({"title": "t"}), "body", "body is required"),
        (
            json!({"title": "t", "body": "y".repeat(2001)}),
            "body",
            "body must be at most 2000 characters",
        ),
        (
            json!({"title": "t", "body": "b", "type": "loud"}),
            "type",
            "type must be one of: info, success, warning, error",
        ),
    ] {
        let r = post(&t, &admin, send, body.clone()).await;
        r.assert_error(400, "ERR_VALIDATION");
        assert_eq!(
            (r.body["field"].as_str(), r.body["error"].as_str()),
            (Some(field), Some(message)),
            "{body}"
        );
    }
    post(&t, &admin, send, json!({"user_id": 9999, "title": "t", "body": "b"}))
        .await
        .assert_error(404, "ERR_USER_NOT_FOUND");
    t.post(send)
        .cookie(&admin)
        .raw(Some("text/plain"), "hello")
        .send()
        .await
        .assert_error(415, "ERR_UNSUPPORTED_MEDIA_TYPE");
    t.post(send)
        .cookie(&admin)
        .raw(Some("application/json"), "{\"title\": ")
        .send()
        .await
        .assert_error(400, "ERR_INVALID_JSON");
    // The notification and its audit row commit together or not at all.
    t.app.store.fail_audit_inserts(true);
    post(&t, &admin, send, json!({"title": "t", "body": "b"}))
        .await
        .assert_error(500, "ERR_INTERNAL");
    t.app.store.fail_audit_inserts(false);
    assert_eq!(footprint(&t).await, before);

    // A timed-out Admin may not send.
    let until = t.time_out(admin_id, HOUR).await;
    let before = footprint(&t).await;
    let r = post(&t, &admin, send, json!({"title": "t", "body": "b"})).await;
    r.assert_error(403, "ERR_ACCOUNT_TIMED_OUT");
    assert_eq!(r.body["expires_at"], Timestamp(until).to_rfc3339().as_str());
    assert_eq!(footprint(&t).await, before);

    // Deleting a user removes their targeted notifications; the broadcast stays.
    post(
        &t,
        &owner,
        &format!("/v1/admin/users/{alice_id}/delete"),
        json!({"reason": "r"}),
    )
    .await
    .assert_ok();
    let left = t
        .count(&format!(
            "SELECT COUNT(*) FROM notifications WHERE id IN ({targeted_id}, {broadcast_id})"
        ))
        .await;
    assert_eq!(left, 1);
    assert_eq!(
        get(&t, &owner, "/v1/notifications").await["notifications"][0]["id"],
        broadcast_id
    );
});

both_backends!(
    endpoints_sit_in_their_rate_tiers,
    |c: &mut portal::config::Config| {
        c.rate_limit.auth = 3;
        c.rate_limit.admin = 1;
    },
    |t: TestApp| async move {
        let p = People::new(&t).await;
        let (alice_id, _) = p.at("alice", 0).await;
        let (_, admin) = p.at("admin", 2).await;
        // ADMIN: one request a minute here.
        let r = post(
            &t,
            &admin,
            "/v1/admin/notifications",
            json!({"title": "t", "body": "b"}),
        )
        .await;
        r.assert_ok();
        assert_eq!(r.header("ratelimit-limit"), Some("1"));
        post(
            &t,
            &admin,
            "/v1/admin/notifications",
            json!({"title": "t", "body": "b"}),
        )
        .await
        .assert_error(429, "ERR_RATE_LIMITED");
        // AUTH: notifications and everything under /v1/portal/ share one bucket of three.
        let r = t.get("/v1/notifications").cookie(&admin).send().await;
        r.assert_ok();
        assert_eq!(r.header("ratelimit-limit"), Some("3"));
        t.get("/v1/portal/status").cookie(&admin).send().await.assert_ok();
        let r = post(&t, &admin, "/v1/portal/hard-mute", json!({"user_id": alice_id})).await;
        r.assert_ok();
        assert_eq!(r.header("ratelimit-remaining"), Some("0"));
        post(&t, &admin, "/v1/portal/chats/1/kick", json!({"user_id": alice_id}))
            .await
            .assert_error(429, "ERR_RATE_LIMITED");
    }
);

// ---------------------------------------------------------------------------------------------
// Portal status and the hard mute
// ---------------------------------------------------------------------------------------------

both_backends!(hard_mute_and_unmute_follow_the_hierarchy, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (admin_id, admin) = p.at("admin", 2).await;
    let (other_admin_id, other_admin) = p.at("other-admin", 2).await;
    let (_, moderator) = p.at("moderator", 1).await;
    let (owner_id, owner) = p.at("owner", 3).await;
    let (second_owner_id, _) = p.at("second-owner", 3).await;
    let (alice_id, alice) = p.at("alice", 0).await;
    let (mod_target_id, mod_target) = p.at("mod-target", 1).await;
    let mute = "/v1/portal/hard-mute";
    let unmute = "/v1/portal/hard-unmute";

    // Nobody is online without the realtime connection; nobody is muted yet.
    let status = get(&t, &alice, "/v1/portal/status").await;
    assert_eq!(
        status,
        json!({"online": 0, "users": [], "muted": false, "muted_until": null})
    );
    t.get("/v1/portal/status")
        .send()
        .await
        .assert_error(401, "ERR_AUTH_REQUIRED");

    // Refusals, in the order of checks; none changes anything.
    let before = footprint(&t).await;
    let r = post(&t, &moderator, mute, json!({"user_id": alice_id})).await;
    r.assert_error(403, "ERR_INSUFFICIENT_PERMISSION");
    assert_eq!(r.body["error"], "Admin access required");
    post(&t, &alice, unmute, json!({"user_id": alice_id}))
        .await
        .assert_error(403, "ERR_INSUFFICIENT_PERMISSION");
    for (body, field) in [
        (json!({}), "user_id"),
        (json!({"user_id": 0}), "user_id"),
        (json!({"user_id": "2"}), "user_id"),
        (json!({"user_id": alice_id, "duration": 86_401}), "duration"),
        (json!({"user_id": alice_id, "duration": -1}), "duration"),
        (json!({"user_id": alice_id, "duration": 60.5}), "duration"),
        (json!({"user_id": alice_id, "reason": "r".repeat(501)}), "reason"),
        (json!({"user_id": alice_id, "reason": 7}), "reason"),
    ] {
        let r = post(&t, &admin, mute, body.clone()).await;
        r.assert_error(400, "ERR_VALIDATION");
        assert_eq!(r.body["field"], field, "{body}");
    }
    let r = post(
        &t,
        &admin,
        unmute,
        json!({"user_id": alice_id, "reason": "r".repeat(501)}),
    )
    .await;
    r.assert_error(400, "ERR_VALIDATION");
    assert_eq!(r.body["field"], "reason");
    for path in [mute, unmute] {
        post(&t, &admin, path, json!({"user_id": 9999}))
            .await
            .assert_error(404, "ERR_USER_NOT_FOUND");
        post(&t, &admin, path, json!({"user_id": admin_id}))
            .await
            .assert_error(400, "ERR_SELF_TARGET");
        post(&t, &owner, path, json!({"user_id": owner_id}))
            .await
            .assert_error(400, "ERR_SELF_TARGET");
        post(&t, &admin, path, json!({"user_id": other_admin_id}))
            .await
            .assert_error(403, "ERR_HIERARCHY");
        post(&t, &admin, path, json!({"user_id": owner_id}))
            .await
            .assert_error(403, "ERR_HIERARCHY");
    }
    t.post(mute)
        .cookie(&admin)
        .header("origin", "https://evil.example")
        .json(json!({"user_id": alice_id}))
        .send()
        .await
        .assert_error(403, "ERR_FORBIDDEN");
    assert_eq!(footprint(&t).await, before);

    // A timed mute with a trimmed reason.
    let r = post(
        &t,
        &admin,
        mute,
        json!({"user_id": alice_id, "duration": 3600, "reason": "  Spamming every chat "}),
    )
    .await;
    assert_eq!(r.assert_ok(), &json!({"ok": true}));
    let first_end = t.app.now() + HOUR * SECOND;
    let status = get(&t, &alice, "/v1/portal/status").await;
    assert_eq!(status["muted"], true);
    assert_eq!(status["muted_until"], Timestamp(first_end).to_rfc3339().as_str());
    // Only the caller's own mute shows.
    assert_eq!(get(&t, &admin, "/v1/portal/status").await["muted"], false);
    let rows = audits(&t, "USER_HARD_MUTE").await;
    let first_id = rows[0].3["action_id"].as_i64().unwrap();
    assert_eq!(
        rows,
        [(
            Some(admin_id),
            "user".to_owned(),
            Some(alice_id),
            json!({"action_id": first_id, "duration": 3600, "expires_at": Timestamp(first_end).to_rfc3339(), "reason": "Spamming every chat"})
        )]
    );

    // A second, indefinite mute does not replace the first; the combined mute has no end.
    t.clock.advance_secs(10);
    post(
        &t,
        &admin,
        mute,
        json!({"user_id": alice_id, "duration": 0, "reason": "   "}),
    )
    .await
    .assert_ok();
    let status = get(&t, &alice, "/v1/portal/status").await;
    assert_eq!(
        (status["muted"].clone(), status["muted_until"].clone()),
        (json!(true), Value::Null)
    );
    let second = audits(&t, "USER_HARD_MUTE").await[1].3.clone();
    let second_id = second["action_id"].as_i64().unwrap();
    assert_eq!(
        second,
        json!({"action_id": second_id, "duration": 0, "expires_at": null, "reason": null})
    );
    let actions = actions_of(&t, &owner, alice_id).await;
    assert_eq!(actions.len(), 2);
    assert_eq!(actions[0]["id"], second_id);
    assert_eq!(actions[0]["action_type"], "PLATFORM_MUTE");
    assert_eq!(actions[0]["chat_id"], Value::Null);
    assert_eq!(actions[0]["reason"], Value::Null);
    assert_eq!(actions[0]["expires_at"], Value::Null);
    assert_eq!(actions[0]["issued_by_id"], admin_id);
    assert_eq!(actions[1]["id"], first_id);
    assert_eq!(actions[1]["reason"], "Spamming every chat");
    // The target sees them among their punishments.
    let own = get(&t, &alice, "/v1/users/me/punishments").await;
    assert_eq!(own[0]["action_type"], "PLATFORM_MUTE");
    assert_eq!(own.as_array().unwrap().len(), 2);

    // Unmute lifts every hard mute in force, with one audit row.
    t.clock.advance_secs(5);
    post(&t, &admin, unmute, json!({"user_id": alice_id, "reason": " appeal "}))
        .await
        .assert_ok();
    assert_eq!(get(&t, &alice, "/v1/portal/status").await["muted"], false);
    assert_eq!(
        audits(&t, "USER_HARD_UNMUTE").await,
        [(
            Some(admin_id),
            "user".to_owned(),
            Some(alice_id),
            json!({"action_ids": [first_id, second_id], "reason": "appeal"})
        )]
    );
    for action in actions_of(&t, &owner, alice_id).await {
        assert_eq!(action["is_lifted"], true);
        assert_eq!(action["lifted_by_id"], admin_id);
        assert_eq!(action["lifted_at"], now_text(&t).as_str());
    }
    // With nothing in force the answer is the same and nothing is written.
    let before = footprint(&t).await;
    assert_eq!(
        post(&t, &admin, unmute, json!({"user_id": alice_id})).await.assert_ok(),
        &json!({"ok": true})
    );
    assert_eq!(footprint(&t).await, before);

    // The default mute lasts 300 seconds and ends by itself.
    post(&t, &admin, mute, json!({"user_id": mod_target_id}))
        .await
        .assert_ok();
    assert_eq!(audits(&t, "USER_HARD_MUTE").await[2].3["duration"], 300);
    assert_eq!(get(&t, &mod_target, "/v1/portal/status").await["muted"], true);
    t.clock.advance_secs(301);
    assert_eq!(get(&t, &mod_target, "/v1/portal/status").await["muted"], false);

    // Owners may act on Owners.
    post(&t, &owner, mute, json!({"user_id": second_owner_id}))
        .await
        .assert_ok();
    post(&t, &owner, unmute, json!({"user_id": second_owner_id}))
        .await
        .assert_ok();

    // A timed-out Admin may do neither.
    let until = t.time_out(other_admin_id, HOUR).await;
    for path in [mute, unmute] {
        let r = post(&t, &other_admin, path, json!({"user_id": alice_id})).await;
        r.assert_error(403, "ERR_ACCOUNT_TIMED_OUT");
        assert_eq!(r.body["expires_at"], Timestamp(until).to_rfc3339().as_str());
    }
});

// ---------------------------------------------------------------------------------------------
// Moderation inside a chat
// ---------------------------------------------------------------------------------------------

both_backends!(chat_authority_follows_visibility_and_rank, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (_, admin) = p.at("admin", 2).await;
    let (_, moderator) = p.at("moderator", 1).await;
    let (other_mod_id, other_mod) = p.at("other-mod", 1).await;
    let (_, owner) = p.at("owner", 3).await;
    let (olivia_id, olivia) = p.at("olivia", 0).await;
    let (alice_id, alice) = p.at("alice", 0).await;
    let (bob_id, bob) = p.at("bob", 0).await;
    let public = public_chat(&t, olivia_id, &olivia, &admin, "olivias").await;
    let private = private_chat(&t, olivia_id, &olivia, "secret").await;
    let admins = official_chat(&t, &admin, "admins-lobby").await;
    let owners = official_chat(&t, &owner, "owners-lobby").await;
    join(&t, &olivia, public, &[&alice, &bob, &other_mod]).await;
    join(&t, &olivia, private, &[&alice, &other_mod]).await;
    let mute = |chat_id: i64| chat_path(chat_id, "mute");

    let before = footprint(&t).await;
    // Path and body validation (chat_id first), before existence.
    for raw in ["0", "abc", "-3"] {
        let r = post(&t, &admin, &format!("/v1/portal/chats/{raw}/mute"), json!({})).await;
        r.assert_error(400, "ERR_VALIDATION");
        assert_eq!(r.body["error"], "chat_id must be a positive integer");
    }
    for (body, field) in [
        (json!({}), "user_id"),
        (json!({"user_id": 0}), "user_id"),
        (json!({"user_id": alice_id, "duration": 86_401}), "duration"),
        (json!({"user_id": alice_id, "duration": "60"}), "duration"),
        (json!({"user_id": alice_id, "reason": "r".repeat(501)}), "reason"),
    ] {
        let r = post(&t, &admin, &mute(9999), body.clone()).await;
        r.assert_error(400, "ERR_VALIDATION");
        assert_eq!(r.body["field"], field, "{body}");
    }
    // Existence: the chat, then the user. A private chat the caller cannot see does not exist.
    post(&t, &admin, &mute(9999), json!({"user_id": alice_id}))
        .await
        .assert_error(404, "ERR_CHAT_NOT_FOUND");
    post(&t, &moderator, &mute(private), json!({"user_id": alice_id}))
        .await
        .assert_error(404, "ERR_CHAT_NOT_FOUND");
    post(&t, &admin, &mute(public), json!({"user_id": 9999}))
        .await
        .assert_error(404, "ERR_USER_NOT_FOUND");
    // Relations: self, then the owner as target, then authority, then the target rule.
    post(&t, &alice, &mute(public), json!({"user_id": alice_id}))
        .await
        .assert_error(400, "ERR_SELF_TARGET");
    let r = post(&t, &admin, &mute(public), json!({"user_id": olivia_id})).await;
    r.assert_error(400, "ERR_CHAT_OWNER_TARGET");
    assert_eq!(r.body["error"], "The chat owner cannot be targeted in their own chat");
    // A member without rank has no authority.
    let r = post(&t, &alice, &mute(public), json!({"user_id": bob_id})).await;
    r.assert_error(403, "ERR_NOT_CHAT_MODERATOR");
    assert_eq!(r.body["error"], "You cannot moderate this chat");
    // A Moderator may not moderate a private chat, even as a member who can see it.
    post(&t, &other_mod, &mute(private), json!({"user_id": alice_id}))
        .await
        .assert_error(403, "ERR_NOT_CHAT_MODERATOR");
    // Nor a chat whose owner is not below them.
    post(&t, &moderator, &mute(admins), json!({"user_id": alice_id}))
        .await
        .assert_error(403, "ERR_NOT_CHAT_MODERATOR");
    post(&t, &admin, &mute(owners), json!({"user_id": alice_id}))
        .await
        .assert_error(403, "ERR_NOT_CHAT_MODERATOR");
    // Authority over the chat, but the target is not below the Moderator.
    post(&t, &moderator, &mute(public), json!({"user_id": other_mod_id}))
        .await
        .assert_error(403, "ERR_HIERARCHY");
    // The chat's owner acts on peers, not on anyone above them.
    post(&t, &olivia, &mute(public), json!({"user_id": other_mod_id}))
        .await
        .assert_error(403, "ERR_HIERARCHY");
    t.post(&mute(public))
        .cookie(&admin)
        .header("origin", "https://evil.example")
        .json(json!({"user_id": alice_id}))
        .send()
        .await
        .assert_error(403, "ERR_FORBIDDEN");
    t.post(&mute(public))
        .json(json!({"user_id": alice_id}))
        .send()
        .await
        .assert_error(401, "ERR_AUTH_REQUIRED");
    assert_eq!(footprint(&t).await, before);

    // Allowed: the owner on a peer, a Moderator in a User's public chat, an Admin in a User's
    // private chat and in their own official chat, an Owner anywhere (even on a Moderator there).
    for (token, chat_id, target) in [
        (&olivia, public, alice_id),
        (&olivia, private, alice_id),
        (&moderator, public, bob_id),
        (&admin, private, other_mod_id),
        (&admin, admins, bob_id),
        (&owner, owners, other_mod_id),
        (&owner, public, other_mod_id),
    ] {
        let r = post(&t, token, &mute(chat_id), json!({"user_id": target})).await;
        assert_eq!(r.assert_ok(), &json!({"ok": true}), "chat {chat_id} target {target}");
    }
    assert_eq!(audits(&t, "CHAT_MUTE").await.len(), 7);

    // A timed-out caller is refused before validation, on all seven actions.
    let (timed_id, timed) = p.at("timed-admin", 2).await;
    let until = t.time_out(timed_id, HOUR).await;
    let before = footprint(&t).await;
    for action in ["mute", "unmute", "ban", "unban", "kick", "timeout", "warn"] {
        let r = post(&t, &timed, &format!("/v1/portal/chats/abc/{action}"), json!({})).await;
        r.assert_error(403, "ERR_ACCOUNT_TIMED_OUT");
        assert_eq!(r.body["expires_at"], Timestamp(until).to_rfc3339().as_str());
    }
    assert_eq!(footprint(&t).await, before);
});

both_backends!(chat_mutes_accumulate_and_unmute_lifts_them, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (admin_id, admin) = p.at("admin", 2).await;
    let (_, owner) = p.at("owner", 3).await;
    let (olivia_id, olivia) = p.at("olivia", 0).await;
    let (alice_id, alice) = p.at("alice", 0).await;
    let (stranger_id, _) = p.at("stranger", 0).await;
    let chat = public_chat(&t, olivia_id, &olivia, &admin, "olivias").await;
    let other_chat = official_chat(&t, &admin, "lobby").await;
    join(&t, &olivia, chat, &[&alice]).await;

    // The owner mutes a member for 10 minutes with a reason, then again with no end.
    let r = post(
        &t,
        &olivia,
        &chat_path(chat, "mute"),
        json!({"user_id": alice_id, "duration": 600, "reason": " Flooding "}),
    )
    .await;
    assert_eq!(r.assert_ok(), &json!({"ok": true}));
    let first_end = Timestamp(t.app.now() + 600 * SECOND).to_rfc3339();
    t.clock.advance_secs(1);
    post(
        &t,
        &olivia,
        &chat_path(chat, "mute"),
        json!({"user_id": alice_id, "duration": 0}),
    )
    .await
    .assert_ok();
    // The default duration is 300 seconds; a non-member may be muted; other chats keep their own.
    post(&t, &admin, &chat_path(chat, "mute"), json!({"user_id": stranger_id}))
        .await
        .assert_ok();
    post(&t, &admin, &chat_path(other_chat, "mute"), json!({"user_id": alice_id}))
        .await
        .assert_ok();
    // A hard mute is separate.
    post(&t, &admin, "/v1/portal/hard-mute", json!({"user_id": alice_id}))
        .await
        .assert_ok();

    let rows = audits(&t, "CHAT_MUTE").await;
    assert_eq!(rows.len(), 4);
    let first_id = rows[0].3["action_id"].as_i64().unwrap();
    let second_id = rows[1].3["action_id"].as_i64().unwrap();
    assert_eq!(
        rows[0],
        (
            Some(olivia_id),
            "chat".to_owned(),
            Some(chat),
            json!({"user_id": alice_id, "action_id": first_id, "reason": "Flooding", "duration": 600, "expires_at": first_end})
        )
    );
    assert_eq!(
        rows[1].3,
        json!({"user_id": alice_id, "action_id": second_id, "reason": null, "duration": 0, "expires_at": null})
    );
    assert_eq!(rows[2].3["duration"], 300);
    assert_eq!(rows[2].3["user_id"], stranger_id);
    let actions = actions_of(&t, &owner, alice_id).await;
    let in_chat: Vec<&Value> = actions.iter().filter(|a| a["chat_id"] == chat).collect();
    assert_eq!(in_chat.len(), 2);
    assert!(in_chat
        .iter()
        .all(|a| a["action_type"] == "CHAT_MUTE" && a["issued_by_id"] == olivia_id));

    // Unmute lifts both mutes of this chat only; the other chat's mute and the hard mute stay.
    t.clock.advance_secs(1);
    post(&t, &admin, &chat_path(chat, "unmute"), json!({"user_id": alice_id}))
        .await
        .assert_ok();
    assert_eq!(
        audits(&t, "CHAT_UNMUTE").await,
        [(
            Some(admin_id),
            "chat".to_owned(),
            Some(chat),
            json!({"user_id": alice_id, "action_ids": [first_id, second_id]})
        )]
    );
    for action in actions_of(&t, &owner, alice_id).await {
        let lifted = action["chat_id"] == chat;
        assert_eq!(action["is_lifted"], lifted, "{action}");
        if lifted {
            assert_eq!(action["lifted_by_id"], admin_id);
        }
    }
    assert_eq!(get(&t, &alice, "/v1/portal/status").await["muted"], true);
    // Not muted any more: still ok, nothing written.
    let before = footprint(&t).await;
    post(&t, &olivia, &chat_path(chat, "unmute"), json!({"user_id": alice_id}))
        .await
        .assert_ok();
    assert_eq!(footprint(&t).await, before);
    // Unmute has the same relation rules.
    post(&t, &admin, &chat_path(chat, "unmute"), json!({"user_id": olivia_id}))
        .await
        .assert_error(400, "ERR_CHAT_OWNER_TARGET");
    post(&t, &alice, &chat_path(chat, "unmute"), json!({"user_id": stranger_id}))
        .await
        .assert_error(403, "ERR_NOT_CHAT_MODERATOR");
    post(&t, &admin, &chat_path(chat, "unmute"), json!({"user_id": "x"}))
        .await
        .assert_error(400, "ERR_VALIDATION");
    assert_eq!(footprint(&t).await, before);
});

both_backends!(chat_bans_remove_membership_and_block_joining, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (admin_id, admin) = p.at("admin", 2).await;
    let (_, owner) = p.at("owner", 3).await;
    let (olivia_id, olivia) = p.at("olivia", 0).await;
    let (alice_id, alice) = p.at("alice", 0).await;
    let chat = private_chat(&t, olivia_id, &olivia, "club").await;
    join(&t, &olivia, chat, &[&alice]).await;
    let code = post(&t, &olivia, &chat_path(chat, "invites"), json!({})).await;
    let resolve = format!("/v1/portal/resolve/{}", code.assert_ok()["code"].as_str().unwrap());

    let before = footprint(&t).await;
    for (body, field) in [
        (json!({"user_id": alice_id, "duration": 2_592_001}), "duration"),
        (json!({"user_id": alice_id, "duration": -5}), "duration"),
        (json!({"user_id": alice_id, "reason": ["no"]}), "reason"),
    ] {
        let r = post(&t, &olivia, &chat_path(chat, "ban"), body.clone()).await;
        r.assert_error(400, "ERR_VALIDATION");
        assert_eq!(r.body["field"], field, "{body}");
    }
    post(&t, &admin, &chat_path(chat, "ban"), json!({"user_id": olivia_id}))
        .await
        .assert_error(400, "ERR_CHAT_OWNER_TARGET");
    post(&t, &alice, &chat_path(chat, "ban"), json!({"user_id": olivia_id}))
        .await
        .assert_error(400, "ERR_CHAT_OWNER_TARGET");
    post(&t, &alice, &chat_path(chat, "ban"), json!({"user_id": admin_id}))
        .await
        .assert_error(403, "ERR_NOT_CHAT_MODERATOR");
    post(&t, &olivia, &chat_path(chat, "ban"), json!({"user_id": admin_id}))
        .await
        .assert_error(403, "ERR_HIERARCHY");
    assert_eq!(footprint(&t).await, before);

    // A permanent ban by default: the membership goes, the chat disappears for her, joining fails.
    let r = post(
        &t,
        &olivia,
        &chat_path(chat, "ban"),
        json!({"user_id": alice_id, "reason": "Harassing"}),
    )
    .await;
    assert_eq!(r.assert_ok(), &json!({"ok": true}));
    assert!(!is_member(&t, chat, alice_id).await);
    let rows = audits(&t, "CHAT_BAN").await;
    let ban_id = rows[0].3["action_id"].as_i64().unwrap();
    assert_eq!(
        rows,
        [(
            Some(olivia_id),
            "chat".to_owned(),
            Some(chat),
            json!({"user_id": alice_id, "action_id": ban_id, "reason": "Harassing", "duration": 0, "expires_at": null})
        )]
    );
    post(&t, &alice, &chat_path(chat, "leave"), json!({}))
        .await
        .assert_error(404, "ERR_CHAT_NOT_FOUND");
    t.post(&resolve)
        .cookie(&alice)
        .send()
        .await
        .assert_error(403, "ERR_CHAT_BANNED");
    // A timed ban accumulates next to it.
    post(
        &t,
        &admin,
        &chat_path(chat, "ban"),
        json!({"user_id": alice_id, "duration": 60}),
    )
    .await
    .assert_ok();
    let timed = audits(&t, "CHAT_BAN").await[1].3.clone();
    assert_eq!(timed["duration"], 60);
    assert_eq!(
        timed["expires_at"],
        Timestamp(t.app.now() + 60 * SECOND).to_rfc3339().as_str()
    );
    let timed_id = timed["action_id"].as_i64().unwrap();

    // Unban lifts every ban of the chat (lift reason stored), but does not restore membership.
    t.clock.advance_secs(2);
    post(
        &t,
        &olivia,
        &chat_path(chat, "unban"),
        json!({"user_id": alice_id, "reason": " Appeal accepted "}),
    )
    .await
    .assert_ok();
    assert_eq!(
        audits(&t, "CHAT_UNBAN").await,
        [(
            Some(olivia_id),
            "chat".to_owned(),
            Some(chat),
            json!({"user_id": alice_id, "action_ids": [ban_id, timed_id], "reason": "Appeal accepted"})
        )]
    );
    let mut conn = t.conn().await;
    let reasons: Vec<(Option<String>,)> =
        sqlx::query_as("SELECT lift_reason FROM moderation_actions WHERE action_type = 'CHAT_BAN' ORDER BY id")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    drop(conn);
    assert_eq!(
        reasons,
        [
            (Some("Appeal accepted".to_owned()),),
            (Some("Appeal accepted".to_owned()),)
        ]
    );
    assert!(!is_member(&t, chat, alice_id).await);
    let actions = actions_of(&t, &owner, alice_id).await;
    assert_eq!(actions.len(), 2);
    assert!(actions
        .iter()
        .all(|a| a["action_type"] == "CHAT_BAN" && a["is_lifted"] == true));
    // Idempotent: unbanning again writes nothing.
    let before = footprint(&t).await;
    post(&t, &olivia, &chat_path(chat, "unban"), json!({"user_id": alice_id}))
        .await
        .assert_ok();
    assert_eq!(footprint(&t).await, before);
    // She may join again with an invite.
    assert_eq!(t.post(&resolve).cookie(&alice).send().await.assert_ok()["joined"], true);

    // A timed ban ends by itself.
    post(
        &t,
        &olivia,
        &chat_path(chat, "ban"),
        json!({"user_id": alice_id, "duration": 30}),
    )
    .await
    .assert_ok();
    t.post(&resolve)
        .cookie(&alice)
        .send()
        .await
        .assert_error(403, "ERR_CHAT_BANNED");
    t.clock.advance_secs(31);
    assert_eq!(t.post(&resolve).cookie(&alice).send().await.assert_ok()["joined"], true);
});

both_backends!(chat_kicks_need_a_member, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (admin_id, admin) = p.at("admin", 2).await;
    let (_, moderator) = p.at("moderator", 1).await;
    let (_, owner) = p.at("owner", 3).await;
    let (olivia_id, olivia) = p.at("olivia", 0).await;
    let (alice_id, alice) = p.at("alice", 0).await;
    let (bob_id, _) = p.at("bob", 0).await;
    let chat = public_chat(&t, olivia_id, &olivia, &admin, "olivias").await;
    join(&t, &olivia, chat, &[&alice]).await;
    let kick = chat_path(chat, "kick");

    let before = footprint(&t).await;
    post(&t, &moderator, &kick, json!({"user_id": bob_id}))
        .await
        .assert_error(404, "ERR_NOT_CHAT_MEMBER");
    post(&t, &moderator, &kick, json!({"user_id": olivia_id}))
        .await
        .assert_error(400, "ERR_CHAT_OWNER_TARGET");
    post(&t, &alice, &kick, json!({"user_id": alice_id}))
        .await
        .assert_error(400, "ERR_SELF_TARGET");
    post(&t, &alice, &kick, json!({"user_id": bob_id}))
        .await
        .assert_error(403, "ERR_NOT_CHAT_MODERATOR");
    let r = post(
        &t,
        &moderator,
        &kick,
        json!({"user_id": alice_id, "reason": "r".repeat(501)}),
    )
    .await;
    r.assert_error(400, "ERR_VALIDATION");
    assert_eq!(r.body["field"], "reason");
    assert_eq!(footprint(&t).await, before);

    let r = post(
        &t,
        &moderator,
        &kick,
        json!({"user_id": alice_id, "reason": "  off-topic "}),
    )
    .await;
    assert_eq!(r.assert_ok(), &json!({"ok": true}));
    assert!(!is_member(&t, chat, alice_id).await);
    let rows = audits(&t, "CHAT_KICK").await;
    let action_id = rows[0].3["action_id"].as_i64().unwrap();
    assert_eq!(rows[0].1, "chat");
    assert_eq!(rows[0].2, Some(chat));
    assert_eq!(
        rows[0].3,
        json!({"user_id": alice_id, "action_id": action_id, "reason": "off-topic", "route": "portal"})
    );
    let actions = actions_of(&t, &owner, alice_id).await;
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0]["id"], action_id);
    assert_eq!(actions[0]["action_type"], "CHAT_KICK");
    assert_eq!(actions[0]["chat_id"], chat);
    assert_eq!(actions[0]["expires_at"], Value::Null);
    assert_eq!(actions[0]["reason"], "off-topic");
    // Kicked again: no longer a member.
    post(&t, &moderator, &kick, json!({"user_id": alice_id}))
        .await
        .assert_error(404, "ERR_NOT_CHAT_MEMBER");
    // The owner kicks too, and an empty reason is stored as none.
    join(&t, &olivia, chat, &[&alice]).await;
    post(&t, &olivia, &kick, json!({"user_id": alice_id, "reason": ""}))
        .await
        .assert_ok();
    assert_eq!(audits(&t, "CHAT_KICK").await[1].3["reason"], Value::Null);
    assert_eq!(audits(&t, "CHAT_KICK").await[1].0, Some(olivia_id));
    // The admin kick of 60-chats keeps its own route name.
    join(&t, &olivia, chat, &[&alice]).await;
    post(
        &t,
        &admin,
        &format!("/v1/admin/chats/{chat}/kick"),
        json!({"user_id": alice_id}),
    )
    .await
    .assert_ok();
    let rows = audits(&t, "CHAT_KICK").await;
    assert_eq!(
        (rows[2].0, rows[2].3["route"].clone()),
        (Some(admin_id), json!("admin"))
    );
});

both_backends!(chat_timeouts_and_warnings_are_portal_wide, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (admin_id, admin) = p.at("admin", 2).await;
    let (moderator_id, moderator) = p.at("moderator", 1).await;
    let (_, owner) = p.at("owner", 3).await;
    let (olivia_id, olivia) = p.at("olivia", 0).await;
    let (alice_id, alice) = p.at("alice", 0).await;
    let (mod_owner_id, mod_owner) = p.at("mod-owner", 1).await;
    let (peer_mod_id, _) = p.at("peer-mod", 1).await;
    let (banned_id, _) = p.at("banned", 0).await;
    let chat = public_chat(&t, olivia_id, &olivia, &admin, "olivias").await;
    let mod_chat = public_chat(&t, mod_owner_id, &mod_owner, &admin, "mods-corner").await;
    let timeout = chat_path(chat, "timeout");
    let warn = chat_path(chat, "warn");

    let before = footprint(&t).await;
    // Below Moderator: refused first, even for the chat's own owner and before validation.
    for path in [&timeout, &warn] {
        let r = post(&t, &olivia, path, json!({})).await;
        r.assert_error(403, "ERR_INSUFFICIENT_PERMISSION");
        assert_eq!(r.body["error"], "Moderator access required");
    }
    for (body, field, message) in [
        (
            json!({"user_id": alice_id, "reason": "r"}),
            "duration",
            "duration is required",
        ),
        (
            json!({"user_id": alice_id, "duration": 59, "reason": "r"}),
            "duration",
            "duration must be between 60 and 2592000",
        ),
        (
            json!({"user_id": alice_id, "duration": 2_592_001, "reason": "r"}),
            "duration",
            "duration must be between 60 and 2592000",
        ),
        (
            json!({"user_id": alice_id, "duration": 60}),
            "reason",
            "reason is required",
        ),
        (
            json!({"user_id": alice_id, "duration": 60, "reason": "  "}),
            "reason",
            "reason must be at least 1 characters",
        ),
        (json!({"duration": 60, "reason": "r"}), "user_id", "user_id is required"),
    ] {
        let r = post(&t, &moderator, &timeout, body.clone()).await;
        r.assert_error(400, "ERR_VALIDATION");
        assert_eq!(
            (r.body["field"].as_str(), r.body["error"].as_str()),
            (Some(field), Some(message)),
            "{body}"
        );
    }
    for body in [
        json!({"user_id": alice_id}),
        json!({"user_id": alice_id, "reason": ""}),
        json!({"user_id": alice_id, "reason": "r".repeat(501)}),
    ] {
        let r = post(&t, &moderator, &warn, body.clone()).await;
        r.assert_error(400, "ERR_VALIDATION");
        assert_eq!(r.body["field"], "reason", "{body}");
    }
    post(&t, &moderator, &warn, json!({"user_id": moderator_id, "reason": "r"}))
        .await
        .assert_error(400, "ERR_SELF_TARGET");
    // A Moderator has no authority over a Moderator's chat…
    post(
        &t,
        &moderator,
        &chat_path(mod_chat, "warn"),
        json!({"user_id": alice_id, "reason": "r"}),
    )
    .await
    .assert_error(403, "ERR_NOT_CHAT_MODERATOR");
    // …and its owner, a Moderator, keeps the strict hierarchy for portal-wide sanctions.
    post(
        &t,
        &mod_owner,
        &chat_path(mod_chat, "timeout"),
        json!({"user_id": peer_mod_id, "duration": 60, "reason": "r"}),
    )
    .await
    .assert_error(403, "ERR_HIERARCHY");
    post(&t, &moderator, &warn, json!({"user_id": peer_mod_id, "reason": "r"}))
        .await
        .assert_error(403, "ERR_HIERARCHY");
    // A portal ban makes a timeout pointless.
    let mut conn = t.conn().await;
    sqlx::query(
        "INSERT INTO moderation_actions (user_id, action_type, reason, created_at) VALUES ($1, 'PLATFORM_BAN', 'b', $2)",
    )
    .bind(banned_id)
    .bind(t.app.now())
    .execute(&mut *conn)
    .await
    .unwrap();
    drop(conn);
    let before_banned = footprint(&t).await;
    post(
        &t,
        &moderator,
        &timeout,
        json!({"user_id": banned_id, "duration": 60, "reason": "r"}),
    )
    .await
    .assert_error(409, "ERR_ALREADY_BANNED");
    assert_eq!(footprint(&t).await, before_banned);
    assert_eq!(before_banned[2], before[2] + 1);

    // A warning from the chat, aimed at the chat's owner: allowed (no owner rule for these).
    let r = post(
        &t,
        &moderator,
        &warn,
        json!({"user_id": olivia_id, "reason": " Keep it civil "}),
    )
    .await;
    assert_eq!(r.assert_ok(), &json!({"ok": true}));
    let rows = audits(&t, "USER_WARN").await;
    let warn_id = rows[0].3["action_id"].as_i64().unwrap();
    assert_eq!(
        rows,
        [(
            Some(moderator_id),
            "user".to_owned(),
            Some(olivia_id),
            json!({"action_id": warn_id, "reason": "Keep it civil", "chat_id": chat})
        )]
    );

    // A timeout from the chat: portal-wide, with the chat named; a second one replaces the first.
    post(
        &t,
        &moderator,
        &timeout,
        json!({"user_id": alice_id, "duration": 3600, "reason": "spam"}),
    )
    .await
    .assert_ok();
    let first = audits(&t, "USER_TIMEOUT").await[0].3.clone();
    let first_id = first["action_id"].as_i64().unwrap();
    let first_end = Timestamp(t.app.now() + HOUR * SECOND).to_rfc3339();
    assert_eq!(
        first,
        json!({"action_id": first_id, "reason": "spam", "duration": 3600, "expires_at": first_end,
               "replaced_action_ids": [], "chat_id": chat})
    );
    // The target is now timed out everywhere: their own chat actions are refused.
    let r = post(&t, &alice, &chat_path(chat, "mute"), json!({"user_id": olivia_id})).await;
    r.assert_error(403, "ERR_ACCOUNT_TIMED_OUT");
    assert_eq!(r.body["expires_at"], first_end.as_str());
    assert_eq!(get(&t, &alice, "/v1/users/me").await["state"], 1);
    t.clock.advance_secs(10);
    post(
        &t,
        &admin,
        &timeout,
        json!({"user_id": alice_id, "duration": 60, "reason": "shorter"}),
    )
    .await
    .assert_ok();
    let rows = audits(&t, "USER_TIMEOUT").await;
    let second_id = rows[1].3["action_id"].as_i64().unwrap();
    assert_eq!((rows[1].0, rows[1].2), (Some(admin_id), Some(alice_id)));
    assert_eq!(rows[1].3["replaced_action_ids"], json!([first_id]));
    assert_eq!(rows[1].3["chat_id"], chat);

    // The elevated view lists the resulting actions with their chat.
    let actions = actions_of(&t, &owner, alice_id).await;
    assert_eq!(actions.len(), 2);
    assert_eq!(
        (
            actions[0]["id"].clone(),
            actions[0]["action_type"].clone(),
            actions[0]["chat_id"].clone(),
            actions[0]["issued_by_id"].clone()
        ),
        (
            json!(second_id),
            json!("PLATFORM_TIMEOUT"),
            json!(chat),
            json!(admin_id)
        )
    );
    assert_eq!(actions[1]["id"], first_id);
    assert_eq!(actions[1]["is_lifted"], true);
    let warned = actions_of(&t, &owner, olivia_id).await;
    assert_eq!(warned[0]["action_type"], "PLATFORM_WARNING");
    assert_eq!(warned[0]["chat_id"], chat);
    assert_eq!(warned[0]["reason"], "Keep it civil");
    // The moderation search finds them by chat too.
    let found = get(&t, &owner, &format!("/v1/admin/moderation/actions?chat_id={chat}")).await;
    assert_eq!(found["total"], 3);
    // The timeout ended: a timed untimeout from the admin endpoint finds nothing in force.
    t.clock.advance_secs(61);
    post(
        &t,
        &admin,
        &format!("/v1/admin/users/{alice_id}/untimeout"),
        json!({"reason": "r"}),
    )
    .await
    .assert_error(409, "ERR_NOT_TIMED_OUT");
});
