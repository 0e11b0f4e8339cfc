//! Rooms over the realtime connection (§2): `room:join` refusals in their order, joining again,
//! `room:leave`, the room limit and the order of answers.

use super::*;
use portal::action_type::ActionType;
use portal::config::Config;
use portal::store::history::NewModeration;

/// Checks a `room:error` frame for `event` and returns its data.
#[track_caller]
fn room_error(frame: &Value, event: &str, chat_id: Value, code: &str) -> Value {
    assert_eq!(frame["event"], "room:error", "{frame}");
    let data = frame["data"].clone();
    assert_eq!(data["event"], event, "{frame}");
    assert_eq!(data["chat_id"], chat_id, "{frame}");
    assert_eq!(data["code"], code, "{frame}");
    assert!(data["error"].is_string(), "{frame}");
    data
}

/// A `room:error` of `room:join` with `ERR_VALIDATION` and `message`; the `chat_id` is `null`
/// unless it could be read.
#[track_caller]
fn join_invalid(frame: &Value, chat_id: Value, message: &str) {
    let data = room_error(frame, "room:join", chat_id, "ERR_VALIDATION");
    assert_eq!(data["error"], message, "{frame}");
}

both_backends!(join_refusals_come_in_order, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (chat_id, _, _) = alice_and_bob(&p).await;
    let (admin_id, admin_token) = p.at("admin", 2).await;
    let (carol_id, carol_token) = p.at("carol", 0).await;
    let (dave_id, dave_token) = p.at("dave", 0).await;
    let official = create_official(&t, &admin_token, "Lobby", "lobby").await;
    let addr = t.listen().await;
    let mut carol = Device::ready(&t, addr, carol_id, &carol_token).await;

    // ERR_VALIDATION.
    let answer = carol.try_join(Value::Null).await;
    room_error(&answer, "room:join", Value::Null, "ERR_VALIDATION");
    let answer = carol.try_join(json!("42")).await;
    room_error(&answer, "room:join", Value::Null, "ERR_VALIDATION");
    join_invalid(
        &carol.try_join(json!({})).await,
        Value::Null,
        "chat_id or token is required",
    );
    join_invalid(
        &carol.try_join(json!({"chat_id": official, "token": "abc"})).await,
        json!(official),
        "give chat_id or token, not both",
    );
    for bad in [json!(0), json!(-4), json!("42"), json!(1.5), json!(true)] {
        join_invalid(
            &carol.try_join(json!({ "chat_id": bad })).await,
            Value::Null,
            "chat_id must be a positive integer",
        );
    }

    // ERR_CHAT_NOT_FOUND: no such chat, one Carol may not see, a token not hers.
    let answer = carol.try_join(json!({"chat_id": 999_999})).await;
    room_error(&answer, "room:join", json!(999_999), "ERR_CHAT_NOT_FOUND");
    let answer = carol.try_join(json!({ "chat_id": chat_id })).await;
    room_error(&answer, "room:join", json!(chat_id), "ERR_CHAT_NOT_FOUND");
    let answer = carol.try_join(json!({"token": "not-a-match-token"})).await;
    room_error(&answer, "room:join", Value::Null, "ERR_CHAT_NOT_FOUND");

    // A visitor of an official chat joins; a staff visitor of a private one too.
    let joined = carol.join(official).await;
    let me = joined["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"]["id"] == carol_id)
        .unwrap()
        .clone();
    assert_eq!(me["membership"], "visitor");
    let mut admin = Device::ready(&t, addr, admin_id, &admin_token).await;
    let joined = admin.join(chat_id).await;
    assert_eq!(
        roster(&joined["members"]),
        json!([entry(admin_id, "visitor", &[&admin])])
    );

    // ERR_CHAT_BANNED: a chat ban in force.
    let now = t.app.now();
    let mut conn = t.conn().await;
    portal::store::history::insert_moderation(
        &mut conn,
        NewModeration {
            user_id: dave_id,
            action_type: ActionType::ChatBan,
            reason: Some("set up by the test"),
            chat_id: Some(official),
            issued_by_id: None,
            expires_at: None,
            now,
        },
    )
    .await
    .unwrap();
    drop(conn);
    let mut dave = Device::ready(&t, addr, dave_id, &dave_token).await;
    let answer = dave.try_join(json!({ "chat_id": official })).await;
    let data = room_error(&answer, "room:join", json!(official), "ERR_CHAT_BANNED");
    assert_eq!(data["error"], "You are banned from this chat");
    // Validation comes before the ban …
    join_invalid(
        &dave.try_join(json!({})).await,
        Value::Null,
        "chat_id or token is required",
    );

    // … and the timeout before everything: a timed-out user may connect but not join.
    let until = t.time_out(dave_id, 600).await;
    let mut dave = Device::new(&t, addr, dave_id, &dave_token).await;
    for (data, read) in [
        (json!({ "chat_id": official }), json!(official)),
        (json!({}), Value::Null),
        (Value::Null, Value::Null),
    ] {
        let answer = dave.try_join(data).await;
        let error = room_error(&answer, "room:join", read, "ERR_ACCOUNT_TIMED_OUT");
        assert_eq!(error["expires_at"], crate::common::rfc3339(until));
    }
    let answer = dave.try_join(json!({ "chat_id": official })).await;
    assert_eq!(answer["data"]["chat_id"], official);
    assert_eq!(
        keys(&answer["data"]),
        ["chat_id", "code", "error", "event", "expires_at"]
    );
});

