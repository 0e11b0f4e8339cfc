//! Chats as owned records (60-chats): creation with slots, invites, membership, the owner's and
//! the staff's chat operations.

use crate::common::{keys, Kind, People, TestApp};
use serde_json::{json, Value};

const HOUR: i64 = 3600;
const SECOND: i64 = 1_000_000;

/// The audit rows of one event type, oldest first: (actor_id, target_id, metadata).
async fn audits(t: &TestApp, event_type: &str) -> Vec<(Option<i64>, Option<i64>, Value)> {
    let mut conn = t.conn().await;
    let rows: Vec<(Option<i64>, Option<i64>, String)> =
        sqlx::query_as("SELECT actor_id, target_id, metadata FROM audit_log WHERE event_type = $1 ORDER BY id")
            .bind(event_type)
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    rows.into_iter()
        .map(|(a, t, m)| (a, t, serde_json::from_str(&m).unwrap()))
        .collect()
}

async fn create_private(t: &TestApp, token: &str, name: &str) -> Value {
    t.post("/v1/portal/chats")
        .cookie(token)
        .json(json!({"name": name}))
        .send()
        .await
        .assert_ok()
        .clone()
}

async fn create_official(t: &TestApp, token: &str, name: &str, slug: &str) -> i64 {
    t.post("/v1/admin/chats")
        .cookie(token)
        .json(json!({"name": name, "slug": slug}))
        .send()
        .await
        .assert_ok()["chat_id"]
        .as_i64()
        .unwrap()
}

async fn new_invite(t: &TestApp, token: &str, chat_id: i64, body: Value) -> String {
    t.post(&format!("/v1/portal/chats/{chat_id}/invites"))
        .cookie(token)
        .json(body)
        .send()
        .await
        .assert_ok()["code"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn my_chat_names(t: &TestApp, token: &str) -> Vec<String> {
    let r = t.get("/v1/users/me/chats").cookie(token).send().await;
    r.assert_ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn visible_ids(t: &TestApp, token: &str) -> Vec<i64> {
    let r = t.get("/v1/portal/chats").cookie(token).send().await;
    let ids: Vec<i64> = r
        .assert_ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(r.header("x-total-count"), Some(ids.len().to_string().as_str()));
    ids
}

async fn member_ids(t: &TestApp, admin: &str, chat_id: i64) -> Vec<i64> {
    let r = t.get(&format!("/v1/admin/chats/{chat_id}")).cookie(admin).send().await;
    r.assert_ok()["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user"]["id"].as_i64().unwrap())
        .collect()
}

both_backends!(creation_needs_a_subscription_or_admin, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (_, basic) = p.at("basic", 0).await;
    let (_, moderator) = p.at("moderator", 1).await;
    t.post("/v1/portal/chats")
        .cookie(&basic)
        .json(json!({"name": "mine"}))
        .send()
        .await
        .assert_error(403, "ERR_PREMIUM_REQUIRED");
    // Eligibility ranks before the body is read.
    t.post("/v1/portal/chats")
        .cookie(&moderator)
        .raw(Some("application/json"), "{not json")
        .send()
        .await
        .assert_error(403, "ERR_PREMIUM_REQUIRED");
    t.post("/v1/portal/chats")
        .json(json!({"name": "mine"}))
        .send()
        .await
        .assert_error(401, "ERR_AUTH_REQUIRED");
    assert!(my_chat_names(&t, &basic).await.is_empty());
    assert_eq!(t.count("SELECT COUNT(*) FROM chats").await, 0);

    // An Admin needs no subscription.
    let (admin_id, admin) = p.at("admin", 2).await;
    let chat = create_private(&t, &admin, "  staff room  ").await;
    assert_eq!(chat["name"], "staff room");
    assert_eq!(chat["owner"]["id"], admin_id);
    assert_eq!(chat["owner"]["username"], "uadmin");
    // The login bot reported no avatar for this identity.
    assert_eq!(chat["owner"]["avatar_url"], Value::Null);
    assert_eq!(
        keys(&chat),
        [
            "archived",
            "avatar_url",
            "chat_type",
            "description",
            "id",
            "label",
            "name",
            "owner",
            "secrets",
            "slug",
            "visibility"
        ]
    );
    assert_eq!(chat["chat_type"], "group");
    assert_eq!(chat["visibility"], "private");
    assert_eq!(chat["slug"], Value::Null);
    assert_eq!(chat["secrets"], json!([]));
    assert_eq!(chat["archived"], false);
    // Creating one's own chat is not audited.
    assert_eq!(
        t.count("SELECT COUNT(*) FROM audit_log WHERE event_type LIKE 'CHAT_%'")
            .await,
        0
    );
});

both_backends!(premium_users_create_up_to_their_slots, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (_, premium) = p.premium("premium", HOUR).await;
    for i in 1..=3 {
        create_private(&t, &premium, &format!("chat {i}")).await;
        t.clock.advance_secs(1);
    }
    let refused = t
        .post("/v1/portal/chats")
        .cookie(&premium)
        .json(json!({"name": "chat 4"}))
        .send()
        .await;
    refused.assert_error(403, "ERR_CHAT_SLOT_LIMIT");
    assert_eq!(refused.body["limit"], 3);
    // The caller's own chats, newest first.
    assert_eq!(my_chat_names(&t, &premium).await, ["chat 3", "chat 2", "chat 1"]);
    let r = t.get("/v1/users/me/chats").cookie(&premium).send().await;
    assert_eq!(r.header("x-total-count"), Some("3"));
    assert_eq!(
        keys(&r.body[0]),
        ["created_at", "id", "is_public", "name", "visibility"]
    );
    assert_eq!(r.body[0]["is_public"], false);

    // Destroying one frees a slot.
    let first = r.body[2]["id"].as_i64().unwrap();
    let done = t
        .post(&format!("/v1/portal/chats/{first}/delete"))
        .cookie(&premium)
        .send()
        .await;
    assert_eq!(done.assert_ok()["message"], "Chat 'chat 1' destroyed");
    create_private(&t, &premium, "chat 4").await;

    // Once the subscription has ended the user keeps their chats but may create no more.
    t.clock.advance_secs(HOUR);
    t.post("/v1/portal/chats")
        .cookie(&premium)
        .json(json!({"name": "late"}))
        .send()
        .await
        .assert_error(403, "ERR_PREMIUM_REQUIRED");
    assert_eq!(my_chat_names(&t, &premium).await, ["chat 4", "chat 3", "chat 2"]);
    // An owner destroying their own chat is not audited.
    assert!(audits(&t, "CHAT_DELETE").await.is_empty());
});

