//! What moderation and chat settings do to live traffic (§5.2 refusals, §5.4, §8): mutes, hard
//! mutes, bans, message rates, hidden history and the rotation of a keyless entry.

use super::*;
use portal::config::Config;

/// An official chat of an Admin, with Bob (level 0) joined as a visitor and both holding the key
/// of epoch 1. Returns (chat, admin device, bob device).
async fn official_with_bob<'a>(t: &'a TestApp, p: &People<'a>) -> (i64, Device<'a>, Device<'a>) {
    let (admin_id, admin_token) = p.at("admin", 2).await;
    let (bob_id, bob_token) = p.at("bob", 0).await;
    let chat_id = create_official(t, &admin_token, "Lobby", "lobby").await;
    let addr = t.listen().await;
    let mut admin = Device::ready(t, addr, admin_id, &admin_token).await;
    admin.join(chat_id).await;
    assert_system(&admin.next("message:new").await, chat_id, "uadmin joined the chat");
    admin.serve_key_request().await;
    admin.next("room:key").await;
    let mut bob = Device::ready(t, addr, bob_id, &bob_token).await;
    bob.join(chat_id).await;
    for device in [&mut admin, &mut bob] {
        assert_system(&device.next("message:new").await, chat_id, "ubob joined the chat");
    }
    admin.serve_key_request().await;
    bob.next("room:key").await;
    admin.drain().await;
    bob.drain().await;
    (chat_id, admin, bob)
}

