//! The life of a direct chat (§4): leave, block, expiry, the reconnect grace, the archive and its
//! deletion, the queue's deadlines, and what the chat endpoints answer for a direct chat.

use super::*;
use crate::common::e2e::{bundle_of, chat_path};
use crate::common::{assert_error_fields, rfc3339, HOUR, SECOND};

both_backends!(
    a_leave_ends_the_chat_for_both_and_closes_its_room,
    |t: TestApp| async move {
        let p = People::new(&t).await;
        let addr = t.listen().await;
        let (chat_id, mut alice, mut bob) = paired(&t, &p, addr).await;
        alice.join(chat_id).await;
        alice.serve_key_request().await;
        bob.join(chat_id).await;
        alice.serve_key_request().await;
        bob.next("room:key").await;
        alice.drain().await;
        bob.drain().await;

        // Leave errors first: a chat that is not Bob's active one.
        let r = bob
            .post("/v1/portal/match/leave", json!({"chat_id": chat_id + 1000}))
            .await;
        assert_error_fields(&r, 404, "ERR_MATCH_NO_ACTIVE_DIRECT", &[]);
        assert_eq!(r.body["error"], "You are not in an active direct chat");
        let r = bob.post("/v1/portal/match/leave", json!({"chat_id": 0})).await;
        assert_error_fields(&r, 400, "ERR_VALIDATION", &["field"]);

        let r = bob.post("/v1/portal/match/leave", json!({})).await;
        assert_eq!(
            r.assert_ok(),
            &json!({"message": "Left direct chat", "chat_id": chat_id})
        );
        let now = t.app.now();
        let deletes_at = rfc3339(now + 24 * HOUR * SECOND);

        // Alice: the message, the peer's leave, the rotation, the end — in that order.
        let events = alice
            .expect_sequence(&["message:new", "room:peer_left", "room:epoch_changed", "room:ended"])
            .await;
        assert_eq!(events[0]["content"], "ubob left the chat");
        assert_eq!(events[1], json!({"chat_id": chat_id, "grace_until_ms": 0}));
        assert_eq!(events[2], json!({"chat_id": chat_id, "epoch": 2, "reason": "ended"}));
        assert_eq!(
            events[3],
            json!({"chat_id": chat_id, "reason": "left", "expires_at": deletes_at})
        );
        let ended = bob.next("room:ended").await;
        assert_eq!(ended["reason"], "left");

        // The room is closed: nothing can be sent, and nobody can join it again.
        let r = alice.send_content(chat_id, &bundle_of(2, b"anyone?")).await;
        assert_error_fields(&r, 403, "ERR_DIRECT_CHAT_ENDED", &[]);
        assert_eq!(r.body["error"], "This direct chat has ended");
        let answer = alice.try_join(json!({"chat_id": chat_id})).await;
        assert_eq!(answer["event"], "room:error");
        assert_eq!(answer["data"]["code"], "ERR_DIRECT_CHAT_ENDED");
        let blob = json!([{"user_id": bob.user_id, "device_id": bob.device_id, "public_key": bob.public_key,
                       "blob": Device::seal_for(&bob.public_key, &[7; 32])}]);
        let r = alice.upload(chat_id, 2, blob).await;
        assert_error_fields(&r, 403, "ERR_DIRECT_CHAT_ENDED", &[]);
        // No key material is left on the server for it.
        assert_eq!(
            t.count(&format!("SELECT COUNT(*) FROM key_blobs WHERE chat_id = {chat_id}"))
                .await,
            0
        );

        // The archive stays readable to both for a day; it no longer takes a slot.
        let history = alice.history(chat_id, "").await;
        let messages = history.assert_ok()["messages"].as_array().unwrap().clone();
        assert_eq!(messages.last().unwrap()["content"], "ubob left the chat");
        let mine = status(&t, &alice.token).await;
        assert_eq!(mine["state"], "idle");
        assert_eq!(mine["chats"], json!([]));
        assert_eq!(mine["archived"][0]["chat_id"], chat_id);
        assert_eq!(mine["archived"][0]["expires_at"], deletes_at);
        let r = alice.post("/v1/portal/match/leave", json!({})).await;
        assert_error_fields(&r, 404, "ERR_MATCH_NO_ACTIVE_DIRECT", &[]);
        assert_eq!(
            enqueue(&t, &alice.token, json!(["music"])).await.assert_ok()["state"],
            "searching"
        );

        // At `deletes_at` the chat is gone, for requests even before the sweep has deleted it.
        t.clock.advance_secs(24 * HOUR);
        assert_eq!(status(&t, &bob.token).await["archived"], json!([]));
        let r = bob.history(chat_id, "").await;
        assert_error_fields(&r, 404, "ERR_CHAT_NOT_FOUND", &[]);
        sweep(&t).await;
        assert_eq!(
            t.count(&format!("SELECT COUNT(*) FROM chats WHERE id = {chat_id}"))
                .await,
            0
        );
        assert_eq!(
            t.count(&format!("SELECT COUNT(*) FROM chat_messages WHERE chat_id = {chat_id}"))
                .await,
            0
        );
        assert_eq!(
            t.count(&format!(
                "SELECT COUNT(*) FROM direct_participants WHERE chat_id = {chat_id}"
            ))
            .await,
            0
        );
    }
);