async fn slot_limits_follow_the_config(kind: Kind) {
    let Some(t) = TestApp::new(kind, |c| {
        c.chats.slots.premium = 1;
        c.chats.slots.admin = 2;
    })
    .await
    else {
        return;
    };
    let p = People::new(&t).await;
    let (_, lifetime) = p.at("lifetime", 1).await;
    let mut conn = t.conn().await;
    sqlx::query("UPDATE users SET subscription_tier = 3 WHERE username = 'ulifetime'")
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    create_private(&t, &lifetime, "one").await;
    let refused = t
        .post("/v1/portal/chats")
        .cookie(&lifetime)
        .json(json!({"name": "two"}))
        .send()
        .await;
    refused.assert_error(403, "ERR_CHAT_SLOT_LIMIT");
    assert_eq!(refused.body["limit"], 1);

    // Official chats count against an Admin's slots too.
    let (_, admin) = p.at("admin", 2).await;
    create_official(&t, &admin, "Lobby", "lobby").await;
    create_private(&t, &admin, "back room").await;
    let refused = t
        .post("/v1/admin/chats")
        .cookie(&admin)
        .json(json!({"name": "More", "slug": "more"}))
        .send()
        .await;
    refused.assert_error(403, "ERR_CHAT_SLOT_LIMIT");
    assert_eq!(refused.body["limit"], 2);
    let refused = t
        .post("/v1/portal/chats")
        .cookie(&admin)
        .json(json!({"name": "x3"}))
        .send()
        .await;
    assert_eq!(refused.body["limit"], 2);

    // Owners are unlimited.
    let (_, owner) = p.at("owner", 3).await;
    for i in 0..4 {
        create_private(&t, &owner, &format!("owned {i}")).await;
    }
    assert_eq!(my_chat_names(&t, &owner).await.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slot_limits_follow_the_config_sqlite() {
    slot_limits_follow_the_config(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slot_limits_follow_the_config_postgres() {
    slot_limits_follow_the_config(Kind::Postgres).await;
}

both_backends!(bad_chat_input_is_refused_and_changes_nothing, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (_, premium) = p.premium("premium", HOUR).await;
    let (_, admin) = p.at("admin", 2).await;
    let cases = [
        (json!({}), "name", "name is required"),
        (json!({"name": "x"}), "name", "name must be at least 2 characters"),
        (json!({"name": "   x   "}), "name", "name must be at least 2 characters"),
        (
            json!({"name": "x".repeat(65)}),
            "name",
            "name must be at most 64 characters",
        ),
        (json!({"name": "a\u{7}b"}), "name", "name contains invalid characters"),
        (json!({"name": 42}), "name", "name must be a string"),
        (
            json!({"name": "ok", "description": "d".repeat(501)}),
            "description",
            "description must be at most 500 characters",
        ),
        (
            json!({"name": "ok", "allow_control_requests": "yes"}),
            "allow_control_requests",
            "allow_control_requests must be a boolean",
        ),
        (
            json!({"name": "ok", "browser_config": []}),
            "browser_config",
            "browser_config must be an object",
        ),
        (
            json!({"name": "ok", "browser_config": null}),
            "browser_config",
            "browser_config must be an object",
        ),
        (
            json!({"name": "ok", "browser_config": {"x": "y".repeat(4100)}}),
            "browser_config",
            "browser_config must be at most 4096 bytes",
        ),
    ];
    for (body, field, message) in cases {
        let r = t
            .post("/v1/portal/chats")
            .cookie(&premium)
            .json(body.clone())
            .send()
            .await;
        r.assert_error(400, "ERR_VALIDATION");
        assert_eq!(r.body["field"], field, "{body}");
        assert_eq!(r.body["error"], message, "{body}");
    }
    // 64 characters is the most a name may have.
    create_private(&t, &premium, &"n".repeat(64)).await;

    let slug_cases = [
        (json!({"name": "Lobby"}), "slug", "slug is required"),
        (
            json!({"name": "Lobby", "slug": "My-Chat"}),
            "slug",
            "slug contains invalid characters",
        ),
        (
            json!({"name": "Lobby", "slug": "my chat"}),
            "slug",
            "slug contains invalid characters",
        ),
        (
            json!({"name": "Lobby", "slug": " lobby"}),
            "slug",
            "slug contains invalid characters",
        ),
        (
            json!({"name": "Lobby", "slug": "l"}),
            "slug",
            "slug must be at least 2 characters",
        ),
        (
            json!({"name": "Lobby", "slug": "l".repeat(33)}),
            "slug",
            "slug must be at most 32 characters",
        ),
        (
            json!({"name": "L", "slug": "Bad Slug"}),
            "name",
            "name must be at least 2 characters",
        ),
    ];
    for (body, field, message) in slug_cases {
        let r = t.post("/v1/admin/chats").cookie(&admin).json(body.clone()).send().await;
        r.assert_error(400, "ERR_VALIDATION");
        assert_eq!(r.body["field"], field, "{body}");
        assert_eq!(r.body["error"], message, "{body}");
    }
    assert_eq!(t.count("SELECT COUNT(*) FROM chats").await, 1);
    assert!(audits(&t, "CHAT_CREATE").await.is_empty());

    // Unknown and malformed chat ids.
    let unknown = [
        t.post("/v1/portal/chats/999/delete").cookie(&premium),
        t.post("/v1/portal/chats/999/leave").cookie(&premium),
        t.get("/v1/portal/chats/999/invites").cookie(&premium),
        t.post("/v1/portal/chats/999/invites").cookie(&premium),
        t.post("/v1/portal/chats/999/invites/abcdefghijklmnop/delete")
            .cookie(&premium),
        t.get("/v1/admin/chats/999").cookie(&admin),
        t.post("/v1/admin/chats/999/update")
            .cookie(&admin)
            .json(json!({"name": "new"})),
        t.post("/v1/admin/chats/999/delete").cookie(&admin),
        t.post("/v1/admin/chats/999/kick")
            .cookie(&admin)
            .json(json!({"user_id": 1})),
    ];
    for request in unknown {
        request.send().await.assert_error(404, "ERR_CHAT_NOT_FOUND");
    }
    for path in [
        "/v1/portal/chats/abc/delete",
        "/v1/portal/chats/0/leave",
        "/v1/portal/chats/-1/invites",
        "/v1/admin/chats/1.5/delete",
    ] {
        let r = t.post(path).cookie(&admin).send().await;
        r.assert_error(400, "ERR_VALIDATION");
        assert_eq!(r.body["error"], "chat_id must be a positive integer");
    }
    let r = t.get("/v1/admin/chats/abc").cookie(&admin).send().await;
    assert_eq!(r.body["field"], "chat_id");
    assert_eq!(t.count("SELECT COUNT(*) FROM chats").await, 1);

    // The browser VM is out of scope: its routes do not exist.
    for path in [
        "/v1/admin/chats/1/start",
        "/v1/admin/chats/1/stop",
        "/v1/portal/chats/1/start",
        "/v1/portal/chats/1/stop",
    ] {
        t.post(path)
            .cookie(&admin)
            .send()
            .await
            .assert_error(404, "ERR_NOT_FOUND");
    }
});

both_backends!(invites_round_trip_with_uses_and_expiry, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (owner_id, owner) = p.premium("owner", 24 * HOUR).await;
    let (alice_id, alice) = p.at("alice", 0).await;
    let (bob_id, bob) = p.at("bob", 0).await;
    let (_, carol) = p.at("carol", 0).await;
    let (_, admin) = p.at("admin", 2).await;
    let chat = create_private(&t, &owner, "movie-night").await;
    let chat_id = chat["id"].as_i64().unwrap();
    let invites_path = format!("/v1/portal/chats/{chat_id}/invites");

    // A private chat does not exist for outsiders.
    assert!(!visible_ids(&t, &alice).await.contains(&chat_id));
    t.get(&invites_path)
        .cookie(&alice)
        .send()
        .await
        .assert_error(404, "ERR_CHAT_NOT_FOUND");
    // Staff can see it but do not manage a private chat's invites.
    let r = t.get(&invites_path).cookie(&admin).send().await;
    r.assert_error(403, "ERR_NOT_CHAT_MODERATOR");
    assert_eq!(r.body["error"], "You cannot manage this chat's invites");

    let expires_text = rfc3339(t.app.now() + 2 * HOUR * SECOND);
    let r = t
        .post(&invites_path)
        .cookie(&owner)
        .json(json!({"max_uses": 2, "expires_at": expires_text}))
        .send()
        .await;
    let invite = r.assert_ok().clone();
    assert_eq!(
        keys(&invite),
        [
            "chat_id",
            "code",
            "created_at",
            "created_by_id",
            "expires_at",
            "max_uses",
            "uses"
        ]
    );
    let code = invite["code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 16);
    assert!(code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    assert_eq!(invite["chat_id"], chat_id);
    assert_eq!(invite["created_by_id"], owner_id);
    assert_eq!(invite["expires_at"], expires_text);
    assert_eq!(invite["uses"], 0);
    assert_eq!(invite["max_uses"], 2);

    // Alice joins; a second resolve changes nothing.
    let resolve = format!("/v1/portal/resolve/{code}");
    let r = t.post(&resolve).cookie(&alice).send().await;
    assert_eq!(r.assert_ok()["joined"], true);
    assert_eq!(r.body["chat"]["id"], chat_id);
    assert_eq!(r.body["chat"]["owner"]["id"], owner_id);
    let again = t.post(&resolve).cookie(&alice).send().await;
    assert_eq!(again.assert_ok()["joined"], false);
    // So does the owner's own resolve.
    assert_eq!(
        t.post(&resolve).cookie(&owner).send().await.assert_ok()["joined"],
        false
    );
    let listed = t.get(&invites_path).cookie(&owner).send().await;
    assert_eq!(listed.assert_ok()["invites"][0]["uses"], 1);
    assert!(visible_ids(&t, &alice).await.contains(&chat_id));
    // Members do not manage the private chat's invites.
    t.get(&invites_path)
        .cookie(&alice)
        .send()
        .await
        .assert_error(403, "ERR_NOT_CHAT_MODERATOR");
    t.post(&invites_path)
        .cookie(&alice)
        .send()
        .await
        .assert_error(403, "ERR_NOT_CHAT_MODERATOR");

    // Bob takes the last use; Carol finds the invite used up.
    assert_eq!(t.post(&resolve).cookie(&bob).send().await.assert_ok()["joined"], true);
    t.post(&resolve)
        .cookie(&carol)
        .send()
        .await
        .assert_error(404, "ERR_INVITE_NOT_FOUND");
    assert_eq!(
        t.get(&invites_path).cookie(&owner).send().await.assert_ok()["invites"],
        json!([])
    );
    assert_eq!(member_ids(&t, &admin, chat_id).await, [alice_id, bob_id]);

    // An invite that expires.
    let later = new_invite(
        &t,
        &owner,
        chat_id,
        json!({"expires_at": rfc3339(t.app.now() + 60 * SECOND)}),
    )
    .await;
    t.clock.advance_secs(61);
    t.post(&format!("/v1/portal/resolve/{later}"))
        .cookie(&carol)
        .send()
        .await
        .assert_error(404, "ERR_INVITE_NOT_FOUND");

    // A revoked invite is gone at once; its members stay.
    let open = new_invite(&t, &owner, chat_id, json!({})).await;
    let listed = t.get(&invites_path).cookie(&owner).send().await;
    assert_eq!(listed.assert_ok()["invites"][0]["code"], open.as_str());
    assert_eq!(listed.body["invites"][0]["expires_at"], Value::Null);
    assert_eq!(listed.body["invites"][0]["max_uses"], Value::Null);
    let revoke = format!("/v1/portal/chats/{chat_id}/invites/{open}/delete");
    let r = t.post(&revoke).cookie(&owner).send().await;
    assert_eq!(r.assert_ok()["message"], format!("Invite '{open}' revoked"));
    t.post(&revoke)
        .cookie(&owner)
        .send()
        .await
        .assert_error(404, "ERR_INVITE_NOT_FOUND");
    t.post(&format!("/v1/portal/resolve/{open}"))
        .cookie(&carol)
        .send()
        .await
        .assert_error(404, "ERR_INVITE_NOT_FOUND");
    // The expired invite is still stored and can be revoked too.
    t.post(&format!("/v1/portal/chats/{chat_id}/invites/{later}/delete"))
        .cookie(&owner)
        .send()
        .await
        .assert_ok();
    t.post("/v1/portal/resolve/NOT-A-CODE")
        .cookie(&carol)
        .send()
        .await
        .assert_error(404, "ERR_INVITE_NOT_FOUND");

    // Alice leaves; the owner cannot.
    let r = t
        .post(&format!("/v1/portal/chats/{chat_id}/leave"))
        .cookie(&alice)
        .send()
        .await;
    assert_eq!(r.assert_ok()["message"], "Left chat 'movie-night'");
    t.post(&format!("/v1/portal/chats/{chat_id}/leave"))
        .cookie(&alice)
        .send()
        .await
        .assert_error(404, "ERR_CHAT_NOT_FOUND");
    t.post(&format!("/v1/portal/chats/{chat_id}/leave"))
        .cookie(&owner)
        .send()
        .await
        .assert_error(400, "ERR_CHAT_OWNER_TARGET");
    assert_eq!(member_ids(&t, &admin, chat_id).await, [bob_id]);
    // None of this is audited.
    assert_eq!(
        t.count("SELECT COUNT(*) FROM audit_log WHERE event_type LIKE 'CHAT_%'")
            .await,
        0
    );
});

fn rfc3339(micros: i64) -> String {
    portal::time::Timestamp(micros).to_rfc3339()
}

both_backends!(invite_input_and_limits, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (_, owner) = p.premium("owner", HOUR).await;
    let (_, moderator) = p.at("moderator", 1).await;
    let (_, admin) = p.at("admin", 2).await;
    let chat_id = create_private(&t, &owner, "party").await["id"].as_i64().unwrap();
    let path = format!("/v1/portal/chats/{chat_id}/invites");
    let past = rfc3339(t.app.now() - SECOND);
    let cases = [
        (
            json!({"expires_at": "tomorrow"}),
            "expires_at",
            "expires_at must be a valid timestamp",
        ),
        (
            json!({"expires_at": past}),
            "expires_at",
            "expires_at must be in the future",
        ),
        (
            json!({"max_uses": 0}),
            "max_uses",
            "max_uses must be between 1 and 1000000",
        ),
        (
            json!({"max_uses": 1_000_001}),
            "max_uses",
            "max_uses must be between 1 and 1000000",
        ),
        (json!({"max_uses": "5"}), "max_uses", "max_uses must be an integer"),
    ];
    for (body, field, message) in cases {
        let r = t.post(&path).cookie(&owner).json(body.clone()).send().await;
        r.assert_error(400, "ERR_VALIDATION");
        assert_eq!(r.body["field"], field, "{body}");
        assert_eq!(r.body["error"], message, "{body}");
    }
    // Validation comes before existence.
    t.post("/v1/portal/chats/999/invites")
        .cookie(&owner)
        .json(json!({"max_uses": 0}))
        .send()
        .await
        .assert_error(400, "ERR_VALIDATION");

    for _ in 0..20 {
        new_invite(&t, &owner, chat_id, json!({"max_uses": 1})).await;
    }
    t.post(&path)
        .cookie(&owner)
        .send()
        .await
        .assert_error(409, "ERR_INVITE_LIMIT");
    assert_eq!(t.count("SELECT COUNT(*) FROM chat_invites").await, 20);
    // A used-up invite no longer counts.
    let list = t.get(&path).cookie(&owner).send().await;
    let code = list.assert_ok()["invites"][0]["code"].as_str().unwrap().to_owned();
    t.post(&format!("/v1/portal/resolve/{code}"))
        .cookie(&moderator)
        .send()
        .await
        .assert_ok();
    new_invite(&t, &owner, chat_id, json!({})).await;

    // Invites of an official chat are managed by whoever outranks its owner.
    let official = create_official(&t, &admin, "Lobby", "lobby").await;
    let official_path = format!("/v1/portal/chats/{official}/invites");
    t.get(&official_path)
        .cookie(&moderator)
        .send()
        .await
        .assert_error(403, "ERR_NOT_CHAT_MODERATOR");
    let (_, owner3) = p.at("owner3", 3).await;
    t.get(&official_path).cookie(&owner3).send().await.assert_ok();
    new_invite(&t, &owner3, official, json!({})).await;
});

both_backends!(timed_out_callers_cannot_add_content, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (premium_id, premium) = p.premium("premium", 24 * HOUR).await;
    let (admin_id, admin) = p.at("admin", 2).await;
    let (_, other) = p.premium("other", 24 * HOUR).await;
    let own_chat = create_private(&t, &premium, "mine").await["id"].as_i64().unwrap();
    let official = create_official(&t, &admin, "Lobby", "lobby").await;
    let other_chat = create_private(&t, &other, "other").await["id"].as_i64().unwrap();
    let code = new_invite(&t, &other, other_chat, json!({})).await;

    let until = t.time_out(premium_id, HOUR).await;
    let refused = t
        .post("/v1/portal/chats")
        .cookie(&premium)
        .raw(Some("application/json"), "{broken")
        .send()
        .await;
    refused.assert_error(403, "ERR_ACCOUNT_TIMED_OUT");
    assert_eq!(refused.body["expires_at"], rfc3339(until));
    t.post(&format!("/v1/portal/chats/{own_chat}/invites"))
        .cookie(&premium)
        .send()
        .await
        .assert_error(403, "ERR_ACCOUNT_TIMED_OUT");
    t.post(&format!("/v1/portal/resolve/{code}"))
        .cookie(&premium)
        .send()
        .await
        .assert_error(403, "ERR_ACCOUNT_TIMED_OUT");
    // Reading and destroying one's own chat stay allowed.
    assert!(visible_ids(&t, &premium).await.contains(&own_chat));
    t.post(&format!("/v1/portal/chats/{own_chat}/delete"))
        .cookie(&premium)
        .send()
        .await
        .assert_ok();

    t.time_out(admin_id, HOUR).await;
    t.get("/v1/admin/chats").cookie(&admin).send().await.assert_ok();
    t.get(&format!("/v1/admin/chats/{official}"))
        .cookie(&admin)
        .send()
        .await
        .assert_ok();
    for request in [
        t.post("/v1/admin/chats")
            .cookie(&admin)
            .json(json!({"name": "More", "slug": "more"})),
        t.post(&format!("/v1/admin/chats/{official}/update"))
            .cookie(&admin)
            .json(json!({"name": "x"})),
        t.post(&format!("/v1/admin/chats/{official}/delete")).cookie(&admin),
        t.post(&format!("/v1/admin/chats/{official}/kick"))
            .cookie(&admin)
            .json(json!({"user_id": 1})),
    ] {
        request.send().await.assert_error(403, "ERR_ACCOUNT_TIMED_OUT");
    }
    // Once the timeout has run out, creation works again.
    t.clock.advance_secs(HOUR);
    create_private(&t, &premium, "again").await;
    assert_eq!(
        t.count("SELECT COUNT(*) FROM audit_log WHERE event_type LIKE 'CHAT_%' AND event_type <> 'CHAT_CREATE'")
            .await,
        0
    );
});

both_backends!(destroying_is_for_owners, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (owner_id, owner) = p.premium("owner", HOUR).await;
    let (_, admin) = p.at("admin", 2).await;
    let (boss_id, boss) = p.at("boss", 3).await;
    let (_, stranger) = p.at("stranger", 0).await;
    let chat_id = create_private(&t, &owner, "secret").await["id"].as_i64().unwrap();
    let code = new_invite(&t, &owner, chat_id, json!({})).await;
    let path = format!("/v1/portal/chats/{chat_id}/delete");
    t.post(&path)
        .cookie(&stranger)
        .send()
        .await
        .assert_error(404, "ERR_CHAT_NOT_FOUND");
    let r = t.post(&path).cookie(&admin).send().await;
    r.assert_error(403, "ERR_FORBIDDEN");
    assert_eq!(r.body["error"], "Only the chat owner can destroy this chat");
    t.post(&format!("/v1/portal/resolve/{code}"))
        .cookie(&stranger)
        .send()
        .await
        .assert_ok();
    t.post(&path)
        .cookie(&stranger)
        .send()
        .await
        .assert_error(403, "ERR_FORBIDDEN");
    assert_eq!(t.count("SELECT COUNT(*) FROM chats").await, 1);

    // An Owner destroys someone else's chat, and that is audited.
    let r = t.post(&path).cookie(&boss).send().await;
    assert_eq!(r.assert_ok()["message"], "Chat 'secret' destroyed");
    assert_eq!(t.count("SELECT COUNT(*) FROM chats").await, 0);
    assert_eq!(t.count("SELECT COUNT(*) FROM chat_members").await, 0);
    assert_eq!(t.count("SELECT COUNT(*) FROM chat_invites").await, 0);
    let rows = audits(&t, "CHAT_DELETE").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, Some(boss_id));
    assert_eq!(rows[0].1, Some(chat_id));
    assert_eq!(
        rows[0].2,
        json!({"name": "secret", "owner_id": owner_id, "visibility": "private", "slug": null, "member_count": 1, "route": "portal"})
    );
});

