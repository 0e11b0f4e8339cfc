//! Strangers in matchmaking, and what keeps people safe: reports, pair blocks, stranger blocks, and
//! a stranger whose session ends.

use super::*;
use crate::common::{assert_error_fields, rfc3339, HOUR, SECOND};
use crate::strangers::new_stranger;

both_backends!(two_strangers_are_paired_talk_and_report, |t: TestApp| async move {
    let addr = t.listen().await;
    let (a_id, a_token) = new_stranger(&t).await;
    let (b_id, b_token) = new_stranger(&t).await;
    let mut a = Device::stranger(&t, addr, a_id, &a_token).await;
    let mut b = Device::stranger(&t, addr, b_id, &b_token).await;
    enqueue(&t, &a_token, json!(["gaming"])).await.assert_ok();
    let r = enqueue(&t, &b_token, json!(["gaming"])).await;
    let chat = only_chat(r.assert_ok()).clone();
    let chat_id = chat["chat_id"].as_i64().unwrap();
    let a_name = t.get("/v1/users/me").cookie(&a_token).send().await.assert_ok()["username"].clone();
    assert_eq!(
        chat["peer"],
        json!({"username": a_name, "avatar_url": null, "is_stranger": true, "country_code": null})
    );
    let found = a.next("match:found").await;
    assert_eq!(found["peer"]["is_stranger"], true);

    // They talk end to end encrypted, as everyone does.
    a.join(chat_id).await;
    a.serve_key_request().await;
    b.join(chat_id).await;
    a.serve_key_request().await;
    b.next("room:key").await;
    a.send(chat_id, "hello stranger").await;
    b.reads(chat_id, &["hello stranger"]).await;

    // A stranger sees no other chat.
    let r = t.get("/v1/portal/chats/999/history").cookie(&a_token).send().await;
    assert_error_fields(&r, 404, "ERR_CHAT_NOT_FOUND", &[]);

    // B reports A: once while the first is unhandled.
    let report = |body: Value| {
        let t = &t;
        let token = b_token.clone();
        async move { t.post("/v1/portal/match/report").cookie(&token).json(body).send().await }
    };
    for (body, field) in [
        (json!({"reason": "rude"}), "chat_id"),
        (json!({"chat_id": chat_id}), "reason"),
        (json!({"chat_id": chat_id, "reason": "   "}), "reason"),
        (json!({"chat_id": chat_id, "reason": "x".repeat(501)}), "reason"),
    ] {
        let r = report(body.clone()).await;
        assert_error_fields(&r, 400, "ERR_VALIDATION", &["field"]);
        assert_eq!(r.body["field"], field, "{body}");
    }
    let r = report(json!({"chat_id": chat_id + 100, "reason": "rude"})).await;
    assert_error_fields(&r, 404, "ERR_CHAT_NOT_FOUND", &[]);
    let r = report(json!({"chat_id": chat_id, "reason": "  Insults right after the greeting "})).await;
    let report_id = r.assert_ok()["report_id"].as_i64().unwrap();
    assert_eq!(r.body, json!({"message": "Report received", "report_id": report_id}));
    let r = report(json!({"chat_id": chat_id, "reason": "again"})).await;
    assert_error_fields(&r, 409, "ERR_MATCH_ALREADY_REPORTED", &[]);
    assert_eq!(r.body["error"], "You already reported this chat");
    // A report ends nothing.
    assert_eq!(status(&t, &a_token).await["state"], "matched");

    let p = People::new(&t).await;
    let (_, moderator) = p.at("moderator", 1).await;
    let r = t.get("/v1/admin/match/reports").cookie(&moderator).send().await;
    let listed = r.assert_ok()["reports"][0].clone();
    assert_eq!(listed["id"], report_id);
    assert_eq!(listed["reason"], "Insults right after the greeting");
    assert_eq!(listed["matched_on"], json!(["gaming"]));
    assert_eq!(listed["reporter"]["user_id"], b_id);
    assert_eq!(
        listed["reported"],
        json!({"user_id": a_id, "username": a_name, "is_stranger": true, "country_code": null})
    );
    let r = t
        .post(&format!("/v1/admin/match/reports/{report_id}/handle"))
        .cookie(&moderator)
        .json(json!({"note": "warned"}))
        .send()
        .await;
    r.assert_ok();
    // Once handled, the chat may be reported again.
    report(json!({"chat_id": chat_id, "reason": "again"})).await.assert_ok();
});

