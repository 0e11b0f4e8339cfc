//! The queue and the pairing (§3, §8.2–8.4): who is paired with whom, the slots, and every
//! refusal of the enqueue.

use super::*;
use crate::common::{assert_error_fields, rfc3339, HOUR, SECOND};
use portal::action_type::ActionType;

both_backends!(
    two_callers_sharing_a_tag_are_paired_and_talk_encrypted,
    |t: TestApp| async move {
        let p = People::new(&t).await;
        let addr = t.listen().await;
        let (alice_id, alice_token) = p.at("alice", 0).await;
        let (bob_id, bob_token) = p.at("bob", 0).await;
        let (_, carol_token) = p.at("carol", 0).await;
        let mut alice = Device::ready(&t, addr, alice_id, &alice_token).await;
        let mut bob = Device::ready(&t, addr, bob_id, &bob_token).await;

        // Alice waits; duplicates are dropped, her order is kept.
        let now = t.app.now();
        let r = enqueue(&t, &alice_token, json!(["gaming", "music", "gaming"])).await;
        assert_eq!(
            r.assert_ok(),
            &json!({"state": "searching", "interests": ["gaming", "music"], "token": null,
                "expires_at": rfc3339(now + 600 * SECOND), "chats": [], "archived": []})
        );
        // Carol shares no tag with anyone and stays waiting.
        assert_eq!(
            enqueue(&t, &carol_token, json!(["chess"])).await.assert_ok()["state"],
            "searching"
        );

        // Bob's enqueue finds Alice at once.
        let r = enqueue(&t, &bob_token, json!(["art", "music"])).await;
        let bob_status = r.assert_ok().clone();
        assert_eq!(bob_status["state"], "matched");
        assert_eq!(bob_status["interests"], Value::Null);
        let chat = only_chat(&bob_status).clone();
        let chat_id = chat["chat_id"].as_i64().unwrap();
        let bob_match_token = chat["token"].as_str().unwrap().to_owned();
        assert_eq!(bob_status["token"], bob_match_token.as_str());
        assert_eq!(bob_status["expires_at"], rfc3339(now + 24 * HOUR * SECOND));
        assert_eq!(chat["expires_at"], bob_status["expires_at"]);
        assert_eq!(chat["matched_on"], json!(["music"]));
        assert_eq!(chat["peer_grace_until_ms"], Value::Null);
        assert_eq!(
            chat["peer"],
            json!({"username": "ualice", "avatar_url": null, "is_stranger": false, "country_code": null})
        );
        assert_eq!(bob_match_token.len(), 32);
        assert!(bob_match_token.bytes().all(|b| b.is_ascii_alphanumeric()));

        // Each side hears `match:found` with its own token and the other as peer.
        let found = alice.next("match:found").await;
        assert_eq!(keys(&found), ["chat_id", "expires_at", "matched_on", "peer", "token"]);
        assert_eq!(found["chat_id"], chat_id);
        assert_eq!(found["peer"]["username"], "ubob");
        assert_eq!(found["matched_on"], json!(["music"]));
        let alice_match_token = found["token"].as_str().unwrap().to_owned();
        assert_ne!(alice_match_token, bob_match_token);
        let found = bob.next("match:found").await;
        assert_eq!(found["token"], bob_match_token.as_str());
        assert_eq!(found["peer"]["username"], "ualice");

        let alice_status = status(&t, &alice_token).await;
        assert_eq!(alice_status["state"], "matched");
        assert_eq!(alice_status["token"], alice_match_token.as_str());
        assert_eq!(status(&t, &carol_token).await["state"], "searching");

        // Alice joins by id, Bob by his token; nobody posts a join message in a direct chat.
        let joined = alice.join(chat_id).await;
        assert_eq!(joined["epoch"], 1);
        alice.serve_key_request().await;
        let answer = bob.try_join(json!({"token": bob_match_token})).await;
        assert_eq!(answer["event"], "room:joined", "{answer}");
        assert_eq!(answer["data"]["chat_id"], chat_id);
        alice.serve_key_request().await;
        bob.next("room:key").await;
        assert!(bob.holds_key(chat_id, 1));
        bob.send(chat_id, "hi, a fellow music fan").await;
        alice.reads(chat_id, &["hi, a fellow music fan"]).await;

        let history = bob.history(chat_id, "").await;
        let messages = history.assert_ok()["messages"].as_array().unwrap().clone();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert_eq!(
            messages[0]["content"],
            "Chat started: ualice and ubob matched on music — say hi!"
        );
        assert_eq!(messages[0]["type"], "system");
        assert_eq!(messages[1]["sender"]["id"], bob_id);
        // The server holds only ciphertext.
        assert_eq!(
            t.count("SELECT COUNT(*) FROM chat_messages WHERE content LIKE '%music fan%'")
                .await,
            0
        );

        // Someone else's token, or a made-up one, names no chat.
        let answer = alice.try_join(json!({"token": bob_match_token})).await;
        assert_eq!(answer["event"], "room:error");
        assert_eq!(answer["data"]["code"], "ERR_CHAT_NOT_FOUND");
        assert_eq!(answer["data"]["chat_id"], Value::Null);
        let answer = alice.try_join(json!({"token": "x".repeat(32)})).await;
        assert_eq!(answer["data"]["code"], "ERR_CHAT_NOT_FOUND");
        let answer = alice
            .try_join(json!({"token": alice_match_token, "chat_id": chat_id}))
            .await;
        assert_eq!(answer["data"]["code"], "ERR_VALIDATION");

        // A fourth caller on Carol's tag is paired with her, not with anyone else.
        let (_, dave_token) = p.at("dave", 0).await;
        let r = enqueue(&t, &dave_token, json!(["chess", "music"])).await;
        assert_eq!(r.assert_ok()["state"], "matched");
        assert_eq!(only_chat(r.assert_ok())["peer"]["username"], "ucarol");
        assert_eq!(only_chat(r.assert_ok())["matched_on"], json!(["chess"]));
    }
);

