//! Whole conversations: the walk-through of §11 and several devices of one user.

use super::*;

both_backends!(walk_through_of_two_users, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (chat_id, (alice_id, alice_token), (bob_id, bob_token)) = alice_and_bob(&p).await;
    let addr = t.listen().await;

    // 1. Alice's portal loads and registers her key.
    let mut alice = Device::new(&t, addr, alice_id, &alice_token).await;
    let r = alice.register_key().await;
    assert_eq!(
        r.assert_ok(),
        &json!({"status": "registered", "device_id": alice.device_id})
    );

    // 2. She joins the new chat's room: epoch 1, no key, her join message, and she is asked to
    // make the chat key.
    let joined = alice.join(chat_id).await;
    assert_eq!(keys(&joined), ROOM_JOINED_FIELDS);
    assert_eq!(joined["epoch"], 1);
    assert_eq!(joined["key"], Value::Null);
    assert_eq!(joined["history_visible"], true);
    assert_eq!(joined["running"], false);
    assert_eq!(joined["viewer_count"], 0);
    assert_eq!(roster(&joined["members"]), json!([entry(alice_id, "owner", &[&alice])]));
    assert_eq!(joined["members"][0]["user"]["username"], "ualice");
    let [message, request] =
        <[Value; 2]>::try_from(alice.expect_sequence(&["message:new", "room:key_request"]).await).unwrap();
    assert_system(&message, chat_id, "ualice joined the chat");
    assert_eq!(keys(&request), KEY_REQUEST_FIELDS);
    assert_eq!(request["chat_id"], chat_id);
    assert_eq!(request["epoch"], 1);
    assert_eq!(request["generate"], true);
    assert_eq!(request["devices"], json!([alice.named()]));
    let request_id = request["request_id"].as_str().unwrap();
    assert!(!request_id.is_empty() && request_id.len() <= 64, "{request_id}");

    // 3. Alice makes K1 and uploads her own blob; it comes back to her as `room:key`.
    let r = alice.answer(&request).await;
    assert_eq!(r.assert_ok(), &json!({"epoch": 1, "stored": 1, "rejected": []}));
    let own = alice.next("room:key").await;
    assert_eq!(keys(&own), ROOM_KEY_BLOB_FIELDS);
    assert_eq!(own["chat_id"], chat_id);
    assert_eq!(own["epoch"], 1);
    assert_eq!(own["user_id"], alice_id);
    assert_eq!(own["device_id"], alice.device_id.as_str());
    assert_eq!(own["from"], alice.named());
    assert!(own["created_at"].is_string());

    // 4. Bob registers and joins: no key yet; Alice sees him arrive and is asked to hand K1 over.
    let mut bob = Device::ready(&t, addr, bob_id, &bob_token).await;
    let joined = bob.join(chat_id).await;
    assert_eq!(joined["epoch"], 1);
    assert_eq!(joined["key"], Value::Null);
    assert_eq!(
        roster(&joined["members"]),
        json!([entry(alice_id, "owner", &[&alice]), entry(bob_id, "member", &[&bob])])
    );
    let events = alice
        .expect_sequence(&["room:members", "message:new", "room:key_request"])
        .await;
    assert_eq!(events[0]["chat_id"], chat_id);
    assert_eq!(roster(&events[0]["members"]), roster(&joined["members"]));
    assert_system(&events[1], chat_id, "ubob joined the chat");
    assert_system(&bob.next("message:new").await, chat_id, "ubob joined the chat");
    let request = events[2].clone();
    assert_eq!(request["epoch"], 1);
    assert_eq!(request["generate"], false);
    assert_eq!(request["devices"], json!([bob.named()]));
    assert_ne!(request["request_id"], request_id);

    // Before the hand-over Bob cannot send: he has no key for epoch 1.
    let r = bob.send_content(chat_id, &bundle_of(1, &noise(64))).await;
    assert_error_fields(&r, 403, "ERR_NO_ROOM_KEY", &[]);
    assert_eq!(r.body["error"], "You have no key for the current epoch");

    let r = alice.answer(&request).await;
    assert_eq!(r.assert_ok(), &json!({"epoch": 1, "stored": 1, "rejected": []}));
    let blob = bob.next("room:key").await;
    assert_eq!(blob["user_id"], bob_id);
    assert_eq!(blob["device_id"], bob.device_id.as_str());
    assert_eq!(blob["from"], alice.named());
    assert_eq!(bob.chat_key(chat_id, 1), alice.chat_key(chat_id, 1));

    // 5. Both send; each message reaches both devices, which open it.
    let first = bob.send(chat_id, "hello from bob").await;
    for device in [&mut alice, &mut bob] {
        let message = device.next_message(chat_id).await;
        assert_eq!(keys(&message), CHAT_MESSAGE_FIELDS);
        assert_eq!(message["id"], first.as_str());
        assert_eq!(keys(&message["sender"]), ["avatar_url", "id", "username"]);
        assert_eq!(message["sender"]["id"], bob_id);
        assert_eq!(message["sender"]["username"], "ubob");
        assert_eq!(message["permission_level"], 0);
        assert_eq!(message["epoch"], 1);
        assert_eq!(device.decrypt(&message), "hello from bob");
    }
    let second = alice.send(chat_id, "hello from alice").await;
    assert!(id_key(&second) > id_key(&first), "{first} then {second}");
    alice.reads(chat_id, &["hello from alice"]).await;
    bob.reads(chat_id, &["hello from alice"]).await;

    // History: oldest first, paged from the newest end.
    let r = bob.history(chat_id, "").await;
    assert_eq!(keys(r.assert_ok()), ["has_more", "messages"]);
    assert_eq!(r.body["has_more"], false);
    let messages = r.body["messages"].as_array().unwrap().clone();
    assert_eq!(messages.len(), 4);
    assert_system(&messages[0], chat_id, "ualice joined the chat");
    assert_system(&messages[1], chat_id, "ubob joined the chat");
    assert_eq!(messages[2]["id"], first.as_str());
    assert_eq!(messages[3]["id"], second.as_str());
    for device in [&alice, &bob] {
        assert_eq!(device.decrypt(&messages[2]), "hello from bob");
        assert_eq!(device.decrypt(&messages[3]), "hello from alice");
    }
    let r = alice.history(chat_id, "limit=2").await;
    assert_eq!(ids(&r.assert_ok()["messages"]), [first.clone(), second.clone()]);
    assert_eq!(r.body["has_more"], true);
    let r = alice.history(chat_id, &format!("before={first}&limit=2")).await;
    assert_eq!(
        ids(&r.assert_ok()["messages"]),
        [messages[0]["id"].as_str().unwrap(), messages[1]["id"].as_str().unwrap()]
    );
    assert_eq!(r.body["has_more"], false);

    // The server stored the bundles as sent and no plaintext.
    let mut conn = t.conn().await;
    let stored: Vec<(String,)> = sqlx::query_as("SELECT content FROM chat_messages")
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    assert_eq!(stored.len(), 4);
    for (content,) in &stored {
        assert!(!content.contains("hello from"), "plaintext in the database: {content}");
    }
    for message in &messages[2..] {
        let content = message["content"].as_str().unwrap();
        assert!(stored.iter().any(|(c,)| c == content), "{content} not stored as sent");
    }

    // 6. Alice clears: everything goes, the epoch rotates, and she makes K2 for both.
    let r = alice.post(&chat_path(chat_id, "clear"), json!({})).await;
    assert_eq!(r.assert_ok(), &json!({"ok": true, "cleared": 4}));
    for device in [&mut alice, &mut bob] {
        let events = device
            .expect_sequence(&["portal:cleared", "room:epoch_changed", "message:new"])
            .await;
        assert_eq!(
            events[0],
            json!({"chat_id": chat_id, "cleared": 4, "reason": "clear", "next_wipe_at": null})
        );
        assert_eq!(events[1], json!({"chat_id": chat_id, "epoch": 2, "reason": "clear"}));
        assert_system(&events[2], chat_id, "The chat was cleared by ualice");
    }
    let request = alice.next("room:key_request").await;
    assert_eq!(request["epoch"], 2);
    assert_eq!(request["generate"], true);
    assert_eq!(
        sorted_devices(&request["devices"]),
        sorted_devices(&json!([alice.named(), bob.named()]))
    );
    let r = bob.send_at(chat_id, 1, "too late").await;
    assert_error_fields(&r, 403, "ERR_EPOCH_MISMATCH", &["epoch"]);
    assert_eq!(r.body["epoch"], 2);
    assert_eq!(r.body["error"], "The chat key has changed");

    let r = alice.answer(&request).await;
    assert_eq!(r.assert_ok(), &json!({"epoch": 2, "stored": 2, "rejected": []}));
    assert_eq!(bob.next("room:key").await["epoch"], 2);
    assert_eq!(bob.chat_key(chat_id, 2), alice.chat_key(chat_id, 2));
    assert_ne!(bob.chat_key(chat_id, 2), bob.chat_key(chat_id, 1));
    bob.send(chat_id, "after the clear").await;
    alice.reads(chat_id, &["after the clear"]).await;
    bob.reads(chat_id, &["after the clear"]).await;
    let r = alice.history(chat_id, "").await;
    let messages = r.assert_ok()["messages"].as_array().unwrap().clone();
    assert_eq!(messages.len(), 2);
    assert_system(&messages[0], chat_id, "The chat was cleared by ualice");
    assert_eq!(messages[1]["epoch"], 2);
    assert_eq!(bob.decrypt(&messages[1]), "after the clear");
});