both_backends!(portal_list_orders_official_public_then_own, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (_, owner) = p.premium("owner", HOUR).await;
    let (_, admin) = p.at("admin", 2).await;
    let (_, viewer) = p.at("viewer", 0).await;
    let private = create_private(&t, &owner, "private one").await["id"].as_i64().unwrap();
    let public = create_private(&t, &owner, "to be public").await["id"].as_i64().unwrap();
    t.post(&format!("/v1/admin/chats/{public}/update"))
        .cookie(&admin)
        .json(json!({"slug": "public-one"}))
        .send()
        .await
        .assert_ok();
    let official = create_official(&t, &admin, "Lobby", "lobby").await;
    let admin_private = create_private(&t, &admin, "admins only").await["id"].as_i64().unwrap();
    assert_eq!(visible_ids(&t, &owner).await, [official, public, private]);
    assert_eq!(visible_ids(&t, &viewer).await, [official, public]);
    // Staff see their own private chats here, and everybody's in the admin list.
    assert_eq!(visible_ids(&t, &admin).await, [official, public, admin_private]);
    let r = t.get("/v1/admin/chats").cookie(&admin).send().await;
    let ids: Vec<i64> = r
        .assert_ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [private, public, official, admin_private]);
    assert_eq!(r.header("x-total-count"), Some("4"));
    let r = t
        .get("/v1/admin/chats?visibility=private&limit=1&offset=1")
        .cookie(&admin)
        .send()
        .await;
    assert_eq!(r.assert_ok().as_array().unwrap().len(), 1);
    assert_eq!(r.body[0]["id"], admin_private);
    assert_eq!(r.header("x-total-count"), Some("2"));
    for query in ["visibility=secret", "limit=0", "limit=1001", "offset=-1", "limit=x"] {
        t.get(&format!("/v1/admin/chats?{query}"))
            .cookie(&admin)
            .send()
            .await
            .assert_error(400, "ERR_VALIDATION");
    }
    t.get("/v1/admin/chats")
        .cookie(&viewer)
        .send()
        .await
        .assert_error(403, "ERR_INSUFFICIENT_PERMISSION");
});

