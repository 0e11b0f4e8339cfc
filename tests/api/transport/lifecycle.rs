//! Deleting messages and clearing (§6), chat settings and the auto-wipe timer (§7), and what
//! moderation and the chat's lifecycle do to its room (§8), with their audit rows (§12).

use super::*;
use crate::common::{audits, rfc3339, SECOND};
use portal::domain::transport::deletion::wipe_due;

/// The fields of a `ChatSummary` with the settings of §7.1 (60-chats §5.1), sorted.
const CHAT_SUMMARY_FIELDS: [&str; 22] = [
    "allow_control_requests",
    "archived",
    "avatar_url",
    "chat_type",
    "description",
    "expires_at",
    "history_visible",
    "id",
    "implicit_hosting",
    "inactive_cursors",
    "label",
    "locked_controls",
    "name",
    "next_wipe_at",
    "owner",
    "peer",
    "running",
    "secrets",
    "slug",
    "viewer_count",
    "visibility",
    "wipe_preset",
];

/// The holder of `token` joins the chat through a fresh invite of its owner's.
async fn join_by_invite(t: &TestApp, owner_token: &str, chat_id: i64, token: &str) {
    let code = new_invite(t, owner_token, chat_id, json!({})).await;
    let r = t.post(&format!("/v1/portal/resolve/{code}")).cookie(token).send().await;
    assert_eq!(r.assert_ok()["joined"], true);
}

/// The first device of a new chat joins and makes the key of epoch 1.
async fn open(chat_id: i64, first: &mut Device<'_>) {
    first.join(chat_id).await;
    let request = first.serve_key_request().await;
    assert_eq!(request["generate"], true);
    first.next("room:key").await;
}

/// `joiner` joins the room and is handed the current key by `holder`, the earliest-joined holder.
async fn enter(chat_id: i64, holder: &mut Device<'_>, joiner: &mut Device<'_>) {
    joiner.join(chat_id).await;
    let request = holder.serve_key_request().await;
    assert_eq!(request["devices"], json!([joiner.named()]));
    joiner.next("room:key").await;
}

/// The devices join a new chat's room in order, all end up holding the key of epoch 1, and what
/// the set-up sent is read and forgotten.
async fn seat(chat_id: i64, devices: &mut [&mut Device<'_>]) {
    let (first, rest) = devices.split_first_mut().expect("a device");
    open(chat_id, first).await;
    for joiner in rest.iter_mut() {
        enter(chat_id, first, joiner).await;
    }
    first.drain().await;
    for device in rest {
        device.drain().await;
    }
}

/// The chat as the caller's chat list shows it.
async fn chat_of(t: &TestApp, token: &str, chat_id: i64) -> Value {
    let r = t.get("/v1/portal/chats").cookie(token).send().await;
    r.assert_ok()
        .as_array()
        .expect("a list")
        .iter()
        .find(|c| c["id"] == chat_id)
        .cloned()
        .unwrap_or_else(|| panic!("chat {chat_id} not listed: {}", r.body))
}

/// `POST /v1/admin/chats/{chat_id}/update` with `body`; returns the ChatAdmin.
async fn admin_update(t: &TestApp, token: &str, chat_id: i64, body: Value) -> Value {
    let r = t
        .post_as(token, &format!("/v1/admin/chats/{chat_id}/update"), body)
        .await;
    r.assert_ok().clone()
}

/// The stored messages of the chat the device may see, oldest first.
async fn stored(device: &Device<'_>, chat_id: i64) -> Vec<Value> {
    let r = device.history(chat_id, "limit=100").await;
    r.assert_ok()["messages"].as_array().unwrap().clone()
}

/// The id of a message.
fn id_of(message: &Value) -> String {
    message["id"].as_str().expect("an id").to_owned()
}

/// Values sorted by their JSON text, for lists whose order is not specified.
fn unordered(values: &[Value]) -> Vec<Value> {
    let mut values = values.to_vec();
    values.sort_by_key(|v| v.to_string());
    values
}

/// A `portal:key_removed` of `device` in `chat_id`.
fn key_removed(chat_id: i64, device: &Device<'_>) -> Value {
    json!({"chat_id": chat_id, "user_id": device.user_id, "device_id": device.device_id})
}

/// Events of the room that a removed connection must no longer get.
const ROOM_EVENTS: [&str; 7] = [
    "portal:key_removed",
    "room:members",
    "room:epoch_changed",
    "room:config",
    "message:new",
    "message:bulk_deleted",
    "room:key_request",
];

// ---- §6.2 messages/delete ----

both_backends!(delete_by_id_checks_and_effects, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (chat_id, (alice_id, alice_token), (bob_id, bob_token)) = alice_and_bob(&p).await;
    let (_, carol_token) = p.at("carol", 0).await;
    let (_, mod_token) = p.at("moderator", 1).await;
    let (admin_id, admin_token) = p.at("admin", 2).await;
    let (late_id, late_token) = p.at("late", 2).await;
    let (_, owner_token) = p.at("owner", 3).await;
    join_by_invite(&t, &alice_token, chat_id, &mod_token).await;
    let addr = t.listen().await;
    let mut alice = Device::ready(&t, addr, alice_id, &alice_token).await;
    let mut bob = Device::ready(&t, addr, bob_id, &bob_token).await;
    seat(chat_id, &mut [&mut alice, &mut bob]).await;
    let path = chat_path(chat_id, "messages/delete");

    // A timed-out caller is refused before the request is read.
    let until = t.time_out(late_id, 600).await;
    let r = t.post_as(&late_token, &path, json!({"ids": 5})).await;
    assert_error_fields(&r, 403, "ERR_ACCOUNT_TIMED_OUT", &["expires_at"]);
    assert_eq!(r.body["expires_at"], rfc3339(until));

    // Validation, path first, then the body: even an outsider learns only that it is malformed.
    let r = t
        .post_as(&carol_token, "/v1/portal/chats/abc/messages/delete", json!({"ids": 5}))
        .await;
    assert_validation(&r, "chat_id", "chat_id must be a positive integer");
    let many: Vec<String> = (0..101).map(|i| format!("1-{i}")).collect();
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({}), "ids", "ids is required"),
        (json!({"ids": null}), "ids", "ids is required"),
        (json!({"ids": "1-0"}), "ids", "ids must be an array"),
        (json!({"ids": {"0": "1-0"}}), "ids", "ids must be an array"),
        (json!({"ids": []}), "ids", "ids must have at least 1 items"),
        (json!({ "ids": many }), "ids", "ids must have at most 100 items"),
        (
            json!({"ids": ["1-0", "2-0", "x"]}),
            "ids[2]",
            "ids[2] must be a message id",
        ),
        (
            json!({"ids": ["1-0", "2-0", 3]}),
            "ids[2]",
            "ids[2] must be a message id",
        ),
        (
            json!({"ids": ["1-0", "2-0", null]}),
            "ids[2]",
            "ids[2] must be a message id",
        ),
        (json!({"ids": ["01-0"]}), "ids[0]", "ids[0] must be a message id"),
        (json!({"ids": ["1-00"]}), "ids[0]", "ids[0] must be a message id"),
        (json!({"ids": ["-1-0"]}), "ids[0]", "ids[0] must be a message id"),
        (json!({"ids": ["1-0-0"]}), "ids[0]", "ids[0] must be a message id"),
        (json!({"ids": ["1"]}), "ids[0]", "ids[0] must be a message id"),
        (json!({"ids": ["+1-0"]}), "ids[0]", "ids[0] must be a message id"),
        (
            json!({"ids": ["9223372036854775808-0"]}),
            "ids[0]",
            "ids[0] must be a message id",
        ),
    ];
    for (body, field, message) in cases {
        let r = t.post_as(&carol_token, &path, body.clone()).await;
        assert_validation(&r, field, message);
    }

    // Existence and visibility, then authority.
    let r = t.post_as(&carol_token, &path, json!({"ids": ["1-0"]})).await;
    assert_error_fields(&r, 404, "ERR_CHAT_NOT_FOUND", &[]);
    let r = bob
        .post(&chat_path(999_999, "messages/delete"), json!({"ids": ["1-0"]}))
        .await;
    assert_error_fields(&r, 404, "ERR_CHAT_NOT_FOUND", &[]);
    // A member has no authority; nor has a Moderator who outranks the owner, in a private chat.
    for token in [&bob_token, &mod_token] {
        let r = t.post_as(token, &path, json!({"ids": ["1-0"]})).await;
        assert_error_fields(&r, 403, "ERR_NOT_CHAT_MODERATOR", &[]);
        assert_eq!(r.body["error"], "You cannot delete messages in this chat");
    }
    // An Admin who does not outrank the owner has none either.
    let owners = create_private(&t, &owner_token, "owners").await["id"].as_i64().unwrap();
    let r = t
        .post_as(
            &admin_token,
            &chat_path(owners, "messages/delete"),
            json!({"ids": ["1-0"]}),
        )
        .await;
    assert_error_fields(&r, 403, "ERR_NOT_CHAT_MODERATOR", &[]);

    let b1 = bob.send(chat_id, "one").await;
    let a1 = alice.send(chat_id, "two").await;
    let b2 = bob.send(chat_id, "three").await;
    for device in [&mut alice, &mut bob] {
        device.reads(chat_id, &["one", "two", "three"]).await;
    }
    let before = stored(&alice, chat_id).await;
    assert_eq!(before.len(), 5);
    assert_system(&before[1], chat_id, "ubob joined the chat");
    let (join_alice, join_bob) = (id_of(&before[0]), id_of(&before[1]));

    // The owner deletes, system messages included; an unknown id is skipped and a repeated id
    // counts once; the room hears the ids deleted, ascending. Not audited.
    let r = alice.post(&path, json!({"ids": [b2, "1-0", b1, b2, join_bob]})).await;
    assert_eq!(r.assert_ok(), &json!({"deleted": 3}));
    for device in [&mut alice, &mut bob] {
        let events = device.expect_sequence(&["message:bulk_deleted"]).await;
        assert_eq!(events[0], json!({"chat_id": chat_id, "ids": [join_bob, b1, b2]}));
    }
    let left = stored(&bob, chat_id).await;
    assert_eq!(ids(&json!(left)), [join_alice.clone(), a1.clone()]);
    assert!(audits(&t, "CHAT_MESSAGES_DELETE").await.is_empty());

    // Nothing matches: 0, nothing sent. A hundred ids are allowed.
    let hundred: Vec<String> = (0..100).map(|i| format!("1-{i}")).collect();
    let r = alice.post(&path, json!({ "ids": hundred })).await;
    assert_eq!(r.assert_ok(), &json!({"deleted": 0}));
    alice.no_pending(&["message:bulk_deleted"]).await;
    bob.no_pending(&["message:bulk_deleted"]).await;

    // An Admin who outranks the owner may delete in a private chat, and is audited.
    let mut admin = Device::ready(&t, addr, admin_id, &admin_token).await;
    enter(chat_id, &mut alice, &mut admin).await;
    let b3 = bob.send(chat_id, "four").await;
    let a2 = alice.send(chat_id, "five").await;
    for device in [&mut alice, &mut bob, &mut admin] {
        device.reads(chat_id, &["four", "five"]).await;
        device.drain().await;
    }
    let r = admin.post(&path, json!({"ids": [a2, b3, "1-0", a1, join_alice]})).await;
    assert_eq!(r.assert_ok(), &json!({"deleted": 4}));
    let deleted = json!([join_alice, a1, b3, a2]);
    for device in [&mut alice, &mut bob, &mut admin] {
        let events = device.expect_sequence(&["message:bulk_deleted"]).await;
        assert_eq!(events[0], json!({"chat_id": chat_id, "ids": deleted}));
    }
    let rows = audits(&t, "CHAT_MESSAGES_DELETE").await;
    assert_eq!(rows.len(), 1);
    let (actor, target_type, target_id, metadata) = &rows[0];
    assert_eq!(*actor, Some(admin_id));
    assert_eq!(target_type, "chat");
    assert_eq!(*target_id, Some(chat_id));
    assert_eq!(
        metadata,
        &json!({"mode": "ids", "requested": 5, "deleted": 4, "ids": deleted,
                "sender_ids": [alice_id.min(bob_id), alice_id.max(bob_id)]})
    );
    let left = stored(&alice, chat_id).await;
    assert_eq!(left.len(), 1);
    assert_system(&left[0], chat_id, "uadmin joined the chat");
    let join_admin = id_of(&left[0]);

    // Published, the chat is open to everyone who outranks its owner: the Moderator now may.
    admin_update(&t, &admin_token, chat_id, json!({"slug": "open-room"})).await;
    let r = t.post_as(&mod_token, &path, json!({"ids": [join_admin]})).await;
    assert_eq!(r.assert_ok(), &json!({"deleted": 1}));
    let events = bob.next("message:bulk_deleted").await;
    assert_eq!(events, json!({"chat_id": chat_id, "ids": [join_admin]}));
    let rows = audits(&t, "CHAT_MESSAGES_DELETE").await;
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[1].3,
        json!({"mode": "ids", "requested": 1, "deleted": 1, "ids": [join_admin], "sender_ids": []})
    );
    // Bob does not outrank the owner: still no authority.
    let r = bob.post(&path, json!({"ids": ["1-0"]})).await;
    assert_error_fields(&r, 403, "ERR_NOT_CHAT_MODERATOR", &[]);
});