both_backends!(leave_needs_the_chat_when_there_are_several, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (_, premium) = p.premium("premium", 24 * HOUR).await;
    let (_, one) = p.at("one", 0).await;
    let (_, two) = p.at("two", 0).await;
    enqueue(&t, &premium, json!(["music"])).await.assert_ok();
    enqueue(&t, &one, json!(["music"])).await.assert_ok();
    enqueue(&t, &premium, json!(["music"])).await.assert_ok();
    enqueue(&t, &two, json!(["music"])).await.assert_ok();
    let r = t
        .post("/v1/portal/match/leave")
        .cookie(&premium)
        .json(json!({}))
        .send()
        .await;
    assert_error_fields(&r, 400, "ERR_VALIDATION", &["field"]);
    assert_eq!(r.body["field"], "chat_id");
    assert_eq!(
        r.body["error"],
        "chat_id is required when you are in more than one direct chat"
    );
    let chats = status(&t, &premium).await["chats"].clone();
    let first = chats[0]["chat_id"].as_i64().unwrap();
    let r = t
        .post("/v1/portal/match/leave")
        .cookie(&premium)
        .json(json!({"chat_id": first}))
        .send()
        .await;
    assert_eq!(r.assert_ok()["chat_id"], first);
    assert_eq!(status(&t, &premium).await["chats"].as_array().unwrap().len(), 1);
    assert_eq!(status(&t, &one).await["archived"][0]["chat_id"], first);
});

both_backends!(
    a_chat_expires_at_its_deadline_before_and_after_the_sweep,
    |t: TestApp| async move {
        let p = People::new(&t).await;
        let addr = t.listen().await;
        let (chat_id, mut alice, mut bob) = paired(&t, &p, addr).await;
        alice.join(chat_id).await;
        alice.drain().await;
        bob.drain().await;
        let created = t.app.now();
        t.clock.advance_secs(24 * HOUR);
        // The deadline holds at once: archived, its deletion a day after the expiry.
        let mine = status(&t, &bob.token).await;
        assert_eq!(mine["state"], "idle");
        let deletes_at = rfc3339(created + 48 * HOUR * SECOND);
        assert_eq!(mine["archived"][0]["expires_at"], deletes_at);
        let r = alice.send_content(chat_id, &bundle_of(1, b"too late")).await;
        assert_error_fields(&r, 403, "ERR_DIRECT_CHAT_ENDED", &[]);

        sweep(&t).await;
        let events = alice
            .expect_sequence(&["message:new", "room:epoch_changed", "room:ended"])
            .await;
        assert_eq!(events[0]["content"], "Chat expired");
        assert_eq!(
            events[2],
            json!({"chat_id": chat_id, "reason": "expired", "expires_at": deletes_at})
        );
        assert_eq!(bob.next("room:ended").await["reason"], "expired");
        alice.no_pending(&["room:peer_left"]).await;
        // The end is dated at the deadline, not at the sweep.
        let ended_at = t
            .count(&format!("SELECT ended_at FROM chats WHERE id = {chat_id}"))
            .await;
        assert_eq!(ended_at, created + 24 * HOUR * SECOND);
        // A second sweep, as on another node, changes nothing.
        sweep(&t).await;
        alice.no_pending(&["message:new", "room:ended"]).await;
    }
);