both_backends!(admin_creates_and_updates_official_chats, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (admin_id, admin) = p.at("admin", 2).await;
    let (_, moderator) = p.at("moderator", 1).await;
    t.post("/v1/admin/chats")
        .cookie(&moderator)
        .json(json!({"name": "General", "slug": "general"}))
        .send()
        .await
        .assert_error(403, "ERR_INSUFFICIENT_PERMISSION");
    let r = t
        .post("/v1/admin/chats")
        .cookie(&admin)
        .json(json!({"name": "General", "slug": "general", "description": "  Official general chat ", "browser_config": {"browser": "chromium", "kiosk": true}}))
        .send()
        .await;
    let status = r.assert_ok().clone();
    let chat_id = status["chat_id"].as_i64().unwrap();
    assert_eq!(
        status,
        json!({"chat_id": chat_id, "chat_name": "General", "username": "uadmin", "browser": "chromium",
               "allow_control_requests": false, "visibility": "official", "label": null, "slug": "general",
               "description": "Official general chat", "avatar_source": null, "running": false, "viewer_count": 0})
    );
    let created = audits(&t, "CHAT_CREATE").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].0, Some(admin_id));
    assert_eq!(
        created[0].2,
        json!({"name": "General", "slug": "general", "visibility": "official", "owner_id": admin_id})
    );

    // Duplicate slugs, at creation and by update.
    let r = t
        .post("/v1/admin/chats")
        .cookie(&admin)
        .json(json!({"name": "Other", "slug": "general"}))
        .send()
        .await;
    r.assert_error(409, "ERR_SLUG_TAKEN");
    let second = create_official(&t, &admin, "Second", "second").await;
    let update = format!("/v1/admin/chats/{second}/update");
    t.post(&update)
        .cookie(&admin)
        .json(json!({"slug": "general"}))
        .send()
        .await
        .assert_error(409, "ERR_SLUG_TAKEN");
    assert_eq!(t.count("SELECT COUNT(*) FROM chats").await, 2);

    // The detail view.
    let detail = t.get(&format!("/v1/admin/chats/{chat_id}")).cookie(&admin).send().await;
    let detail = detail.assert_ok();
    assert_eq!(detail["browser_config"], json!({"browser": "chromium", "kiosk": true}));
    assert_eq!(detail["member_count"], 0);
    assert_eq!(detail["members"], json!([]));
    assert_eq!(detail["is_public"], true);
    assert_eq!(detail["owner_id"], admin_id);

    // Slug and visibility rules of an update.
    let cases = [
        (
            json!({"visibility": "private", "slug": "x-y"}),
            "slug must be null for private chats",
        ),
        (json!({"slug": "Second"}), "slug contains invalid characters"),
        (
            json!({"visibility": "hidden"}),
            "visibility must be one of: official, public, private",
        ),
        (json!({"name": "x"}), "name must be at least 2 characters"),
        (json!({"name": null}), "name must be a string"),
        (json!({"label": "l".repeat(33)}), "label must be at most 32 characters"),
        (
            json!({"avatar_source": "discord_6"}),
            "avatar_source must be one of: discord_0, discord_1, discord_2, discord_3, discord_4, discord_5",
        ),
        (json!({"browser_config": "firefox"}), "browser_config must be an object"),
        (
            json!({"allow_control_requests": 1}),
            "allow_control_requests must be a boolean",
        ),
    ];
    for (body, message) in cases {
        let r = t.post(&update).cookie(&admin).json(body.clone()).send().await;
        r.assert_error(400, "ERR_VALIDATION");
        assert_eq!(r.body["error"], message, "{body}");
    }
    assert!(audits(&t, "CHAT_UPDATE").await.is_empty());

    // Clearing the slug makes the chat private; a private chat needs a slug to go public.
    let r = t.post(&update).cookie(&admin).json(json!({"slug": null})).send().await;
    assert_eq!(r.assert_ok()["visibility"], "private");
    assert_eq!(r.body["slug"], Value::Null);
    assert_eq!(r.body["is_public"], false);
    let r = t
        .post(&update)
        .cookie(&admin)
        .json(json!({"visibility": "public"}))
        .send()
        .await;
    r.assert_error(400, "ERR_VALIDATION");
    assert_eq!(r.body["error"], "slug is required for official and public chats");
    let r = t
        .post(&update)
        .cookie(&admin)
        .json(json!({"slug": "second-2"}))
        .send()
        .await;
    assert_eq!(r.assert_ok()["visibility"], "public");
    let r = t
        .post(&update)
        .cookie(&admin)
        .json(json!({"visibility": "official", "label": "  Staff pick ", "avatar_source": "discord_3", "description": ""}))
        .send()
        .await;
    let body = r.assert_ok();
    assert_eq!(body["visibility"], "official");
    assert_eq!(body["slug"], "second-2");
    assert_eq!(body["label"], "Staff pick");
    assert_eq!(body["avatar_source"], "discord_3");
    assert_eq!(
        keys(body),
        [
            "avatar_source",
            "created_at",
            "description",
            "id",
            "is_public",
            "label",
            "last_activity_at",
            "name",
            "owner_id",
            "slug",
            "updated_at",
            "visibility"
        ]
    );
    let portal = t.get("/v1/portal/chats").cookie(&admin).send().await;
    let listed = portal
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == second)
        .unwrap()
        .clone();
    assert_eq!(listed["avatar_url"], "https://cdn.discordapp.com/embed/avatars/3.png");

    let updates = audits(&t, "CHAT_UPDATE").await;
    assert_eq!(updates.len(), 3);
    assert_eq!(
        updates[0].2,
        json!({"changes": {"slug": {"old": "second", "new": null}, "visibility": {"old": "official", "new": "private"}}})
    );
    assert_eq!(
        updates[2].2,
        json!({"changes": {"visibility": {"old": "public", "new": "official"}, "label": {"old": null, "new": "Staff pick"}, "avatar_source": {"old": null, "new": "discord_3"}}})
    );

    // A body that changes nothing writes nothing.
    t.clock.advance_secs(5);
    let before = t
        .get(&format!("/v1/admin/chats/{second}"))
        .cookie(&admin)
        .send()
        .await
        .body;
    let r = t
        .post(&update)
        .cookie(&admin)
        .json(json!({"label": "Staff pick", "slug": "second-2", "browser_config": {"kiosk": false, "start_url": null, "browser": "firefox"}}))
        .send()
        .await;
    assert_eq!(r.assert_ok()["updated_at"], before["updated_at"]);
    t.post(&update).cookie(&admin).send().await.assert_ok();
    assert_eq!(audits(&t, "CHAT_UPDATE").await.len(), 3);

    // Admin delete, audited with route "admin".
    let r = t
        .post(&format!("/v1/admin/chats/{second}/delete"))
        .cookie(&admin)
        .send()
        .await;
    assert_eq!(r.assert_ok()["message"], "Chat 'Second' deleted");
    let deleted = audits(&t, "CHAT_DELETE").await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].2["route"], "admin");
    assert_eq!(deleted[0].2["slug"], "second-2");
    t.get(&format!("/v1/admin/chats/{second}"))
        .cookie(&admin)
        .send()
        .await
        .assert_error(404, "ERR_CHAT_NOT_FOUND");
});