both_backends!(the_earliest_waiting_caller_wins_across_tags, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (_, first) = p.at("first", 0).await;
    let (_, second) = p.at("second", 0).await;
    let (_, third) = p.at("third", 0).await;
    enqueue(&t, &first, json!(["movies"])).await.assert_ok();
    t.clock.advance_secs(1);
    enqueue(&t, &second, json!(["music"])).await.assert_ok();
    t.clock.advance_secs(1);
    // Third shares a tag with both; the one who waited longer wins, whatever the tag order.
    let r = enqueue(&t, &third, json!(["music", "movies"])).await;
    assert_eq!(only_chat(r.assert_ok())["peer"]["username"], "ufirst");
    assert_eq!(status(&t, &second).await["state"], "searching");
});

both_backends!(
    slots_hold_one_chat_for_free_callers_and_three_for_subscribers,
    |t: TestApp| async move {
        let p = People::new(&t).await;
        let (_, free) = p.at("free", 0).await;
        let (_, premium) = p.premium("premium", 24 * HOUR).await;
        let mut partners = Vec::new();
        for i in 0..4 {
            partners.push(p.at(&format!("partner{i}"), 0).await.1);
        }
        // A free caller holds one chat; with it in use the enqueue is refused.
        enqueue(&t, &free, json!(["music"])).await.assert_ok();
        enqueue(&t, &partners[0], json!(["music"])).await.assert_ok();
        let r = enqueue(&t, &free, json!(["music"])).await;
        assert_error_fields(&r, 409, "ERR_MATCH_SLOT_LIMIT", &["limit"]);
        assert_eq!(r.body["limit"], 1);
        assert_eq!(r.body["error"], "All your direct chat slots are in use");

        // A subscriber holds three, and may search while in a chat.
        for partner in &partners[1..4] {
            let r = enqueue(&t, &premium, json!(["books"])).await;
            assert_eq!(r.assert_ok()["state"], "searching");
            let r = enqueue(&t, partner, json!(["books"])).await;
            assert_eq!(r.assert_ok()["state"], "matched");
            let mine = status(&t, &premium).await;
            assert_eq!(mine["state"], "matched");
        }
        let mine = status(&t, &premium).await;
        assert_eq!(mine["chats"].as_array().unwrap().len(), 3);
        // Oldest first; `token` is the newest chat's.
        assert_eq!(mine["token"], mine["chats"][2]["token"]);
        let r = enqueue(&t, &premium, json!(["books"])).await;
        assert_error_fields(&r, 409, "ERR_MATCH_SLOT_LIMIT", &["limit"]);
        assert_eq!(r.body["limit"], 3);
    }
);