both_backends!(
    a_peer_who_stays_away_ends_the_chat_and_one_who_returns_does_not,
    |t: TestApp| async move {
        let p = People::new(&t).await;
        let addr = t.listen().await;
        let (chat_id, mut alice, bob) = paired(&t, &p, addr).await;
        alice.drain().await;
        let bob_id = bob.user_id;
        let bob_token = bob.token.clone();
        bob.close().await;
        recorded_away(&t, bob_id).await;
        let away_since = t.app.now();

        // Within the leave grace nothing is said.
        t.clock.advance_secs(4);
        sweep(&t).await;
        alice.no_pending(&["room:peer_left"]).await;
        t.clock.advance_secs(2);
        sweep(&t).await;
        let deadline_ms = (away_since + 60 * SECOND) / 1000;
        assert_eq!(
            alice.next("room:peer_left").await,
            json!({"chat_id": chat_id, "grace_until_ms": deadline_ms})
        );
        assert_eq!(
            only_chat(&status(&t, &alice.token).await)["peer_grace_until_ms"],
            deadline_ms
        );

        // Bob's page reloads in time: Alice hears he is back.
        let mut bob = Device::new(&t, addr, bob_id, &bob_token).await;
        assert_eq!(alice.next("room:peer_returned").await, json!({"chat_id": chat_id}));
        assert_eq!(
            only_chat(&status(&t, &alice.token).await)["peer_grace_until_ms"],
            Value::Null
        );
        bob.drain().await;

        // He goes again and stays away past the reconnect grace: the chat ends at his deadline.
        bob.close().await;
        recorded_away(&t, bob_id).await;
        let away_since = t.app.now();
        t.clock.advance_secs(61);
        assert_eq!(status(&t, &alice.token).await["state"], "idle");
        sweep(&t).await;
        let ended = alice.next("room:ended").await;
        assert_eq!(ended["reason"], "disconnected");
        assert_eq!(
            ended["expires_at"],
            rfc3339(away_since + 60 * SECOND + 24 * HOUR * SECOND)
        );
        let history = alice.history(chat_id, "").await;
        let last = history.assert_ok()["messages"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(last["content"], "ubob disconnected");
    }
);

both_backends!(
    queue_entries_end_at_their_deadline_or_when_the_caller_stays_away,
    |t: TestApp| async move {
        let p = People::new(&t).await;
        let addr = t.listen().await;
        let (alice_id, alice_token) = p.at("alice", 0).await;
        let mut alice = Device::ready(&t, addr, alice_id, &alice_token).await;
        enqueue(&t, &alice_token, json!(["music", "art"])).await.assert_ok();
        t.clock.advance_secs(600);
        assert_eq!(status(&t, &alice_token).await["state"], "idle");
        sweep(&t).await;
        assert_eq!(
            alice.next("match:expired").await,
            json!({"interests": ["music", "art"], "reason": "timeout"})
        );
        assert_eq!(t.count("SELECT COUNT(*) FROM match_entries").await, 0);

        // Carol enqueues with no connection open: she has 30 seconds to open one.
        let (_, carol) = p.at("carol", 0).await;
        enqueue(&t, &carol, json!(["chess"])).await.assert_ok();
        t.clock.advance_secs(29);
        assert_eq!(status(&t, &carol).await["state"], "searching");
        t.clock.advance_secs(1);
        assert_eq!(status(&t, &carol).await["state"], "idle");
        // Nobody compatible can be paired with an entry that is gone.
        let (_, dave) = p.at("dave", 0).await;
        assert_eq!(
            enqueue(&t, &dave, json!(["chess"])).await.assert_ok()["state"],
            "searching"
        );
        sweep(&t).await;
        assert_eq!(t.count("SELECT COUNT(*) FROM match_entries").await, 1);
    }
);

both_backends!(a_blocked_peer_is_never_paired_again, |t: TestApp| async move {
    let p = People::new(&t).await;
    let addr = t.listen().await;
    let (chat_id, alice, mut bob) = paired(&t, &p, addr).await;
    bob.drain().await;
    let r = alice.post("/v1/portal/match/block", json!({"chat_id": chat_id})).await;
    assert_eq!(
        r.assert_ok(),
        &json!({"message": "Peer blocked", "chat_id": chat_id, "chat_ended": true})
    );
    // Bob sees a leave, never a block.
    assert_eq!(bob.next("room:peer_left").await["grace_until_ms"], 0);
    assert_eq!(bob.next("room:ended").await["reason"], "left");
    let history = bob.history(chat_id, "").await;
    let last = history.assert_ok()["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["content"], "ualice left the chat");

    // Blocking an archived chat again renews the block without ending anything.
    let r = alice.post("/v1/portal/match/block", json!({"chat_id": chat_id})).await;
    assert_eq!(r.assert_ok()["chat_ended"], false);
    // Bob may block too; someone who took no part may not.
    bob.post("/v1/portal/match/block", json!({"chat_id": chat_id}))
        .await
        .assert_ok();
    let (_, carol) = p.at("carol", 0).await;
    let r = t
        .post("/v1/portal/match/block")
        .cookie(&carol)
        .json(json!({"chat_id": chat_id}))
        .send()
        .await;
    assert_error_fields(&r, 404, "ERR_CHAT_NOT_FOUND", &[]);
    let r = t
        .post("/v1/portal/match/block")
        .cookie(&carol)
        .json(json!({}))
        .send()
        .await;
    assert_error_fields(&r, 400, "ERR_VALIDATION", &["field"]);

    enqueue(&t, &alice.token, json!(["music"])).await.assert_ok();
    let r = enqueue(&t, &bob.token, json!(["music"])).await;
    assert_eq!(r.assert_ok()["state"], "searching");
    let r = enqueue(&t, &carol, json!(["music"])).await;
    assert_eq!(only_chat(r.assert_ok())["peer"]["username"], "ualice");
});

both_backends!(a_ban_ends_the_banned_users_direct_chats, |t: TestApp| async move {
    let p = People::new(&t).await;
    let addr = t.listen().await;
    let (_, admin) = p.at("admin", 2).await;
    let (chat_id, mut alice, bob) = paired(&t, &p, addr).await;
    alice.drain().await;
    let r = t
        .post(&format!("/v1/admin/users/{}/ban", bob.user_id))
        .cookie(&admin)
        .json(json!({"reason": "abuse"}))
        .send()
        .await;
    r.assert_ok();
    assert_eq!(
        alice.next("room:peer_left").await,
        json!({"chat_id": chat_id, "grace_until_ms": 0})
    );
    assert_eq!(alice.next("room:ended").await["reason"], "left");
});

both_backends!(
    a_direct_chat_is_unknown_to_the_chat_endpoints,
    |t: TestApp| async move {
        let p = People::new(&t).await;
        let addr = t.listen().await;
        let (_, owner) = p.at("owner", 3).await;
        let (chat_id, alice, _bob) = paired(&t, &p, addr).await;
        let not_found = [
            ("POST", format!("/v1/portal/chats/{chat_id}/delete"), json!({})),
            ("POST", format!("/v1/portal/chats/{chat_id}/leave"), json!({})),
            ("POST", format!("/v1/portal/chats/{chat_id}/invites"), json!({})),
            ("POST", chat_path(chat_id, "messages/delete"), json!({"ids": ["1-0"]})),
            ("POST", chat_path(chat_id, "messages/delete-last"), json!({"count": 1})),
            ("POST", chat_path(chat_id, "clear"), json!({})),
            (
                "POST",
                chat_path(chat_id, "config/update"),
                json!({"history_visible": false}),
            ),
        ];
        for (_, path, body) in &not_found {
            let r = alice.post(path, body.clone()).await;
            assert_error_fields(&r, 404, "ERR_CHAT_NOT_FOUND", &[]);
        }
        // Staff neither: no admin act and no history.
        for (path, body) in [
            (format!("/v1/admin/chats/{chat_id}/update"), json!({"name": "renamed"})),
            (format!("/v1/admin/chats/{chat_id}/delete"), json!({})),
            (
                format!("/v1/admin/chats/{chat_id}/transfer"),
                json!({"new_owner_id": alice.user_id}),
            ),
        ] {
            let r = t.post(&path).cookie(&owner).json(body).send().await;
            assert_error_fields(&r, 404, "ERR_CHAT_NOT_FOUND", &[]);
        }
        let r = t.get(&chat_path(chat_id, "history")).cookie(&owner).send().await;
        assert_error_fields(&r, 404, "ERR_CHAT_NOT_FOUND", &[]);
        // The two admin reads show it to Admin+: the list only when asked for direct chats.
        let r = t.get("/v1/admin/chats").cookie(&owner).send().await;
        assert!(
            r.assert_ok()
                .as_array()
                .is_none_or(|list| list.iter().all(|c| c["id"] != chat_id)),
            "{}",
            r.body
        );
        let r = t.get("/v1/admin/chats?visibility=direct").cookie(&owner).send().await;
        let listed = r.assert_ok().clone();
        assert!(listed.to_string().contains(&format!("\"id\":{chat_id}")), "{listed}");
        let r = t.get(&format!("/v1/admin/chats/{chat_id}")).cookie(&owner).send().await;
        let detail = r.assert_ok();
        assert_eq!(detail["owner_id"], Value::Null);
        assert_eq!(detail["visibility"], "direct");
        assert_eq!(detail["member_count"], 2);

        // The participants' portal list carries it, with the peer.
        let r = t.get("/v1/portal/chats").cookie(&alice.token).send().await;
        let list = r.assert_ok().as_array().unwrap().clone();
        let direct = list
            .iter()
            .find(|c| c["id"] == chat_id)
            .expect("the direct chat is listed");
        assert_eq!(direct["chat_type"], "direct");
        assert_eq!(direct["visibility"], "direct");
        assert_eq!(direct["owner"], Value::Null);
        assert_eq!(direct["archived"], false);
        assert_eq!(direct["peer"]["username"], "ubob");
        assert!(direct["expires_at"].is_string());
        let r = t.get("/v1/users/me/chats").cookie(&alice.token).send().await;
        assert_eq!(r.header("x-total-count"), Some("1"));
        assert_eq!(
            r.assert_ok()[0],
            json!({"id": chat_id, "name": direct["name"], "is_public": false, "visibility": "direct",
               "created_at": direct_created_at(&t, chat_id).await, "chat_type": "direct", "archived": false,
               "expires_at": direct["expires_at"], "peer": direct["peer"]})
        );
        // Nobody else's list has it, and the public counts leave it out.
        let r = t.get("/v1/portal/chats").cookie(&owner).send().await;
        assert!(r.assert_ok().as_array().unwrap().iter().all(|c| c["id"] != chat_id));
        let r = t.get("/v1/statistics/chats").send().await;
        assert_eq!(r.assert_ok()["total_count"], 0);
    }
);

/// A chat's `created_at` as the API writes it.
async fn direct_created_at(t: &TestApp, chat_id: i64) -> String {
    rfc3339(
        t.count(&format!("SELECT created_at FROM chats WHERE id = {chat_id}"))
            .await,
    )
}

both_backends!(
    a_user_deleted_from_the_command_line_leaves_their_direct_chats_first,
    |t: TestApp| async move {
        let p = People::new(&t).await;
        let addr = t.listen().await;
        let (chat_id, alice, _bob) = paired(&t, &p, addr).await;
        let (deleted, _) = crate::common::process::cli(
            &t.app.config.effective_database_url(),
            &["user", "delete", "ubob", "--reason", "spam"],
        );
        assert_eq!(deleted["username"], "ubob");
        assert_eq!(end_reason(&t, chat_id).await.as_deref(), Some("left"));
        let history = alice.history(chat_id, "").await;
        let messages = history.assert_ok()["messages"].as_array().unwrap().clone();
        assert_eq!(messages.last().unwrap()["content"], "ubob left the chat");
        assert_eq!(status(&t, &alice.token).await["state"], "idle");
    }
);