// ---- §6.3 messages/delete-last ----

both_backends!(delete_last_takes_the_newest, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (chat_id, (alice_id, alice_token), (bob_id, bob_token)) = alice_and_bob(&p).await;
    let (_, carol_token) = p.at("carol", 0).await;
    let (admin_id, admin_token) = p.at("admin", 2).await;
    let addr = t.listen().await;
    let mut alice = Device::ready(&t, addr, alice_id, &alice_token).await;
    let mut bob = Device::ready(&t, addr, bob_id, &bob_token).await;
    seat(chat_id, &mut [&mut alice, &mut bob]).await;
    let path = chat_path(chat_id, "messages/delete-last");

    let cases: Vec<(Value, &str)> = vec![
        (json!({}), "count is required"),
        (json!({"count": null}), "count is required"),
        (json!({"count": "3"}), "count must be an integer"),
        (json!({"count": 1.5}), "count must be an integer"),
        (json!({"count": 0}), "count must be between 1 and 100"),
        (json!({"count": -1}), "count must be between 1 and 100"),
        (json!({"count": 101}), "count must be between 1 and 100"),
    ];
    for (body, message) in cases {
        let r = t.post_as(&carol_token, &path, body.clone()).await;
        assert_validation(&r, "count", message);
    }
    let r = t.post_as(&carol_token, &path, json!({"count": 1})).await;
    assert_error_fields(&r, 404, "ERR_CHAT_NOT_FOUND", &[]);
    let r = bob.post(&path, json!({"count": 1})).await;
    assert_error_fields(&r, 403, "ERR_NOT_CHAT_MODERATOR", &[]);
    assert_eq!(r.body["error"], "You cannot delete messages in this chat");

    let b1 = bob.send(chat_id, "one").await;
    let b2 = bob.send(chat_id, "two").await;
    let a1 = alice.send(chat_id, "three").await;
    let r = alice
        .post(&chat_path(chat_id, "config/update"), json!({"wipe_preset": "1h"}))
        .await;
    r.assert_ok();
    for device in [&mut alice, &mut bob] {
        device.reads(chat_id, &["one", "two", "three"]).await;
        device.drain().await;
    }
    let before = stored(&alice, chat_id).await;
    assert_eq!(before.len(), 6);
    assert_system(&before[5], chat_id, "ualice set auto-wipe to every 1h");
    let (join_alice, join_bob, preset) = (id_of(&before[0]), id_of(&before[1]), id_of(&before[5]));

    // The newest, whoever sent them, system messages included; the owner is not audited.
    let r = alice.post(&path, json!({"count": 2})).await;
    assert_eq!(r.assert_ok(), &json!({"deleted": 2}));
    for device in [&mut alice, &mut bob] {
        let events = device.expect_sequence(&["message:bulk_deleted"]).await;
        assert_eq!(events[0], json!({"chat_id": chat_id, "ids": [a1, preset]}));
    }
    assert!(audits(&t, "CHAT_MESSAGES_DELETE").await.is_empty());

    // An Admin outranking the owner: audited with mode `last` and the senders of user messages.
    let mut admin = Device::ready(&t, addr, admin_id, &admin_token).await;
    enter(chat_id, &mut alice, &mut admin).await;
    for device in [&mut alice, &mut bob, &mut admin] {
        device.drain().await;
    }
    let join_admin = id_of(stored(&alice, chat_id).await.last().unwrap());
    let r = admin.post(&path, json!({"count": 3})).await;
    assert_eq!(r.assert_ok(), &json!({"deleted": 3}));
    let deleted = json!([b1, b2, join_admin]);
    for device in [&mut alice, &mut bob, &mut admin] {
        let events = device.expect_sequence(&["message:bulk_deleted"]).await;
        assert_eq!(events[0], json!({"chat_id": chat_id, "ids": deleted}));
    }
    let rows = audits(&t, "CHAT_MESSAGES_DELETE").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, Some(admin_id));
    assert_eq!(rows[0].1, "chat");
    assert_eq!(rows[0].2, Some(chat_id));
    assert_eq!(
        rows[0].3,
        json!({"mode": "last", "requested": 3, "deleted": 3, "ids": deleted, "sender_ids": [bob_id]})
    );

    // Fewer than asked for when the chat holds fewer; then nothing at all.
    let r = alice.post(&path, json!({"count": 100})).await;
    assert_eq!(r.assert_ok(), &json!({"deleted": 2}));
    let events = bob.expect_sequence(&["message:bulk_deleted"]).await;
    assert_eq!(events[0], json!({"chat_id": chat_id, "ids": [join_alice, join_bob]}));
    assert!(stored(&alice, chat_id).await.is_empty());
    let r = admin.post(&path, json!({"count": 1})).await;
    assert_eq!(r.assert_ok(), &json!({"deleted": 0}));
    bob.no_pending(&["message:bulk_deleted"]).await;
    assert_eq!(audits(&t, "CHAT_MESSAGES_DELETE").await.len(), 1);
});