both_backends!(a_pair_is_never_in_two_active_chats_at_once, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (_, a) = p.premium("a", 24 * HOUR).await;
    let (_, b) = p.premium("b", 24 * HOUR).await;
    enqueue(&t, &a, json!(["music"])).await.assert_ok();
    assert_eq!(enqueue(&t, &b, json!(["music"])).await.assert_ok()["state"], "matched");
    enqueue(&t, &a, json!(["music"])).await.assert_ok();
    let r = enqueue(&t, &b, json!(["music"])).await;
    assert_eq!(r.assert_ok()["state"], "searching", "{}", r.body);
    // Someone new is paired with the one waiting longer.
    let (_, c) = p.at("c", 0).await;
    let r = enqueue(&t, &c, json!(["music"])).await;
    assert_eq!(only_chat(r.assert_ok())["peer"]["username"], "ua");
});

both_backends!(
    enqueue_refusals_come_in_the_order_of_the_contract,
    |t: TestApp| async move {
        let p = People::new(&t).await;
        let (user_id, token) = p.at("caller", 0).await;
        let bad = |interests: Value| {
            let t = &t;
            let token = token.clone();
            async move { t.post("/v1/portal/match").cookie(&token).json(interests).send().await }
        };
        let cases = [
            (json!({}), "ERR_VALIDATION", "interests", "interests is required"),
            (
                json!({"interests": null}),
                "ERR_VALIDATION",
                "interests",
                "interests is required",
            ),
            (
                json!({"interests": "music"}),
                "ERR_VALIDATION",
                "interests",
                "interests must be an array",
            ),
            (
                json!({"interests": []}),
                "ERR_VALIDATION",
                "interests",
                "interests must have at least 1 items",
            ),
            (
                json!({"interests": ["aaa", "bbb", "ccc", "ddd"]}),
                "ERR_VALIDATION",
                "interests",
                "interests must have at most 3 items",
            ),
            (
                json!({"interests": ["music", 7]}),
                "ERR_VALIDATION",
                "interests[1]",
                "interests[1] must be a string",
            ),
            (
                json!({"interests": ["Gaming"]}),
                "ERR_MATCH_UNSUPPORTED_INTEREST",
                "interests[0]",
                "interests[0] must be 3 to 12 lower-case letters or digits",
            ),
            (
                json!({"interests": ["music", " gaming"]}),
                "ERR_MATCH_UNSUPPORTED_INTEREST",
                "interests[1]",
                "interests[1] must be 3 to 12 lower-case letters or digits",
            ),
            (
                json!({"interests": ["ab"]}),
                "ERR_MATCH_UNSUPPORTED_INTEREST",
                "interests[0]",
                "interests[0] must be 3 to 12 lower-case letters or digits",
            ),
            (
                json!({"interests": ["abcdefghijklm"]}),
                "ERR_MATCH_UNSUPPORTED_INTEREST",
                "interests[0]",
                "interests[0] must be 3 to 12 lower-case letters or digits",
            ),
            // The first failing item decides.
            (
                json!({"interests": ["BAD", 1]}),
                "ERR_MATCH_UNSUPPORTED_INTEREST",
                "interests[0]",
                "interests[0] must be 3 to 12 lower-case letters or digits",
            ),
        ];
        for (body, code, field, message) in cases {
            let r = bad(body.clone()).await;
            assert_error_fields(&r, 400, code, &["field"]);
            assert_eq!(r.body["field"], field, "{body}");
            assert_eq!(r.body["error"], message, "{body}");
        }
        assert_eq!(t.count("SELECT COUNT(*) FROM match_entries").await, 0);

        // Already searching.
        enqueue(&t, &token, json!(["music"])).await.assert_ok();
        let r = enqueue(&t, &token, json!(["art"])).await;
        assert_error_fields(&r, 409, "ERR_MATCH_ALREADY_SEARCHING", &[]);
        assert_eq!(r.body["error"], "Already searching for a match");
        let r = t.post("/v1/portal/match/dequeue").cookie(&token).send().await;
        assert_eq!(r.assert_ok()["state"], "idle");

        // Hard-muted: refused with the mute's end.
        let end = t.put_in_force(user_id, ActionType::PlatformMute, Some(HOUR)).await;
        let r = enqueue(&t, &token, json!(["music"])).await;
        assert_error_fields(&r, 403, "ERR_HARD_MUTED", &["expires_at"]);
        assert_eq!(r.body["expires_at"], rfc3339(end.unwrap()));

        // Timed out: refused before the body is read; the queue entry of a timeout goes with it.
        let (other_id, other) = p.at("other", 0).await;
        enqueue(&t, &other, json!(["music"])).await.assert_ok();
        let end = t.time_out(other_id, 600).await;
        let r = t
            .post("/v1/portal/match")
            .cookie(&other)
            .json(json!({"interests": 5}))
            .send()
            .await;
        assert_error_fields(&r, 403, "ERR_ACCOUNT_TIMED_OUT", &["expires_at"]);
        assert_eq!(r.body["expires_at"], rfc3339(end));
        // Status, dequeue, leave stay open to a timed-out caller.
        status(&t, &other).await;
        t.post("/v1/portal/match/dequeue")
            .cookie(&other)
            .send()
            .await
            .assert_ok();
        let r = t.post("/v1/portal/match/leave").cookie(&other).send().await;
        assert_error_fields(&r, 404, "ERR_MATCH_NO_ACTIVE_DIRECT", &[]);

        // No session; a foreign origin.
        let r = t
            .post("/v1/portal/match")
            .json(json!({"interests": ["music"]}))
            .send()
            .await;
        assert_error_fields(&r, 401, "ERR_AUTH_REQUIRED", &[]);
        let r = t
            .post("/v1/portal/match")
            .cookie(&token)
            .header("origin", "https://evil.example")
            .json(json!({"interests": ["music"]}))
            .send()
            .await;
        assert_error_fields(&r, 403, "ERR_FORBIDDEN", &[]);
    }
);

