//! Chat settings (§7.2), the auto-wipe timer (§7.3), and a settings change that makes a chat
//! private (§8.5).

use super::*;

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