// ---- §6.4 messages/delete-mine ----

both_backends!(
    delete_mine_is_open_to_the_timed_out_and_the_banned,
    |t: TestApp| async move {
        let p = People::new(&t).await;
        let (admin_id, admin_token) = p.at("admin", 2).await;
        let (bob_id, bob_token) = p.at("bob", 0).await;
        let (carol_id, carol_token) = p.at("carol", 0).await;
        let (_, dave_token) = p.at("dave", 0).await;
        let (_, erin_token) = p.premium("erin", 24 * HOUR).await;
        let chat_id = create_official(&t, &admin_token, "Lobby", "lobby").await;
        let elsewhere = create_private(&t, &erin_token, "elsewhere").await["id"]
            .as_i64()
            .unwrap();
        let addr = t.listen().await;
        let mut admin = Device::ready(&t, addr, admin_id, &admin_token).await;
        let mut bob = Device::ready(&t, addr, bob_id, &bob_token).await;
        let mut carol = Device::ready(&t, addr, carol_id, &carol_token).await;
        seat(chat_id, &mut [&mut admin, &mut bob, &mut carol]).await;
        let path = chat_path(chat_id, "messages/delete-mine");

        let r = bob.post("/v1/portal/chats/abc/messages/delete-mine", json!({})).await;
        assert_validation(&r, "chat_id", "chat_id must be a positive integer");
        let r = bob.post(&chat_path(999_999, "messages/delete-mine"), json!({})).await;
        assert_error_fields(&r, 404, "ERR_CHAT_NOT_FOUND", &[]);
        let r = bob.post(&chat_path(elsewhere, "messages/delete-mine"), json!({})).await;
        assert_error_fields(&r, 404, "ERR_CHAT_NOT_FOUND", &[]);
        // Nothing of Dave's: 0 and nothing sent.
        let r = t.post_as(&dave_token, &path, json!({})).await;
        assert_eq!(r.assert_ok(), &json!({"deleted": 0}));
        admin.no_pending(&["message:bulk_deleted"]).await;

        let b1 = bob.send(chat_id, "one").await;
        let c1 = carol.send(chat_id, "two").await;
        let a1 = admin.send(chat_id, "three").await;
        let b2 = bob.send(chat_id, "four").await;
        for device in [&mut admin, &mut bob, &mut carol] {
            device.reads(chat_id, &["one", "two", "three", "four"]).await;
            device.drain().await;
        }

        // Timed out, Bob may no longer delete by id, yet still removes what he sent (and only that);
        // the body is ignored.
        t.time_out(bob_id, 600).await;
        let r = bob
            .post(&chat_path(chat_id, "messages/delete"), json!({"ids": [b1]}))
            .await;
        assert_error_fields(&r, 403, "ERR_ACCOUNT_TIMED_OUT", &["expires_at"]);
        let r = bob.post(&path, json!({"ids": "ignored"})).await;
        assert_eq!(r.assert_ok(), &json!({"deleted": 2}));
        for device in [&mut admin, &mut carol] {
            let events = device.expect_sequence(&["message:bulk_deleted"]).await;
            assert_eq!(events[0], json!({"chat_id": chat_id, "ids": [b1, b2]}));
        }
        let left = stored(&admin, chat_id).await;
        assert_eq!(left.len(), 5);
        assert_system(&left[1], chat_id, "ubob joined the chat");
        assert_eq!(ids(&json!(left[3..].to_vec())), [c1.clone(), a1.clone()]);
        // Again: nothing left of his, nothing sent.
        let r = bob.post(&path, json!({})).await;
        assert_eq!(r.assert_ok(), &json!({"deleted": 0}));
        admin.no_pending(&["message:bulk_deleted"]).await;

        // Banned from the chat, Carol still removes her own messages.
        let r = admin
            .post(&chat_path(chat_id, "ban"), json!({"user_id": carol_id}))
            .await;
        r.assert_ok();
        assert_eq!(
            carol.next("room:kicked").await,
            json!({"chat_id": chat_id, "reason": "ban"})
        );
        let r = carol.post(&path, json!({})).await;
        assert_eq!(r.assert_ok(), &json!({"deleted": 1}));
        assert_eq!(
            admin.next("message:bulk_deleted").await,
            json!({"chat_id": chat_id, "ids": [c1]})
        );
        assert!(audits(&t, "CHAT_MESSAGES_DELETE").await.is_empty());
    }
);

// ---- §6.5 clear ----

