//! Kicks, leaves, destruction, becoming private, warnings and timeouts in a room (§8).

use super::*;

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