both_backends!(joining_again_and_leaving, |t: TestApp| async move {
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
    alice.next("room:members").await;

    // Joining a joined room answers a fresh snapshot and changes nothing for anyone.
    let again = bob.join(chat_id).await;
    assert_eq!(again["epoch"], 1);
    assert_eq!(again["key"]["device_id"], bob.device_id.as_str());
    assert_eq!(
        roster(&again["members"]),
        json!([entry(alice_id, "owner", &[&alice]), entry(bob_id, "member", &[&bob])])
    );
    alice
        .no_pending(&["room:members", "message:new", "room:key_request"])
        .await;
    bob.no_pending(&["room:key_request", "room:key"]).await;

    // Leaving: the room hears of it, the leaver cannot send, and leaving again is fine.
    bob.leave(chat_id).await;
    let members = alice.next("room:members").await;
    assert_eq!(
        roster(&members["members"]),
        json!([entry(alice_id, "owner", &[&alice])])
    );
    let r = bob.send_at(chat_id, 1, "gone").await;
    assert_error_fields(&r, 403, "ERR_ROOM_NOT_JOINED", &[]);
    bob.leave(chat_id).await;
    bob.leave(999_999).await;
    let answer = bob.try_leave(json!({"chat_id": "x"})).await;
    let data = room_error(&answer, "room:leave", Value::Null, "ERR_VALIDATION");
    assert_eq!(data["error"], "chat_id must be a positive integer");
    let answer = bob.try_leave(json!({"chat_id": 0})).await;
    room_error(&answer, "room:leave", Value::Null, "ERR_VALIDATION");
    // Nothing rotated; messages sent while away are not pushed to Bob.
    alice.send(chat_id, "while bob is away").await;
    alice.reads(chat_id, &["while bob is away"]).await;
    bob.no_pending(&["message:new", "room:epoch_changed"]).await;

    // He comes back at the same epoch: his blob is in the snapshot, nothing is handed out, and
    // within a day there is no second join message.
    let joined = bob.join(chat_id).await;
    assert_eq!(joined["key"]["epoch"], 1);
    assert_eq!(joined["key"]["from"], alice.named());
    alice.next("room:members").await;
    alice.no_pending(&["room:key_request", "message:new"]).await;
    let r = bob.history(chat_id, "").await;
    let last = r.assert_ok()["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(bob.decrypt(&last), "while bob is away");
});

both_backends!(answers_come_in_the_order_of_the_requests, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (chat_id, (alice_id, alice_token), _) = alice_and_bob(&p).await;
    let addr = t.listen().await;
    let mut alice = Device::ready(&t, addr, alice_id, &alice_token).await;
    for frame in [
        json!({"event": "room:join", "data": {"chat_id": chat_id}}),
        json!({"event": "room:leave", "data": {"chat_id": chat_id}}),
        json!({"event": "room:join", "data": {"chat_id": 999_999}}),
        json!({"event": "room:join", "data": {"chat_id": chat_id}}),
    ] {
        alice.send_frame(frame).await;
    }
    let mut answers = Vec::new();
    while answers.len() < 4 {
        let frame = alice.next_any().await;
        let name = frame["event"].as_str().unwrap().to_owned();
        if ["room:joined", "room:left", "room:error"].contains(&name.as_str()) {
            answers.push((name, frame["data"]["chat_id"].clone()));
        }
    }
    assert_eq!(
        answers,
        [
            ("room:joined".to_owned(), json!(chat_id)),
            ("room:left".to_owned(), json!(chat_id)),
            ("room:error".to_owned(), json!(999_999)),
            ("room:joined".to_owned(), json!(chat_id)),
        ]
    );
});