both_backends!(mutes_and_bans_refuse_sending, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (chat_id, mut admin, mut bob) = official_with_bob(&t, &p).await;
    bob.send(chat_id, "before").await;
    admin.reads(chat_id, &["before"]).await;

    // A chat mute: the room hears of it; Bob keeps reading but cannot send, whatever he sends.
    let r = admin
        .post(
            &chat_path(chat_id, "mute"),
            json!({"user_id": bob.user_id, "duration": 600}),
        )
        .await;
    assert_eq!(r.assert_ok(), &json!({"ok": true}));
    let muted = bob.next("user:muted").await;
    assert_eq!(keys(&muted), ["chat_id", "expires_at", "user_id"]);
    assert_eq!(muted["user_id"], bob.user_id);
    let r = bob.send_at(chat_id, 1, "muted").await;
    assert_error_fields(&r, 403, "ERR_CHAT_MUTED", &["ttl"]);
    assert_eq!(r.body["ttl"], 600);
    assert_eq!(r.body["error"], "You are muted in this chat");
    let r = bob.send_content(chat_id, "not a bundle").await;
    assert_error_fields(&r, 403, "ERR_CHAT_MUTED", &["ttl"]);
    t.clock.advance_secs(100);
    assert_eq!(bob.send_at(chat_id, 1, "muted").await.body["ttl"], 500);

    // A hard mute comes before the chat mute.
    let r = admin
        .post(
            "/v1/portal/hard-mute",
            json!({"user_id": bob.user_id, "duration": 3600}),
        )
        .await;
    r.assert_ok();
    let r = bob.send_at(chat_id, 1, "hard muted").await;
    assert_error_fields(&r, 403, "ERR_HARD_MUTED", &["expires_at"]);
    assert_eq!(r.body["error"], "You are muted in every chat");
    assert!(r.body["expires_at"].is_string());
    admin
        .post("/v1/portal/hard-unmute", json!({"user_id": bob.user_id}))
        .await
        .assert_ok();
    assert_error_fields(&bob.send_at(chat_id, 1, "x").await, 403, "ERR_CHAT_MUTED", &["ttl"]);
    admin
        .post(&chat_path(chat_id, "unmute"), json!({"user_id": bob.user_id}))
        .await
        .assert_ok();
    assert_eq!(
        bob.next("user:unmuted").await,
        json!({"chat_id": chat_id, "user_id": bob.user_id})
    );
    bob.send(chat_id, "free again").await;
    admin.reads(chat_id, &["free again"]).await;

    admin.drain().await;

    // A ban takes Bob out of the room and rotates the key away from him.
    let r = admin
        .post(&chat_path(chat_id, "ban"), json!({"user_id": bob.user_id}))
        .await;
    assert_eq!(r.assert_ok(), &json!({"ok": true}));
    assert_eq!(
        bob.next("room:kicked").await,
        json!({"chat_id": chat_id, "reason": "ban"})
    );
    let events = admin
        .expect_sequence(&[
            "user:banned",
            "portal:key_removed",
            "room:members",
            "room:epoch_changed",
            "message:new",
            "room:key_request",
        ])
        .await;
    assert_eq!(
        events[0],
        json!({"chat_id": chat_id, "user_id": bob.user_id, "expires_at": null})
    );
    assert_eq!(
        events[1],
        json!({"chat_id": chat_id, "user_id": bob.user_id, "device_id": bob.device_id})
    );
    assert_eq!(
        roster(&events[2]["members"]),
        json!([entry(admin.user_id, "owner", &[&admin])])
    );
    assert_eq!(events[3], json!({"chat_id": chat_id, "epoch": 2, "reason": "ban"}));
    assert_system(&events[4], chat_id, "ubob was banned from the chat");
    assert_eq!(events[5]["generate"], true);
    assert_eq!(events[5]["devices"], json!([admin.named()]));
    let r = admin.answer(&events[5]).await;
    assert_eq!(r.assert_ok()["stored"], 1);

    // Out of the room, Bob meets the room check first; then the ban everywhere else.
    let r = bob.send_at(chat_id, 1, "banned").await;
    assert_error_fields(&r, 403, "ERR_ROOM_NOT_JOINED", &[]);
    let answer = bob.try_join(json!({ "chat_id": chat_id })).await;
    assert_eq!(answer["event"], "room:error");
    assert_eq!(answer["data"]["code"], "ERR_CHAT_BANNED");
    assert_error_fields(&bob.history(chat_id, "").await, 403, "ERR_CHAT_BANNED", &[]);
    assert_error_fields(&bob.keys_me(chat_id).await, 403, "ERR_CHAT_BANNED", &[]);
    // What is said now is under a key Bob never got.
    let id = admin.send(chat_id, "after the ban").await;
    let message = admin.next_message(chat_id).await;
    assert_eq!(message["id"], id.as_str());
    assert_eq!(message["epoch"], 2);
    assert!(!bob.holds_key(chat_id, 2));
});

fn two_per_chat(config: &mut Config) {
    config.chats.message_rate.per_chat = 2;
}

both_backends!(message_rates_refuse_the_excess, two_per_chat, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (chat_id, mut admin, _bob) = official_with_bob(&t, &p).await;
    admin.send(chat_id, "one").await;
    admin.send(chat_id, "two").await;
    let r = admin.send_at(chat_id, 1, "three").await;
    assert_error_fields(&r, 429, "ERR_MESSAGE_RATE_LIMITED", &[]);
    assert_eq!(r.body["error"], "Too many messages");
    let retry: u64 = r.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=30).contains(&retry), "Retry-After {retry}");
    // A refused message takes no token, and a refusal for another reason is not charged.
    assert_error_fields(
        &admin.send_content(chat_id, "not a bundle").await,
        422,
        "ERR_INVALID_BUNDLE",
        &[],
    );
    admin.reads(chat_id, &["one", "two"]).await;
});