both_backends!(
    a_timeout_through_the_api_takes_the_caller_out_of_the_queue,
    |t: TestApp| async move {
        let p = People::new(&t).await;
        let (_, admin) = p.at("admin", 2).await;
        let (user_id, token) = p.at("user", 0).await;
        enqueue(&t, &token, json!(["music"])).await.assert_ok();
        let r = t
            .post(&format!("/v1/admin/users/{user_id}/timeout"))
            .cookie(&admin)
            .json(json!({"duration": 600, "reason": "cool down"}))
            .send()
            .await;
        r.assert_ok();
        assert_eq!(status(&t, &token).await["state"], "idle");
    }
);

both_backends!(
    dequeue_is_idempotent_and_status_is_a_pure_read,
    |t: TestApp| async move {
        let p = People::new(&t).await;
        let (_, token) = p.at("user", 0).await;
        let idle =
            json!({"state": "idle", "interests": null, "token": null, "expires_at": null, "chats": [], "archived": []});
        assert_eq!(status(&t, &token).await, idle);
        let r = t.post("/v1/portal/match/dequeue").cookie(&token).send().await;
        assert_eq!(r.assert_ok(), &idle);
        enqueue(&t, &token, json!(["music"])).await.assert_ok();
        let first = status(&t, &token).await;
        t.clock.advance_secs(10);
        // Reading the status moves no deadline.
        assert_eq!(status(&t, &token).await["expires_at"], first["expires_at"]);
        let r = t.post("/v1/portal/match/dequeue").cookie(&token).send().await;
        assert_eq!(r.assert_ok(), &idle);
        let r = t.post("/v1/portal/match/dequeue").cookie(&token).send().await;
        assert_eq!(r.assert_ok(), &idle);
    }
);