both_backends!(transfer_is_for_owners_only, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (admin_id, admin) = p.at("admin", 2).await;
    let (boss_id, boss) = p.at("boss", 3).await;
    let (heir_id, heir) = p.at("heir", 0).await;
    let chat_id = create_private(&t, &admin, "hand-over").await["id"].as_i64().unwrap();
    let code = new_invite(&t, &admin, chat_id, json!({})).await;
    t.post(&format!("/v1/portal/resolve/{code}"))
        .cookie(&heir)
        .send()
        .await
        .assert_ok();
    let path = format!("/v1/admin/chats/{chat_id}/transfer");

    let r = t
        .post(&path)
        .cookie(&admin)
        .json(json!({"new_owner_id": heir_id}))
        .send()
        .await;
    r.assert_error(403, "ERR_INSUFFICIENT_PERMISSION");
    assert_eq!(r.body["error"], "Owner access required");
    let detail = t.get(&format!("/v1/admin/chats/{chat_id}")).cookie(&admin).send().await;
    assert_eq!(detail.body["owner_id"], admin_id);

    for (body, message) in [
        (json!({}), "new_owner_id is required"),
        (json!({"new_owner_id": "2"}), "new_owner_id must be an integer"),
        (json!({"new_owner_id": 0}), "new_owner_id must be at least 1"),
    ] {
        let r = t.post(&path).cookie(&boss).json(body).send().await;
        r.assert_error(400, "ERR_VALIDATION");
        assert_eq!(r.body["error"], message);
    }
    t.post(&path)
        .cookie(&boss)
        .json(json!({"new_owner_id": 9999}))
        .send()
        .await
        .assert_error(404, "ERR_USER_NOT_FOUND");
    t.post(&path)
        .cookie(&boss)
        .json(json!({"new_owner_id": admin_id}))
        .send()
        .await
        .assert_error(400, "ERR_CHAT_OWNER_TARGET");
    t.post("/v1/admin/chats/999/transfer")
        .cookie(&boss)
        .json(json!({"new_owner_id": heir_id}))
        .send()
        .await
        .assert_error(404, "ERR_CHAT_NOT_FOUND");
    assert!(audits(&t, "CHAT_TRANSFER").await.is_empty());

    let r = t
        .post(&path)
        .cookie(&boss)
        .json(json!({"new_owner_id": heir_id}))
        .send()
        .await;
    assert_eq!(
        r.assert_ok()["message"],
        format!("Chat 'hand-over' transferred to user {heir_id}")
    );
    // The heir's member row is gone; the previous owner is a member now.
    let detail = t.get(&format!("/v1/admin/chats/{chat_id}")).cookie(&boss).send().await;
    assert_eq!(detail.body["owner_id"], heir_id);
    assert_eq!(member_ids(&t, &boss, chat_id).await, [admin_id]);
    assert_eq!(my_chat_names(&t, &heir).await, ["hand-over"]);
    assert!(my_chat_names(&t, &admin).await.is_empty());
    assert!(visible_ids(&t, &admin).await.contains(&chat_id));
    let rows = audits(&t, "CHAT_TRANSFER").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, Some(boss_id));
    assert_eq!(
        rows[0].2,
        json!({"name": "hand-over", "old_owner_id": admin_id, "new_owner_id": heir_id})
    );
});