both_backends!(
    a_stranger_block_covers_the_stranger_and_its_address_group,
    |t: TestApp| async move {
        let p = People::new(&t).await;
        let (_, moderator) = p.at("moderator", 1).await;
        let (blocked_id, blocked) = new_stranger(&t).await;
        let (_, neighbour) = new_stranger(&t).await;
        let (_, registered) = p.at("registered", 0).await;
        enqueue(&t, &blocked, json!(["music"])).await.assert_ok();
        let r = t
            .post(&format!("/v1/admin/strangers/{blocked_id}/block"))
            .cookie(&moderator)
            .json(json!({"reason": "harassment", "duration": 3600}))
            .send()
            .await;
        let block_id = r.assert_ok()["block"]["id"].as_i64().unwrap();
        let end = rfc3339(t.app.now() + HOUR * SECOND);
        // The entry went with the block.
        assert_eq!(status(&t, &blocked).await["state"], "idle");
        for token in [&blocked, &neighbour] {
            let r = enqueue(&t, token, json!(["music"])).await;
            assert_error_fields(&r, 403, "ERR_STRANGER_BLOCKED", &["expires_at"]);
            assert_eq!(r.body["expires_at"], end);
            assert_eq!(r.body["error"], "Blocked from matchmaking");
        }
        // Registered users on the same network are not affected.
        assert_eq!(
            enqueue(&t, &registered, json!(["music"])).await.assert_ok()["state"],
            "searching"
        );
        let r = t
            .post(&format!("/v1/admin/strangers/blocks/{block_id}/lift"))
            .cookie(&moderator)
            .json(json!({"reason": "shared network"}))
            .send()
            .await;
        r.assert_ok();
        assert_eq!(
            enqueue(&t, &neighbour, json!(["music"])).await.assert_ok()["state"],
            "matched"
        );
    }
);

both_backends!(a_stranger_who_logs_out_leaves_its_chats, |t: TestApp| async move {
    let p = People::new(&t).await;
    let addr = t.listen().await;
    let (alice_id, alice_token) = p.at("alice", 0).await;
    let mut alice = Device::ready(&t, addr, alice_id, &alice_token).await;
    let (_, stranger) = new_stranger(&t).await;
    enqueue(&t, &alice_token, json!(["music"])).await.assert_ok();
    let r = enqueue(&t, &stranger, json!(["music"])).await;
    let chat_id = only_chat(r.assert_ok())["chat_id"].as_i64().unwrap();
    alice.drain().await;
    t.post("/v1/authentication/logout")
        .cookie(&stranger)
        .send()
        .await
        .assert_ok();
    assert_eq!(
        alice.next("room:peer_left").await,
        json!({"chat_id": chat_id, "grace_until_ms": 0})
    );
    assert_eq!(alice.next("room:ended").await["reason"], "left");
    assert_eq!(status(&t, &alice_token).await["archived"][0]["chat_id"], chat_id);
});

both_backends!(
    a_stranger_whose_session_expires_while_away_leaves_at_the_expiry,
    |config: &mut portal::config::Config| config.stranger.session_ttl_s = 120,
    |t: TestApp| async move {
        let addr = t.listen().await;
        let p = People::new(&t).await;
        let (alice_id, alice_token) = p.at("alice", 0).await;
        let mut alice = Device::ready(&t, addr, alice_id, &alice_token).await;
        let (stranger_id, stranger_token) = new_stranger(&t).await;
        let me = t.get("/v1/users/me").cookie(&stranger_token).send().await;
        let name = me.assert_ok()["username"].as_str().unwrap().to_owned();
        let stranger = Device::stranger(&t, addr, stranger_id, &stranger_token).await;
        enqueue(&t, &alice_token, json!(["music"])).await.assert_ok();
        let r = enqueue(&t, &stranger_token, json!(["music"])).await;
        let chat_id = only_chat(r.assert_ok())["chat_id"].as_i64().unwrap();
        alice.next("match:found").await;

        // The stranger goes away 100 s into a 120-s session: its 60-s reconnect grace would run
        // past the expiry, but nobody can come back on an expired session.
        t.clock.advance_secs(100);
        stranger.close().await;
        recorded_away(&t, stranger_id).await;
        t.clock.advance_secs(10);
        sweep(&t).await;
        assert!(alice.next("room:peer_left").await["grace_until_ms"].as_i64().unwrap() > 0);
        t.clock.advance_secs(9);
        sweep(&t).await;
        assert_eq!(status(&t, &alice_token).await["state"], "matched");
        t.clock.advance_secs(1);
        sweep(&t).await;
        assert_eq!(alice.next("room:ended").await["reason"], "left");
        let history = alice.history(chat_id, "").await;
        let messages = history.assert_ok()["messages"].as_array().unwrap().clone();
        assert_eq!(messages.last().unwrap()["content"], format!("{name} left the chat"));
        assert_eq!(end_reason(&t, chat_id).await.as_deref(), Some("left"));
    }
);