both_backends!(clear_authority_events_and_audit, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (chat_id, (alice_id, alice_token), (bob_id, bob_token)) = alice_and_bob(&p).await;
    let (_, carol_token) = p.at("carol", 0).await;
    let (_, mod_token) = p.at("moderator", 1).await;
    let (admin_id, admin_token) = p.at("admin", 2).await;
    let (late_id, late_token) = p.at("late", 2).await;
    let (_, owner_token) = p.at("owner", 3).await;
    join_by_invite(&t, &alice_token, chat_id, &mod_token).await;
    let hall = create_official(&t, &owner_token, "Hall", "hall").await;
    let addr = t.listen().await;
    let mut alice = Device::ready(&t, addr, alice_id, &alice_token).await;
    let mut bob = Device::ready(&t, addr, bob_id, &bob_token).await;
    seat(chat_id, &mut [&mut alice, &mut bob]).await;
    let path = chat_path(chat_id, "clear");

    let until = t.time_out(late_id, 600).await;
    let r = t.post_as(&late_token, &path, json!({})).await;
    assert_error_fields(&r, 403, "ERR_ACCOUNT_TIMED_OUT", &["expires_at"]);
    assert_eq!(r.body["expires_at"], rfc3339(until));
    let r = bob.post("/v1/portal/chats/abc/clear", json!({})).await;
    assert_validation(&r, "chat_id", "chat_id must be a positive integer");
    let r = t.post_as(&carol_token, &path, json!({})).await;
    assert_error_fields(&r, 404, "ERR_CHAT_NOT_FOUND", &[]);
    // A member, a Moderator who outranks the owner, an Admin who does not: no authority.
    for (token, chat) in [(&bob_token, chat_id), (&mod_token, chat_id), (&admin_token, hall)] {
        let r = t.post_as(token, &chat_path(chat, "clear"), json!({})).await;
        assert_error_fields(&r, 403, "ERR_NOT_CHAT_MODERATOR", &[]);
        assert_eq!(r.body["error"], "You cannot clear this chat");
    }
    alice.no_pending(&["portal:cleared"]).await;

    // The owner clears: the wipe timer restarts from now.
    let r = alice
        .post(&chat_path(chat_id, "config/update"), json!({"wipe_preset": "15m"}))
        .await;
    r.assert_ok();
    bob.send(chat_id, "hi").await;
    for device in [&mut alice, &mut bob] {
        device.reads(chat_id, &["hi"]).await;
        device.drain().await;
    }
    t.clock.advance_secs(100);
    let cleared_at = t.app.now();
    let r = alice.post(&path, json!({})).await;
    assert_eq!(r.assert_ok(), &json!({"ok": true, "cleared": 4}));
    let next_wipe_at = rfc3339(cleared_at + 900 * SECOND);
    for device in [&mut alice, &mut bob] {
        let events = device
            .expect_sequence(&["portal:cleared", "room:epoch_changed", "message:new"])
            .await;
        assert_eq!(
            events[0],
            json!({"chat_id": chat_id, "cleared": 4, "reason": "clear", "next_wipe_at": next_wipe_at})
        );
        assert_eq!(events[1], json!({"chat_id": chat_id, "epoch": 2, "reason": "clear"}));
        assert_system(&events[2], chat_id, "The chat was cleared by ualice");
    }
    // Then the new epoch's key is asked for, of the earliest-joined device.
    let request = alice.expect_sequence(&["room:key_request"]).await.remove(0);
    assert_eq!(request["epoch"], 2);
    assert_eq!(request["generate"], true);
    assert_eq!(
        sorted_devices(&request["devices"]),
        sorted_devices(&json!([alice.named(), bob.named()]))
    );
    alice.answer(&request).await.assert_ok();
    assert_eq!(bob.next("room:key").await["epoch"], 2);
    assert_eq!(chat_of(&t, &alice_token, chat_id).await["next_wipe_at"], next_wipe_at);
    assert!(audits(&t, "CHAT_CLEAR").await.is_empty());

    // An Admin who outranks the owner clears too, and is audited.
    let mut admin = Device::ready(&t, addr, admin_id, &admin_token).await;
    enter(chat_id, &mut alice, &mut admin).await;
    for device in [&mut alice, &mut bob, &mut admin] {
        device.drain().await;
    }
    t.clock.advance_secs(10);
    let cleared_at = t.app.now();
    let r = admin.post(&path, json!({})).await;
    assert_eq!(r.assert_ok(), &json!({"ok": true, "cleared": 2}));
    for device in [&mut alice, &mut bob, &mut admin] {
        let events = device
            .expect_sequence(&["portal:cleared", "room:epoch_changed", "message:new"])
            .await;
        assert_eq!(
            events[0],
            json!({"chat_id": chat_id, "cleared": 2, "reason": "clear",
                   "next_wipe_at": rfc3339(cleared_at + 900 * SECOND)})
        );
        assert_eq!(events[1], json!({"chat_id": chat_id, "epoch": 3, "reason": "clear"}));
        assert_system(&events[2], chat_id, "The chat was cleared by uadmin");
    }
    let request = alice.expect_sequence(&["room:key_request"]).await.remove(0);
    assert_eq!(request["epoch"], 3);
    assert_eq!(request["generate"], true);
    assert_eq!(request["devices"].as_array().unwrap().len(), 3);
    let rows = audits(&t, "CHAT_CLEAR").await;
    assert_eq!(rows.len(), 1);
    let (actor, target_type, target_id, metadata) = &rows[0];
    assert_eq!(*actor, Some(admin_id));
    assert_eq!(target_type, "chat");
    assert_eq!(*target_id, Some(chat_id));
    assert_eq!(metadata, &json!({"cleared": 2, "epoch": 3}));
    let left = stored(&alice, chat_id).await;
    assert_eq!(left.len(), 1);
    assert_system(&left[0], chat_id, "The chat was cleared by uadmin");
});

// ---- §7.2 config/update ----

