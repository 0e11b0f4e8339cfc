//! Deleting messages and clearing a chat (§6), with their audit rows (§12).

use super::*;

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
    // Staff find the row through the audit log's filter by event type (30 §8.4 takes every §8.3 type).
    let r = admin
        .get(&format!(
            "/v1/admin/audit/logs?event_type=CHAT_CLEAR&target_id={chat_id}"
        ))
        .await;
    assert_eq!(r.assert_ok()["total"], 1);
    let left = stored(&alice, chat_id).await;
    assert_eq!(left.len(), 1);
    assert_system(&left[0], chat_id, "The chat was cleared by uadmin");
});

// ---- §7.2 config/update ----