both_backends!(kick_checks_chat_owner_and_target, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (admin_id, admin) = p.at("admin", 2).await;
    let (other_admin_id, other_admin) = p.at("other-admin", 2).await;
    let (_, boss) = p.at("boss", 3).await;
    let (alice_id, alice) = p.at("alice", 0).await;
    let (bob_id, _) = p.at("bob", 0).await;
    let lobby = create_official(&t, &admin, "General", "general").await;
    let code = new_invite(&t, &admin, lobby, json!({})).await;
    for token in [&alice, &other_admin] {
        t.post(&format!("/v1/portal/resolve/{code}"))
            .cookie(token)
            .send()
            .await
            .assert_ok();
    }
    let kick = format!("/v1/admin/chats/{lobby}/kick");

    // Another Admin is out of reach; so is the owner, and the actor.
    t.post(&kick)
        .cookie(&admin)
        .json(json!({"user_id": other_admin_id}))
        .send()
        .await
        .assert_error(403, "ERR_HIERARCHY");
    t.post(&kick)
        .cookie(&other_admin)
        .json(json!({"user_id": admin_id}))
        .send()
        .await
        .assert_error(400, "ERR_CHAT_OWNER_TARGET");
    t.post(&kick)
        .cookie(&admin)
        .json(json!({"user_id": admin_id}))
        .send()
        .await
        .assert_error(400, "ERR_SELF_TARGET");
    // Another Admin does not outrank this chat's owner (an Admin).
    t.post(&kick)
        .cookie(&other_admin)
        .json(json!({"user_id": alice_id}))
        .send()
        .await
        .assert_error(403, "ERR_HIERARCHY");
    t.post(&kick)
        .cookie(&admin)
        .json(json!({"user_id": bob_id}))
        .send()
        .await
        .assert_error(404, "ERR_NOT_CHAT_MEMBER");
    t.post(&kick)
        .cookie(&admin)
        .json(json!({"user_id": 9999}))
        .send()
        .await
        .assert_error(404, "ERR_USER_NOT_FOUND");
    let r = t
        .post(&kick)
        .cookie(&admin)
        .json(json!({"user_id": alice_id, "reason": "r".repeat(501)}))
        .send()
        .await;
    r.assert_error(400, "ERR_VALIDATION");
    assert_eq!(r.body["field"], "reason");
    assert_eq!(member_ids(&t, &admin, lobby).await, [alice_id, other_admin_id]);
    assert!(audits(&t, "CHAT_KICK").await.is_empty());
    assert_eq!(t.count("SELECT COUNT(*) FROM moderation_actions").await, 0);

    let r = t
        .post(&kick)
        .cookie(&admin)
        .json(json!({"user_id": alice_id, "reason": "  spam  "}))
        .send()
        .await;
    assert_eq!(r.assert_ok()["message"], "Kicked ualice from chat 'General'");
    assert_eq!(member_ids(&t, &admin, lobby).await, [other_admin_id]);
    let rows = audits(&t, "CHAT_KICK").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, Some(admin_id));
    assert_eq!(rows[0].1, Some(lobby));
    let action_id = rows[0].2["action_id"].as_i64().unwrap();
    assert_eq!(
        rows[0].2,
        json!({"user_id": alice_id, "action_id": action_id, "reason": "spam", "route": "admin"})
    );
    let mut conn = t.conn().await;
    let (kind, chat, reason, issued_by, expires): (String, Option<i64>, Option<String>, Option<i64>, Option<i64>) =
        sqlx::query_as(
            "SELECT action_type, chat_id, reason, issued_by_id, expires_at FROM moderation_actions WHERE id = $1",
        )
        .bind(action_id)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    assert_eq!(
        (kind.as_str(), chat, reason.as_deref(), issued_by, expires),
        ("CHAT_KICK", Some(lobby), Some("spam"), Some(admin_id), None)
    );
    // A kick is not a ban: the invite lets her straight back in.
    assert_eq!(
        t.post(&format!("/v1/portal/resolve/{code}"))
            .cookie(&alice)
            .send()
            .await
            .assert_ok()["joined"],
        true
    );

    // An Owner outranks everyone, so may kick an Admin from an Admin's chat.
    t.post(&kick)
        .cookie(&boss)
        .json(json!({"user_id": other_admin_id}))
        .send()
        .await
        .assert_ok();
    // And an Admin cannot kick from a chat owned by an Owner.
    let owners_chat = create_official(&t, &boss, "Owners", "owners").await;
    let code = new_invite(&t, &boss, owners_chat, json!({})).await;
    t.post(&format!("/v1/portal/resolve/{code}"))
        .cookie(&alice)
        .send()
        .await
        .assert_ok();
    t.post(&format!("/v1/admin/chats/{owners_chat}/kick"))
        .cookie(&admin)
        .json(json!({"user_id": alice_id}))
        .send()
        .await
        .assert_error(403, "ERR_HIERARCHY");
    assert_eq!(member_ids(&t, &admin, owners_chat).await, [alice_id]);
});