both_backends!(walk_through_tab_closed_and_new_login, |t: TestApp| async move {
    // §11 step 7: a closed tab keeps its blob; a new login after everyone left rotates.
    let p = People::new(&t).await;
    let (chat_id, (alice_id, alice_token), (bob_id, bob_token)) = alice_and_bob(&p).await;
    let addr = t.listen().await;
    let mut alice = Device::ready(&t, addr, alice_id, &alice_token).await;
    alice.join(chat_id).await;
    alice.serve_key_request().await;
    let mut bob = Device::ready(&t, addr, bob_id, &bob_token).await;
    bob.join(chat_id).await;
    alice.serve_key_request().await;
    bob.next("room:key").await;

    // Alice closes her tab and comes back: her blob is in `room:joined`, nothing is handed out.
    alice.reconnect().await;
    let joined = alice.join(chat_id).await;
    assert_eq!(joined["epoch"], 1);
    assert_eq!(joined["key"]["user_id"], alice_id);
    assert_eq!(joined["key"]["device_id"], alice.device_id.as_str());
    assert_eq!(joined["key"]["epoch"], 1);
    bob.no_pending(&["room:key_request", "room:epoch_changed"]).await;
    alice.no_pending(&["room:key_request", "room:epoch_changed"]).await;

    // Alice logs out (her key and blob go) and Bob leaves.
    let r = alice.post("/v1/authentication/logout", json!({})).await;
    assert_eq!(r.status.as_u16(), 200, "logout: {}", r.body);
    let removed = bob.next("portal:key_removed").await;
    assert_eq!(
        removed,
        json!({"chat_id": chat_id, "user_id": alice_id, "device_id": alice.device_id})
    );
    let r = alice.keys_me(chat_id).await;
    r.assert_error(401, "ERR_AUTH_REQUIRED");
    bob.leave(chat_id).await;
    alice.close().await;

    // A new login of Alice's is a new device: epoch 1 is keyed and nobody joined holds it, so the
    // epoch rotates and she makes K2.
    let second = t.login(&p.bot, "alice").await;
    let mut alice = Device::ready(&t, addr, alice_id, &second).await;
    let joined = alice.join(chat_id).await;
    assert_eq!(joined["key"], Value::Null);
    let changed = alice.next("room:epoch_changed").await;
    assert_eq!(changed, json!({"chat_id": chat_id, "epoch": 2, "reason": "key_lost"}));
    let request = alice.serve_key_request().await;
    assert_eq!(request["epoch"], 2);
    assert_eq!(request["generate"], true);
    assert_eq!(request["devices"], json!([alice.named()]));

    // Bob comes back without a blob at 2: Alice hands K2 to him.
    let joined = bob.join(chat_id).await;
    assert_eq!(joined["epoch"], 2);
    assert_eq!(joined["key"], Value::Null);
    let request = alice.serve_key_request().await;
    assert_eq!(request["generate"], false);
    assert_eq!(request["devices"], json!([bob.named()]));
    assert_eq!(bob.next("room:key").await["epoch"], 2);
    alice.send(chat_id, "new device").await;
    bob.reads(chat_id, &["new device"]).await;
});