both_backends!(config_update_validation_and_authority, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (chat_id, (_, alice_token), (_, bob_token)) = alice_and_bob(&p).await;
    let (_, carol_token) = p.at("carol", 0).await;
    let (mod_id, mod_token) = p.at("moderator", 1).await;
    let (admin_id, admin_token) = p.at("admin", 2).await;
    let (late_id, late_token) = p.at("late", 2).await;
    let (_, owner_token) = p.at("owner", 3).await;
    join_by_invite(&t, &alice_token, chat_id, &mod_token).await;
    let hall = create_official(&t, &owner_token, "Hall", "hall").await;
    let path = chat_path(chat_id, "config/update");

    let until = t.time_out(late_id, 600).await;
    let r = t.post_as(&late_token, &path, json!({"wipe_preset": 5})).await;
    assert_error_fields(&r, 403, "ERR_ACCOUNT_TIMED_OUT", &["expires_at"]);
    assert_eq!(r.body["expires_at"], rfc3339(until));

    let r = t
        .post_as(
            &carol_token,
            "/v1/portal/chats/abc/config/update",
            json!({"wipe_preset": 5}),
        )
        .await;
    assert_validation(&r, "chat_id", "chat_id must be a positive integer");
    let presets = "wipe_preset must be one of: off, 1m, 15m, 1h, 4h, 24h";
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({"wipe_preset": "2h"}), "wipe_preset", presets),
        (json!({"wipe_preset": "OFF"}), "wipe_preset", presets),
        (json!({"wipe_preset": ""}), "wipe_preset", presets),
        (
            json!({"wipe_preset": 15}),
            "wipe_preset",
            "wipe_preset must be a string",
        ),
        (
            json!({"history_visible": "false"}),
            "history_visible",
            "history_visible must be a boolean",
        ),
        (
            json!({"allow_control_requests": 1}),
            "allow_control_requests",
            "allow_control_requests must be a boolean",
        ),
        (
            json!({"locked_controls": "yes"}),
            "locked_controls",
            "locked_controls must be a boolean",
        ),
        (
            json!({"implicit_hosting": []}),
            "implicit_hosting",
            "implicit_hosting must be a boolean",
        ),
        (
            json!({"inactive_cursors": {}}),
            "inactive_cursors",
            "inactive_cursors must be a boolean",
        ),
        (json!({"name": 5}), "name", "name must be a string"),
        (json!({"name": "  x  "}), "name", "name must be at least 2 characters"),
        (
            json!({ "name": "n".repeat(65) }),
            "name",
            "name must be at most 64 characters",
        ),
        (
            json!({"name": "bad\u{7}name"}),
            "name",
            "name contains invalid characters",
        ),
        (json!({"slug": 5}), "slug", "slug must be a string"),
        (json!({"slug": "x"}), "slug", "slug must be at least 2 characters"),
        (json!({"slug": "My-Chat"}), "slug", "slug contains invalid characters"),
    ];
    for (body, field, message) in cases {
        let r = t.post_as(&carol_token, &path, body.clone()).await;
        assert_validation(&r, field, message);
    }

    // Who may configure a private chat: its owner only.
    let r = t.post_as(&carol_token, &path, json!({"name": "by carol"})).await;
    assert_error_fields(&r, 404, "ERR_CHAT_NOT_FOUND", &[]);
    for token in [&bob_token, &mod_token, &admin_token] {
        let r = t.post_as(token, &path, json!({"name": "by someone"})).await;
        assert_error_fields(&r, 403, "ERR_NOT_CHAT_MODERATOR", &[]);
        assert_eq!(r.body["error"], "You cannot configure this chat");
    }
    // An Admin who does not outrank the owner of an official chat may not either.
    let r = t
        .post_as(&admin_token, &chat_path(hall, "config/update"), json!({"name": "mine"}))
        .await;
    assert_error_fields(&r, 403, "ERR_NOT_CHAT_MODERATOR", &[]);
    // The slug needs Admin, whether set or cleared.
    for slug in [json!("mine"), Value::Null] {
        let r = t.post_as(&alice_token, &path, json!({ "slug": slug })).await;
        assert_error_fields(&r, 403, "ERR_INSUFFICIENT_PERMISSION", &[]);
        assert_eq!(r.body["error"], "Admin access required to change the slug");
    }
    let r = t
        .post_as(
            &alice_token,
            &path,
            json!({"name": " renamed ", "history_visible": false}),
        )
        .await;
    assert_eq!(r.assert_ok()["message"], "Room config updated");
    assert_eq!(r.body["chat"]["name"], "renamed");
    assert_eq!(r.body["chat"]["history_visible"], false);
    assert!(audits(&t, "CHAT_CONFIG_UPDATE").await.is_empty());

    // Published, the chat may be configured by whoever outranks its owner: audited with changes.
    admin_update(&t, &admin_token, chat_id, json!({"slug": "open-room"})).await;
    let r = t
        .post_as(&mod_token, &path, json!({"name": "by the mod", "wipe_preset": "1h"}))
        .await;
    assert_eq!(r.assert_ok()["chat"]["name"], "by the mod");
    assert_eq!(r.body["chat"]["wipe_preset"], "1h");
    let rows = audits(&t, "CHAT_CONFIG_UPDATE").await;
    assert_eq!(rows.len(), 1);
    let (actor, target_type, target_id, metadata) = &rows[0];
    assert_eq!(*actor, Some(mod_id));
    assert_eq!(target_type, "chat");
    assert_eq!(*target_id, Some(chat_id));
    assert_eq!(
        metadata,
        &json!({"changes": {
            "name": {"old": "renamed", "new": "by the mod"},
            "wipe_preset": {"old": "off", "new": "1h"}
        }})
    );
    // Only the timer restarted: not audited.
    t.clock.advance_secs(30);
    let r = t.post_as(&mod_token, &path, json!({"wipe_preset": "1h"})).await;
    assert_eq!(
        r.assert_ok()["chat"]["next_wipe_at"],
        rfc3339(t.app.now() + HOUR * SECOND)
    );
    assert_eq!(audits(&t, "CHAT_CONFIG_UPDATE").await.len(), 1);
    // The Moderator may not touch the slug; Bob, level with the owner, may do nothing.
    let r = t.post_as(&mod_token, &path, json!({"slug": "other"})).await;
    assert_error_fields(&r, 403, "ERR_INSUFFICIENT_PERMISSION", &[]);
    let r = t.post_as(&bob_token, &path, json!({"name": "by bob"})).await;
    assert_error_fields(&r, 403, "ERR_NOT_CHAT_MODERATOR", &[]);
    assert_eq!(r.body["error"], "You cannot configure this chat");

    // An Admin who outranks the owner changes the slug; a slug in use is refused.
    let r = t.post_as(&admin_token, &path, json!({"slug": "hall"})).await;
    assert_error_fields(&r, 409, "ERR_SLUG_TAKEN", &[]);
    let r = t
        .post_as(
            &admin_token,
            &path,
            json!({"slug": "admin-room", "locked_controls": true}),
        )
        .await;
    let chat = r.assert_ok()["chat"].clone();
    assert_eq!(chat["slug"], "admin-room");
    assert_eq!(chat["visibility"], "public");
    assert_eq!(chat["locked_controls"], true);
    let rows = audits(&t, "CHAT_CONFIG_UPDATE").await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].0, Some(admin_id));
    assert_eq!(
        rows[1].3,
        json!({"changes": {
            "slug": {"old": "open-room", "new": "admin-room"},
            "locked_controls": {"old": false, "new": true}
        }})
    );
    // `slug: null` makes it private again.
    let r = t.post_as(&admin_token, &path, json!({"slug": null})).await;
    let chat = r.assert_ok()["chat"].clone();
    assert_eq!(chat["slug"], Value::Null);
    assert_eq!(chat["visibility"], "private");
    let rows = audits(&t, "CHAT_CONFIG_UPDATE").await;
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[2].3,
        json!({"changes": {
            "slug": {"old": "admin-room", "new": null},
            "visibility": {"old": "public", "new": "private"}
        }})
    );
    // Private again, the Moderator has lost his say.
    let r = t.post_as(&mod_token, &path, json!({"name": "by the mod"})).await;
    assert_error_fields(&r, 403, "ERR_NOT_CHAT_MODERATOR", &[]);
});

both_backends!(config_update_events_and_the_timer, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (chat_id, (alice_id, alice_token), (bob_id, bob_token)) = alice_and_bob(&p).await;
    let addr = t.listen().await;
    let mut alice = Device::ready(&t, addr, alice_id, &alice_token).await;
    let mut bob = Device::ready(&t, addr, bob_id, &bob_token).await;
    seat(chat_id, &mut [&mut alice, &mut bob]).await;
    let path = chat_path(chat_id, "config/update");
    let quiet = ["room:config", "message:new", "room:epoch_changed"];

    // An empty body, or one that changes nothing, answers the chat and sends nothing.
    let r = alice.post(&path, json!({})).await;
    assert_eq!(keys(r.assert_ok()), ["chat", "message"]);
    assert_eq!(r.body["message"], "Room config updated");
    let chat = r.body["chat"].clone();
    assert_eq!(keys(&chat), CHAT_SUMMARY_FIELDS);
    assert_eq!(chat["id"], chat_id);
    assert_eq!(chat["wipe_preset"], "off");
    assert_eq!(chat["next_wipe_at"], Value::Null);
    assert_eq!(chat["history_visible"], true);
    for flag in [
        "allow_control_requests",
        "locked_controls",
        "implicit_hosting",
        "inactive_cursors",
    ] {
        assert_eq!(chat[flag], false, "{flag}");
    }
    assert_eq!(chat, chat_of(&t, &alice_token, chat_id).await);
    let same = json!({"wipe_preset": "off", "history_visible": true, "name": "transport",
                      "locked_controls": false, "implicit_hosting": null});
    let r = alice.post(&path, same).await;
    assert_eq!(r.assert_ok()["chat"], chat);
    alice.no_pending(&quiet).await;
    bob.no_pending(&quiet).await;

    // Setting a preset starts the timer from now and is announced; it does not rotate.
    let set_at = t.app.now();
    let r = alice.post(&path, json!({"wipe_preset": "15m"})).await;
    let chat = r.assert_ok()["chat"].clone();
    assert_eq!(chat["wipe_preset"], "15m");
    assert_eq!(chat["next_wipe_at"], rfc3339(set_at + 900 * SECOND));
    for device in [&mut alice, &mut bob] {
        let events = device.expect_sequence(&["room:config", "message:new"]).await;
        assert_eq!(events[0], chat);
        assert_system(&events[1], chat_id, "ualice set auto-wipe to every 15m");
    }
    bob.no_pending(&["room:epoch_changed"]).await;
    assert_eq!(chat_of(&t, &bob_token, chat_id).await, chat);

    // The same preset again restarts the timer: the room hears the new time, no message.
    t.clock.advance_secs(100);
    let r = alice.post(&path, json!({"wipe_preset": "15m"})).await;
    let chat = r.assert_ok()["chat"].clone();
    assert_eq!(chat["next_wipe_at"], rfc3339(t.app.now() + 900 * SECOND));
    for device in [&mut alice, &mut bob] {
        let events = device.expect_sequence(&["room:config"]).await;
        assert_eq!(events[0], chat);
    }
    bob.no_pending(&["message:new"]).await;

    // Other settings: the room gets the summary; history hidden does not rotate.
    let r = alice
        .post(
            &path,
            json!({"wipe_preset": "24h", "history_visible": false, "inactive_cursors": true}),
        )
        .await;
    let chat = r.assert_ok()["chat"].clone();
    assert_eq!(chat["next_wipe_at"], rfc3339(t.app.now() + 86_400 * SECOND));
    assert_eq!(chat["history_visible"], false);
    assert_eq!(chat["inactive_cursors"], true);
    for device in [&mut alice, &mut bob] {
        let events = device.expect_sequence(&["room:config", "message:new"]).await;
        assert_eq!(events[0], chat);
        assert_system(&events[1], chat_id, "ualice set auto-wipe to every 24h");
    }

    // Off: no more timer.
    let r = alice.post(&path, json!({"wipe_preset": "off"})).await;
    let chat = r.assert_ok()["chat"].clone();
    assert_eq!(chat["wipe_preset"], "off");
    assert_eq!(chat["next_wipe_at"], Value::Null);
    for device in [&mut alice, &mut bob] {
        let events = device.expect_sequence(&["room:config", "message:new"]).await;
        assert_eq!(events[0], chat);
        assert_system(&events[1], chat_id, "ualice turned auto-wipe off");
    }
    // Off while off changes nothing.
    let r = alice.post(&path, json!({"wipe_preset": "off"})).await;
    assert_eq!(r.assert_ok()["chat"], chat);
    alice.no_pending(&quiet).await;
    bob.no_pending(&quiet).await;
    assert!(audits(&t, "CHAT_CONFIG_UPDATE").await.is_empty());
});