both_backends!(hidden_history_rotates_on_a_keyless_entry, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (chat_id, (alice_id, alice_token), (bob_id, bob_token)) = alice_and_bob(&p).await;
    let (carol_id, carol_token) = p.at("carol", 0).await;
    let code = crate::common::chats::new_invite(&t, &alice_token, chat_id, json!({})).await;
    t.post(&format!("/v1/portal/resolve/{code}"))
        .cookie(&carol_token)
        .send()
        .await
        .assert_ok();
    let addr = t.listen().await;
    let mut alice = Device::ready(&t, addr, alice_id, &alice_token).await;
    alice.join(chat_id).await;
    assert_system(&alice.next("message:new").await, chat_id, "ualice joined the chat");
    alice.serve_key_request().await;
    alice.next("room:key").await;
    let mut bob = Device::ready(&t, addr, bob_id, &bob_token).await;
    bob.join(chat_id).await;
    for device in [&mut alice, &mut bob] {
        assert_system(&device.next("message:new").await, chat_id, "ubob joined the chat");
    }
    alice.serve_key_request().await;
    bob.next("room:key").await;
    alice.drain().await;
    bob.drain().await;
    bob.send(chat_id, "said before carol").await;
    alice.reads(chat_id, &["said before carol"]).await;

    // The owner hides history: no rotation, the room gets the new settings.
    let r = alice
        .post(&chat_path(chat_id, "config/update"), json!({"history_visible": false}))
        .await;
    assert_eq!(r.assert_ok()["chat"]["history_visible"], false);
    let config = bob.next("room:config").await;
    assert_eq!(config["id"], chat_id);
    assert_eq!(config["history_visible"], false);
    bob.no_pending(&["room:epoch_changed"]).await;
    alice.drain().await;
    bob.drain().await;
    // What is visible is decided by time (§5.4): Carol enters after what was said before her.
    t.clock.advance_secs(1);

    // Carol's first entry is keyless while the epoch is keyed: it rotates before she is in.
    let mut carol = Device::ready(&t, addr, carol_id, &carol_token).await;
    let joined = carol.join(chat_id).await;
    assert_eq!(joined["epoch"], 2);
    assert_eq!(joined["key"], Value::Null);
    assert_eq!(joined["history_visible"], false);
    for device in [&mut alice, &mut bob] {
        let events = device
            .expect_sequence(&["room:epoch_changed", "room:members", "message:new"])
            .await;
        assert_eq!(events[0], json!({"chat_id": chat_id, "epoch": 2, "reason": "join"}));
        assert_system(&events[2], chat_id, "ucarol joined the chat");
    }
    carol.no_pending(&["room:epoch_changed"]).await;
    let request = alice.serve_key_request().await;
    assert_eq!(request["epoch"], 2);
    assert_eq!(request["generate"], true);
    assert_eq!(
        sorted_devices(&request["devices"]),
        sorted_devices(&json!([alice.named(), bob.named(), carol.named()]))
    );
    carol.next("room:key").await;
    assert!(!carol.holds_key(chat_id, 1));

    // Carol sees only what was posted from her entry on; the owner sees everything.
    carol.send(chat_id, "hello, I am new").await;
    for device in [&mut alice, &mut bob, &mut carol] {
        device.reads(chat_id, &["hello, I am new"]).await;
    }
    let r = carol.history(chat_id, "").await;
    let seen = r.assert_ok()["messages"].as_array().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_system(&seen[0], chat_id, "ucarol joined the chat");
    assert_eq!(carol.decrypt(&seen[1]), "hello, I am new");
    let r = alice.history(chat_id, "").await;
    let all = r.assert_ok()["messages"].as_array().unwrap().clone();
    assert_eq!(all.len(), 5, "{all:?}");
    assert_eq!(alice.decrypt(&all[2]), "said before carol");

    // A reload is no keyless entry: nothing rotates and Carol sees the same.
    carol.reconnect().await;
    let joined = carol.join(chat_id).await;
    assert_eq!(joined["epoch"], 2);
    assert_eq!(joined["key"]["epoch"], 2);
    alice.no_pending(&["room:epoch_changed"]).await;
    let r = carol.history(chat_id, "").await;
    assert_eq!(r.assert_ok()["messages"].as_array().unwrap().len(), 2);
});