fn two_rooms(config: &mut Config) {
    config.chats.max_rooms_per_connection = 2;
}

both_backends!(
    a_connection_joins_a_limited_number_of_rooms,
    two_rooms,
    |t: TestApp| async move {
        let p = People::new(&t).await;
        let (_, admin_token) = p.at("admin", 2).await;
        let (carol_id, carol_token) = p.at("carol", 0).await;
        let mut rooms = Vec::new();
        for (name, slug) in [("First", "first"), ("Second", "second"), ("Third", "third")] {
            rooms.push(create_official(&t, &admin_token, name, slug).await);
        }
        let addr = t.listen().await;
        let mut carol = Device::ready(&t, addr, carol_id, &carol_token).await;
        carol.join(rooms[0]).await;
        carol.join(rooms[1]).await;
        let answer = carol.try_join(json!({"chat_id": rooms[2]})).await;
        let data = room_error(&answer, "room:join", json!(rooms[2]), "ERR_ROOM_LIMIT");
        assert_eq!(data["error"], "Too many rooms joined on this connection");
        // Joining a joined room again counts nothing; another connection has its own limit.
        carol.join(rooms[1]).await;
        let mut tab = Device::new(&t, addr, carol_id, &carol_token).await;
        tab.join(rooms[2]).await;
        // Leaving frees a place.
        carol.leave(rooms[0]).await;
        carol.join(rooms[2]).await;
    }
);

both_backends!(many_devices_join_one_room_at_once, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (_, admin_token) = p.at("admin", 2).await;
    let official = create_official(&t, &admin_token, "Lobby", "lobby").await;
    let addr = t.listen().await;
    // More joins at once than the database pool has connections: none may hold one while it waits
    // for the room's lock, or the holder of the lock could not get one (a 503 for everybody).
    let mut devices = Vec::new();
    for i in 0..24 {
        let (id, token) = p.at(&format!("joiner{i}"), 0).await;
        devices.push(Device::ready(&t, addr, id, &token).await);
    }
    let joins = devices
        .iter_mut()
        .map(|device| device.try_join(json!({ "chat_id": official })));
    for answer in futures_util::future::join_all(joins).await {
        assert_eq!(answer["event"], "room:joined", "{answer}");
    }
    // A storm's member lists are merged (§2.6): everyone still learns the whole room within a
    // second of the last join.
    let last = devices.first_mut().unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let members = last.next("room:members").await;
        if members["members"].as_array().unwrap().len() == 24 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no complete member list");
    }
});