// ---- §7.3 auto-wipe ----

both_backends!(
    auto_wipe_fires_once_and_only_with_user_messages,
    |t: TestApp| async move {
        let p = People::new(&t).await;
        let (chat_id, (alice_id, alice_token), (bob_id, bob_token)) = alice_and_bob(&p).await;
        let addr = t.listen().await;
        let mut alice = Device::ready(&t, addr, alice_id, &alice_token).await;
        let mut bob = Device::ready(&t, addr, bob_id, &bob_token).await;
        seat(chat_id, &mut [&mut alice, &mut bob]).await;
        let wipe_events = [
            "portal:cleared",
            "room:epoch_changed",
            "message:new",
            "room:key_request",
        ];

        let set_at = t.app.now();
        let r = alice
            .post(&chat_path(chat_id, "config/update"), json!({"wipe_preset": "1m"}))
            .await;
        assert_eq!(r.assert_ok()["chat"]["next_wipe_at"], rfc3339(set_at + 60 * SECOND));
        alice.drain().await;
        bob.drain().await;

        // Not due yet: nothing.
        t.clock.advance_secs(30);
        assert_eq!(wipe_due(&t.app).await.unwrap(), 0);
        // Due, but only system messages: the timer advances, nothing else happens.
        t.clock.advance_secs(31);
        assert_eq!(wipe_due(&t.app).await.unwrap(), 0);
        assert_eq!(
            chat_of(&t, &alice_token, chat_id).await["next_wipe_at"],
            rfc3339(set_at + 120 * SECOND)
        );
        alice.no_pending(&wipe_events).await;
        bob.no_pending(&wipe_events).await;
        assert_eq!(stored(&alice, chat_id).await.len(), 3);

        // With a user message: everything goes, the epoch rotates, the room hears it in order.
        bob.send_at(chat_id, 1, "hello").await.assert_ok();
        alice.reads(chat_id, &["hello"]).await;
        bob.reads(chat_id, &["hello"]).await;
        t.clock.advance_secs(64);
        assert_eq!(wipe_due(&t.app).await.unwrap(), 1);
        let next = rfc3339(set_at + 180 * SECOND);
        for device in [&mut alice, &mut bob] {
            let events = device
                .expect_sequence(&["portal:cleared", "room:epoch_changed", "message:new"])
                .await;
            assert_eq!(
                events[0],
                json!({"chat_id": chat_id, "cleared": 4, "reason": "wipe", "next_wipe_at": next})
            );
            assert_eq!(events[1], json!({"chat_id": chat_id, "epoch": 2, "reason": "wipe"}));
            assert_system(&events[2], chat_id, "Messages were wiped automatically (every 1m)");
        }
        let request = alice.expect_sequence(&["room:key_request"]).await.remove(0);
        assert_eq!(request["epoch"], 2);
        assert_eq!(request["generate"], true);
        alice.answer(&request).await.assert_ok();
        assert_eq!(bob.next("room:key").await["epoch"], 2);
        assert_eq!(chat_of(&t, &bob_token, chat_id).await["next_wipe_at"], next);

        // Claimed once: a second run does nothing.
        assert_eq!(wipe_due(&t.app).await.unwrap(), 0);
        alice.drain().await;
        bob.no_pending(&wipe_events).await;

        // Due times missed meanwhile collapse into one wipe.
        bob.send_at(chat_id, 2, "again").await.assert_ok();
        alice.reads(chat_id, &["again"]).await;
        bob.reads(chat_id, &["again"]).await;
        t.clock.advance_secs(300);
        assert_eq!(wipe_due(&t.app).await.unwrap(), 1);
        assert_eq!(wipe_due(&t.app).await.unwrap(), 0);
        let next = rfc3339(set_at + 480 * SECOND);
        for device in [&mut alice, &mut bob] {
            let events = device
                .expect_sequence(&["portal:cleared", "room:epoch_changed", "message:new"])
                .await;
            assert_eq!(
                events[0],
                json!({"chat_id": chat_id, "cleared": 2, "reason": "wipe", "next_wipe_at": next})
            );
            assert_eq!(events[1], json!({"chat_id": chat_id, "epoch": 3, "reason": "wipe"}));
            assert_system(&events[2], chat_id, "Messages were wiped automatically (every 1m)");
        }
        assert_eq!(alice.next("room:key_request").await["epoch"], 3);
        alice.no_pending(&["portal:cleared", "room:epoch_changed"]).await;
        bob.no_pending(&["portal:cleared", "room:epoch_changed"]).await;
        assert_eq!(chat_of(&t, &alice_token, chat_id).await["next_wipe_at"], next);
        let left = stored(&alice, chat_id).await;
        assert_eq!(left.len(), 1);
        assert_system(&left[0], chat_id, "Messages were wiped automatically (every 1m)");
        // A wipe is a system job: not audited.
        assert!(audits(&t, "CHAT_CLEAR").await.is_empty());
        assert!(audits(&t, "CHAT_MESSAGES_DELETE").await.is_empty());
    }
);

// ---- §8 moderation and the chat's lifecycle ----