both_backends!(chat_bans_block_invites, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (_, owner) = p.premium("owner", HOUR).await;
    let (alice_id, alice) = p.at("alice", 0).await;
    let chat_id = create_private(&t, &owner, "club").await["id"].as_i64().unwrap();
    let code = new_invite(&t, &owner, chat_id, json!({})).await;
    let mut conn = t.conn().await;
    sqlx::query(
        "INSERT INTO moderation_actions (user_id, action_type, reason, chat_id, expires_at, created_at) \
         VALUES ($1, 'CHAT_BAN', 'no', $2, $3, $4)",
    )
    .bind(alice_id)
    .bind(chat_id)
    .bind(t.app.now() + 60 * SECOND)
    .bind(t.app.now())
    .execute(&mut *conn)
    .await
    .unwrap();
    drop(conn);
    let resolve = format!("/v1/portal/resolve/{code}");
    t.post(&resolve)
        .cookie(&alice)
        .send()
        .await
        .assert_error(403, "ERR_CHAT_BANNED");
    assert_eq!(t.count("SELECT COUNT(*) FROM chat_members").await, 0);
    assert_eq!(t.count("SELECT uses FROM chat_invites").await, 0);
    t.clock.advance_secs(61);
    assert_eq!(t.post(&resolve).cookie(&alice).send().await.assert_ok()["joined"], true);
});