both_backends!(three_devices_of_two_users_read_everything, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (chat_id, (alice_id, alice_token), (bob_id, bob_token)) = alice_and_bob(&p).await;
    let bob_second_token = t.login(&p.bot, "bob").await;
    let addr = t.listen().await;

    let mut alice = Device::ready(&t, addr, alice_id, &alice_token).await;
    alice.join(chat_id).await;
    alice.serve_key_request().await;

    let mut bob_phone = Device::ready(&t, addr, bob_id, &bob_token).await;
    let mut bob_laptop = Device::ready(&t, addr, bob_id, &bob_second_token).await;
    assert_ne!(bob_phone.device_id, bob_laptop.device_id);
    bob_phone.join(chat_id).await;
    assert_system(&bob_phone.next("message:new").await, chat_id, "ubob joined the chat");
    let request = alice.serve_key_request().await;
    assert_eq!(request["devices"], json!([bob_phone.named()]));
    bob_phone.next("room:key").await;

    // Bob's second device joins: the room lists it under Bob, after his first; the earliest-joined
    // holder, Alice, hands the key over.
    let joined = bob_laptop.join(chat_id).await;
    assert_eq!(
        roster(&joined["members"]),
        json!([
            entry(alice_id, "owner", &[&alice]),
            entry(bob_id, "member", &[&bob_phone, &bob_laptop])
        ])
    );
    let members = bob_phone.next("room:members").await;
    assert_eq!(roster(&members["members"]), roster(&joined["members"]));
    let request = alice.serve_key_request().await;
    assert_eq!(request["generate"], false);
    assert_eq!(request["devices"], json!([bob_laptop.named()]));
    let blob = bob_laptop.next("room:key").await;
    assert_eq!(blob["from"], alice.named());
    // A second device of a present user is no entry: no join message.
    bob_phone.no_pending(&["message:new"]).await;

    let texts = ["one from alice", "two from bob's phone", "three from bob's laptop"];
    alice.send(chat_id, texts[0]).await;
    bob_phone.send(chat_id, texts[1]).await;
    bob_laptop.send(chat_id, texts[2]).await;
    for device in [&mut alice, &mut bob_phone, &mut bob_laptop] {
        device.reads(chat_id, &texts).await;
    }
    let r = bob_laptop.history(chat_id, "").await;
    let user_messages: Vec<Value> = r.assert_ok()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["type"] == "user")
        .cloned()
        .collect();
    assert_eq!(user_messages.len(), 3);
    for device in [&alice, &bob_phone, &bob_laptop] {
        let read: Vec<String> = user_messages.iter().map(|m| device.decrypt(m)).collect();
        assert_eq!(read, texts);
    }
    // The sender of both of Bob's messages is Bob, whichever device sent them.
    assert_eq!(user_messages[1]["sender"]["id"], bob_id);
    assert_eq!(user_messages[2]["sender"]["id"], bob_id);
});