both_backends!(kick_of_a_visitor_rotates_the_key_away, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (admin_id, admin_token) = p.at("admin", 2).await;
    let (bob_id, bob_token) = p.at("bob", 0).await;
    let (carol_id, carol_token) = p.at("carol", 0).await;
    let (dave_id, _) = p.at("dave", 0).await;
    let chat_id = create_official(&t, &admin_token, "Lobby", "lobby").await;
    let addr = t.listen().await;
    let mut admin = Device::ready(&t, addr, admin_id, &admin_token).await;
    let mut bob = Device::ready(&t, addr, bob_id, &bob_token).await;
    let mut carol = Device::ready(&t, addr, carol_id, &carol_token).await;
    seat(chat_id, &mut [&mut admin, &mut bob, &mut carol]).await;

    // Bob is no member, only present: the kick still applies to him.
    let r = admin
        .post(&chat_path(chat_id, "kick"), json!({"user_id": bob_id}))
        .await;
    assert_eq!(r.assert_ok(), &json!({"ok": true}));
    let events = bob.expect_sequence(&["room:kicked"]).await;
    assert_eq!(events[0], json!({"chat_id": chat_id, "reason": "kick"}));
    let removed = key_removed(chat_id, &bob);
    let members = json!([
        entry(admin_id, "owner", &[&admin]),
        entry(carol_id, "visitor", &[&carol])
    ]);
    for device in [&mut admin, &mut carol] {
        let events = device
            .expect_sequence(&[
                "portal:key_removed",
                "room:members",
                "room:epoch_changed",
                "message:new",
            ])
            .await;
        assert_eq!(events[0], removed);
        assert_eq!(roster(&events[1]["members"]), members);
        assert_eq!(events[2], json!({"chat_id": chat_id, "epoch": 2, "reason": "kick"}));
        assert_system(&events[3], chat_id, "ubob was kicked from the chat");
    }
    let request = admin.expect_sequence(&["room:key_request"]).await.remove(0);
    assert_eq!(request["epoch"], 2);
    assert_eq!(request["generate"], true);
    assert_eq!(
        sorted_devices(&request["devices"]),
        sorted_devices(&json!([admin.named(), carol.named()]))
    );
    admin.answer(&request).await.assert_ok();
    assert_eq!(carol.next("room:key").await["epoch"], 2);
    bob.no_pending(&ROOM_EVENTS).await;
    assert!(!bob.holds_key(chat_id, 2));
    let r = bob.send_at(chat_id, 1, "still here?").await;
    assert_error_fields(&r, 403, "ERR_ROOM_NOT_JOINED", &[]);
    let rows = audits(&t, "CHAT_KICK").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].3["user_id"], bob_id);
    assert_eq!(rows[0].3["route"], "portal");

    // Neither a member nor present: nothing to kick.
    let r = admin
        .post(&chat_path(chat_id, "kick"), json!({"user_id": dave_id}))
        .await;
    assert_error_fields(&r, 404, "ERR_NOT_CHAT_MEMBER", &[]);

    // A kick is no ban: Bob comes straight back, without the old key, and is handed the new one.
    let joined = bob.join(chat_id).await;
    assert_eq!(joined["epoch"], 2);
    assert_eq!(joined["key"], Value::Null);
    admin.serve_key_request().await;
    assert_eq!(bob.next("room:key").await["epoch"], 2);
    for device in [&mut admin, &mut bob, &mut carol] {
        device.drain().await;
    }

    // The admin kick does the same.
    let r = admin
        .post(&format!("/v1/admin/chats/{chat_id}/kick"), json!({"user_id": carol_id}))
        .await;
    r.assert_ok();
    let events = carol.expect_sequence(&["room:kicked"]).await;
    assert_eq!(events[0], json!({"chat_id": chat_id, "reason": "kick"}));
    let removed = key_removed(chat_id, &carol);
    for device in [&mut admin, &mut bob] {
        let events = device
            .expect_sequence(&[
                "portal:key_removed",
                "room:members",
                "room:epoch_changed",
                "message:new",
            ])
            .await;
        assert_eq!(events[0], removed);
        assert_eq!(events[2], json!({"chat_id": chat_id, "epoch": 3, "reason": "kick"}));
        assert_system(&events[3], chat_id, "ucarol was kicked from the chat");
    }
    assert_eq!(admin.next("room:key_request").await["epoch"], 3);
    carol.no_pending(&ROOM_EVENTS).await;
});

both_backends!(leaving_a_private_chat_loses_access, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (chat_id, (alice_id, alice_token), (bob_id, bob_token)) = alice_and_bob(&p).await;
    let (_, dave_token) = p.at("dave", 0).await;
    let (_, admin_token) = p.at("admin", 2).await;
    join_by_invite(&t, &alice_token, chat_id, &dave_token).await;
    let addr = t.listen().await;
    let mut alice = Device::ready(&t, addr, alice_id, &alice_token).await;
    let mut bob = Device::ready(&t, addr, bob_id, &bob_token).await;
    seat(chat_id, &mut [&mut alice, &mut bob]).await;
    let leave = chat_path(chat_id, "leave");

    // Bob leaves: his tabs are taken out of the room and the key rotates away from him.
    bob.post(&leave, json!({})).await.assert_ok();
    let events = bob.expect_sequence(&["room:kicked"]).await;
    assert_eq!(events[0], json!({"chat_id": chat_id, "reason": "access_lost"}));
    let events = alice
        .expect_sequence(&[
            "portal:key_removed",
            "room:members",
            "room:epoch_changed",
            "room:key_request",
        ])
        .await;
    assert_eq!(events[0], key_removed(chat_id, &bob));
    assert_eq!(
        roster(&events[1]["members"]),
        json!([entry(alice_id, "owner", &[&alice])])
    );
    assert_eq!(
        events[2],
        json!({"chat_id": chat_id, "epoch": 2, "reason": "access_lost"})
    );
    assert_eq!(events[3]["generate"], true);
    assert_eq!(events[3]["devices"], json!([alice.named()]));
    alice.answer(&events[3]).await.assert_ok();
    alice.next("room:key").await;
    alice.no_pending(&["message:new"]).await;
    bob.no_pending(&ROOM_EVENTS).await;
    let answer = bob.try_join(json!({ "chat_id": chat_id })).await;
    assert_eq!(answer["event"], "room:error");
    assert_eq!(answer["data"]["code"], "ERR_CHAT_NOT_FOUND");

    // A member who is not present leaving rotates too, with nobody to remove.
    t.post_as(&dave_token, &leave, json!({})).await.assert_ok();
    let events = alice.expect_sequence(&["room:epoch_changed", "room:key_request"]).await;
    assert_eq!(
        events[0],
        json!({"chat_id": chat_id, "epoch": 3, "reason": "access_lost"})
    );
    alice.answer(&events[1]).await.assert_ok();
    alice.drain().await;

    // Leaving a public chat takes nothing away: Bob stays on as a visitor, nothing rotates.
    join_by_invite(&t, &alice_token, chat_id, &bob_token).await;
    admin_update(&t, &admin_token, chat_id, json!({"slug": "open-room"})).await;
    enter(chat_id, &mut alice, &mut bob).await;
    alice.drain().await;
    bob.drain().await;
    bob.post(&leave, json!({})).await.assert_ok();
    let members = json!([entry(alice_id, "owner", &[&alice]), entry(bob_id, "visitor", &[&bob])]);
    for device in [&mut alice, &mut bob] {
        let events = device.expect_sequence(&["room:members"]).await;
        assert_eq!(roster(&events[0]["members"]), members);
    }
    bob.no_pending(&["room:kicked", "room:epoch_changed"]).await;
    alice.no_pending(&["room:epoch_changed"]).await;
});

both_backends!(destroying_a_chat_closes_its_room, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (chat_id, (alice_id, alice_token), (bob_id, bob_token)) = alice_and_bob(&p).await;
    let (admin_id, admin_token) = p.at("admin", 2).await;
    let lobby = create_official(&t, &admin_token, "Lobby", "lobby").await;
    let addr = t.listen().await;
    let mut alice = Device::ready(&t, addr, alice_id, &alice_token).await;
    let mut bob = Device::ready(&t, addr, bob_id, &bob_token).await;
    seat(chat_id, &mut [&mut alice, &mut bob]).await;
    bob.send(chat_id, "before").await;
    alice.reads(chat_id, &["before"]).await;
    bob.reads(chat_id, &["before"]).await;

    // The owner destroys the chat: the room hears it, and the chat is gone for everything after.
    alice.post(&chat_path(chat_id, "delete"), json!({})).await.assert_ok();
    for device in [&mut alice, &mut bob] {
        let events = device.expect_sequence(&["room:destroyed"]).await;
        assert_eq!(events[0], json!({ "chat_id": chat_id }));
        device.no_pending(&ROOM_EVENTS).await;
    }
    let r = bob.send_at(chat_id, 1, "after").await;
    assert_error_fields(&r, 404, "ERR_CHAT_NOT_FOUND", &[]);
    assert_error_fields(&bob.history(chat_id, "").await, 404, "ERR_CHAT_NOT_FOUND", &[]);
    assert_error_fields(&bob.keys_me(chat_id).await, 404, "ERR_CHAT_NOT_FOUND", &[]);
    let blobs = bob.blobs_for(chat_id, 1, &[alice.named()]);
    assert_error_fields(&bob.upload(chat_id, 1, blobs).await, 404, "ERR_CHAT_NOT_FOUND", &[]);
    let answer = bob.try_join(json!({ "chat_id": chat_id })).await;
    assert_eq!(answer["event"], "room:error");
    assert_eq!(answer["data"]["code"], "ERR_CHAT_NOT_FOUND");

    // The admin deletion of an official chat does the same.
    let mut admin = Device::ready(&t, addr, admin_id, &admin_token).await;
    seat(lobby, &mut [&mut admin, &mut bob]).await;
    admin
        .post(&format!("/v1/admin/chats/{lobby}/delete"), json!({}))
        .await
        .assert_ok();
    for device in [&mut admin, &mut bob] {
        let events = device.expect_sequence(&["room:destroyed"]).await;
        assert_eq!(events[0], json!({ "chat_id": lobby }));
    }
    let r = bob.send_at(lobby, 1, "after").await;
    assert_error_fields(&r, 404, "ERR_CHAT_NOT_FOUND", &[]);
});