both_backends!(owned_chats_show_in_the_staff_view_of_a_user, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (owner_id, owner) = p.premium("owner", HOUR).await;
    let (_, admin) = p.at("admin", 2).await;
    let chat_id = create_private(&t, &owner, "movie-night").await["id"].as_i64().unwrap();
    let r = t.get(&format!("/v1/users/{owner_id}")).cookie(&admin).send().await;
    let chats = r.assert_ok()["chats"].as_array().unwrap().clone();
    assert_eq!(chats.len(), 1);
    assert_eq!(chats[0]["id"], chat_id);
    assert_eq!(chats[0]["name"], "movie-night");
    assert_eq!(chats[0]["is_public"], false);
    assert_eq!(chats[0]["visibility"], "private");
    // The public view has no chat list.
    let r = t.get(&format!("/v1/users/{owner_id}")).cookie(&owner).send().await;
    assert!(r.assert_ok().get("chats").is_none());
});

both_backends!(parallel_creations_cannot_overshoot_the_slots, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (_, premium) = p.premium("premium", HOUR).await;
    let create = |name: &'static str| {
        t.post("/v1/portal/chats")
            .cookie(&premium)
            .json(json!({"name": name}))
            .send()
    };
    let answers = tokio::join!(
        create("c1"),
        create("c2"),
        create("c3"),
        create("c4"),
        create("c5"),
        create("c6")
    );
    let answers = [answers.0, answers.1, answers.2, answers.3, answers.4, answers.5];
    let created = answers.iter().filter(|r| r.status == 200).count();
    assert_eq!(created, 3);
    for refused in answers.iter().filter(|r| r.status != 200) {
        refused.assert_error(403, "ERR_CHAT_SLOT_LIMIT");
    }
    assert_eq!(my_chat_names(&t, &premium).await.len(), 3);
});