both_backends!(becoming_private_removes_visitors_below_admin, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (chat_id, (alice_id, alice_token), (bob_id, bob_token)) = alice_and_bob(&p).await;
    let (carol_id, carol_token) = p.at("carol", 0).await;
    let (mod_id, mod_token) = p.at("moderator", 1).await;
    let (admin_id, admin_token) = p.at("admin", 2).await;
    admin_update(&t, &admin_token, chat_id, json!({"slug": "open-room"})).await;
    let addr = t.listen().await;
    let mut alice = Device::ready(&t, addr, alice_id, &alice_token).await;
    let mut bob = Device::ready(&t, addr, bob_id, &bob_token).await;
    let mut carol = Device::ready(&t, addr, carol_id, &carol_token).await;
    let mut moderator = Device::ready(&t, addr, mod_id, &mod_token).await;
    let mut admin = Device::ready(&t, addr, admin_id, &admin_token).await;
    seat(
        chat_id,
        &mut [&mut alice, &mut bob, &mut carol, &mut moderator, &mut admin],
    )
    .await;

    let chat = admin_update(&t, &admin_token, chat_id, json!({"visibility": "private"})).await;
    assert_eq!(chat["visibility"], "private");
    assert_eq!(chat["slug"], Value::Null);
    for device in [&mut carol, &mut moderator] {
        assert_eq!(
            device.next("room:kicked").await,
            json!({"chat_id": chat_id, "reason": "access_lost"})
        );
    }
    let removed = unordered(&[key_removed(chat_id, &carol), key_removed(chat_id, &moderator)]);
    let members = json!([
        entry(alice_id, "owner", &[&alice]),
        entry(bob_id, "member", &[&bob]),
        entry(admin_id, "visitor", &[&admin])
    ]);
    for device in [&mut alice, &mut bob, &mut admin] {
        let events = device
            .expect_sequence(&[
                "room:config",
                "portal:key_removed",
                "portal:key_removed",
                "room:members",
                "room:epoch_changed",
            ])
            .await;
        assert_eq!(events[0]["visibility"], "private");
        assert_eq!(events[0]["slug"], Value::Null);
        assert_eq!(unordered(&events[1..3]), removed);
        assert_eq!(roster(&events[3]["members"]), members);
        assert_eq!(
            events[4],
            json!({"chat_id": chat_id, "epoch": 2, "reason": "access_lost"})
        );
    }
    let request = alice.next("room:key_request").await;
    assert_eq!(request["generate"], true);
    assert_eq!(
        sorted_devices(&request["devices"]),
        sorted_devices(&json!([alice.named(), bob.named(), admin.named()]))
    );
    alice.no_pending(&["message:new"]).await;
    for device in [&mut carol, &mut moderator] {
        device.no_pending(&ROOM_EVENTS).await;
        let answer = device.try_join(json!({ "chat_id": chat_id })).await;
        assert_eq!(answer["event"], "room:error");
        assert_eq!(answer["data"]["code"], "ERR_CHAT_NOT_FOUND");
    }
});

both_backends!(config_update_making_a_chat_private, |t: TestApp| async move {
    // `slug: null` through config/update (§7.2): the settings and the message first, then §8.5.
    let p = People::new(&t).await;
    let (admin_id, admin_token) = p.at("admin", 2).await;
    let (bob_id, bob_token) = p.at("bob", 0).await;
    let (other_id, other_token) = p.at("other", 2).await;
    let chat_id = create_official(&t, &admin_token, "Lobby", "lobby").await;
    let addr = t.listen().await;
    let mut admin = Device::ready(&t, addr, admin_id, &admin_token).await;
    let mut bob = Device::ready(&t, addr, bob_id, &bob_token).await;
    let mut other = Device::ready(&t, addr, other_id, &other_token).await;
    seat(chat_id, &mut [&mut admin, &mut bob, &mut other]).await;

    let r = admin
        .post(
            &chat_path(chat_id, "config/update"),
            json!({"slug": null, "wipe_preset": "1h"}),
        )
        .await;
    let chat = r.assert_ok()["chat"].clone();
    assert_eq!(chat["visibility"], "private");
    assert_eq!(chat["slug"], Value::Null);
    assert_eq!(chat["wipe_preset"], "1h");
    let events = bob
        .expect_sequence(&["room:config", "message:new", "room:kicked"])
        .await;
    assert_eq!(events[0], chat);
    assert_system(&events[1], chat_id, "uadmin set auto-wipe to every 1h");
    assert_eq!(events[2], json!({"chat_id": chat_id, "reason": "access_lost"}));
    bob.no_pending(&ROOM_EVENTS).await;
    let removed = key_removed(chat_id, &bob);
    let members = json!([
        entry(admin_id, "owner", &[&admin]),
        entry(other_id, "visitor", &[&other])
    ]);
    for device in [&mut admin, &mut other] {
        let events = device
            .expect_sequence(&[
                "room:config",
                "message:new",
                "portal:key_removed",
                "room:members",
                "room:epoch_changed",
            ])
            .await;
        assert_eq!(events[0], chat);
        assert_system(&events[1], chat_id, "uadmin set auto-wipe to every 1h");
        assert_eq!(events[2], removed);
        assert_eq!(roster(&events[3]["members"]), members);
        assert_eq!(
            events[4],
            json!({"chat_id": chat_id, "epoch": 2, "reason": "access_lost"})
        );
    }
    assert_eq!(admin.next("room:key_request").await["epoch"], 2);
    // The owner acting in their own chat is not audited.
    assert!(audits(&t, "CHAT_CONFIG_UPDATE").await.is_empty());
});

both_backends!(warn_and_timeout_post_system_messages, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (admin_id, admin_token) = p.at("admin", 2).await;
    let (bob_id, bob_token) = p.at("bob", 0).await;
    let chat_id = create_official(&t, &admin_token, "Lobby", "lobby").await;
    let addr = t.listen().await;
    let mut admin = Device::ready(&t, addr, admin_id, &admin_token).await;
    let mut bob = Device::ready(&t, addr, bob_id, &bob_token).await;
    seat(chat_id, &mut [&mut admin, &mut bob]).await;

    let r = admin
        .post(
            &chat_path(chat_id, "warn"),
            json!({"user_id": bob_id, "reason": "be nice"}),
        )
        .await;
    assert_eq!(r.assert_ok(), &json!({"ok": true}));
    for device in [&mut admin, &mut bob] {
        let events = device.expect_sequence(&["message:new"]).await;
        assert_system(&events[0], chat_id, "ubob was warned: be nice");
    }
    // A warning neither removes nor rotates.
    bob.no_pending(&["room:kicked", "room:epoch_changed"]).await;
    admin.no_pending(&["room:epoch_changed", "room:members"]).await;
    bob.send(chat_id, "sorry").await;
    admin.reads(chat_id, &["sorry"]).await;
    admin.drain().await;

    // A timeout posts its message; Bob's connection, opened before it began, closes, so he leaves
    // the room; nothing rotates.
    t.clock.advance_secs(1);
    let r = admin
        .post(
            &chat_path(chat_id, "timeout"),
            json!({"user_id": bob_id, "duration": 600, "reason": "cool down"}),
        )
        .await;
    assert_eq!(r.assert_ok(), &json!({"ok": true}));
    assert_system(&admin.next("message:new").await, chat_id, "ubob was timed out");
    let members = admin.next("room:members").await;
    assert_eq!(
        roster(&members["members"]),
        json!([entry(admin_id, "owner", &[&admin])])
    );
    admin.no_pending(&["room:epoch_changed"]).await;
    drop(bob);
});
