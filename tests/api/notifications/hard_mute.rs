//! The portal status and the hard mute.

use super::*;

both_backends!(hard_mute_and_unmute_follow_the_hierarchy, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (admin_id, admin) = p.at("admin", 2).await;
    let (other_admin_id, other_admin) = p.at("other-admin", 2).await;
    let (_, moderator) = p.at("moderator", 1).await;
    let (owner_id, owner) = p.at("owner", 3).await;
    let (second_owner_id, _) = p.at("second-owner", 3).await;
    let (alice_id, alice) = p.at("alice", 0).await;
    let (mod_target_id, mod_target) = p.at("mod-target", 1).await;
    let mute = "/v1/portal/hard-mute";
    let unmute = "/v1/portal/hard-unmute";

    // Nobody is online without the realtime connection; nobody is muted yet.
    let status = get(&t, &alice, "/v1/portal/status").await;
    assert_eq!(
        status,
        json!({"online": 0, "users": [], "muted": false, "muted_until": null})
    );
    t.get("/v1/portal/status")
        .send()
        .await
        .assert_error(401, "ERR_AUTH_REQUIRED");

    // Refusals, in the order of checks; none changes anything.
    let before = footprint(&t).await;
    let r = t.post_as(&moderator, mute, json!({"user_id": alice_id})).await;
    r.assert_error(403, "ERR_INSUFFICIENT_PERMISSION");
    assert_eq!(r.body["error"], "Admin access required");
    t.post_as(&alice, unmute, json!({"user_id": alice_id}))
        .await
        .assert_error(403, "ERR_INSUFFICIENT_PERMISSION");
    for (body, field) in [
        (json!({}), "user_id"),
        (json!({"user_id": 0}), "user_id"),
        (json!({"user_id": "2"}), "user_id"),
        (json!({"user_id": alice_id, "duration": 86_401}), "duration"),
        (json!({"user_id": alice_id, "duration": -1}), "duration"),
        (json!({"user_id": alice_id, "duration": 60.5}), "duration"),
        (json!({"user_id": alice_id, "reason": "r".repeat(501)}), "reason"),
        (json!({"user_id": alice_id, "reason": 7}), "reason"),
    ] {
        let r = t.post_as(&admin, mute, body.clone()).await;
        r.assert_error(400, "ERR_VALIDATION");
        assert_eq!(r.body["field"], field, "{body}");
    }
    let r = t
        .post_as(&admin, unmute, json!({"user_id": alice_id, "reason": "r".repeat(501)}))
        .await;
    r.assert_error(400, "ERR_VALIDATION");
    assert_eq!(r.body["field"], "reason");
    for path in [mute, unmute] {
        t.post_as(&admin, path, json!({"user_id": 9999}))
            .await
            .assert_error(404, "ERR_USER_NOT_FOUND");
        t.post_as(&admin, path, json!({"user_id": admin_id}))
            .await
            .assert_error(400, "ERR_SELF_TARGET");
        t.post_as(&owner, path, json!({"user_id": owner_id}))
            .await
            .assert_error(400, "ERR_SELF_TARGET");
        t.post_as(&admin, path, json!({"user_id": other_admin_id}))
            .await
            .assert_error(403, "ERR_HIERARCHY");
        t.post_as(&admin, path, json!({"user_id": owner_id}))
            .await
            .assert_error(403, "ERR_HIERARCHY");
    }
    t.post(mute)
        .cookie(&admin)
        .header("origin", "https://evil.example")
        .json(json!({"user_id": alice_id}))
        .send()
        .await
        .assert_error(403, "ERR_FORBIDDEN");
    assert_eq!(footprint(&t).await, before);

    // A timed mute with a trimmed reason.
    let r = t
        .post_as(
            &admin,
            mute,
            json!({"user_id": alice_id, "duration": 3600, "reason": "  Spamming every chat "}),
        )
        .await;
    assert_eq!(r.assert_ok(), &json!({"ok": true}));
    let first_end = t.app.now() + HOUR * SECOND;
    let status = get(&t, &alice, "/v1/portal/status").await;
    assert_eq!(status["muted"], true);
    assert_eq!(status["muted_until"], rfc3339(first_end).as_str());
    // Only the caller's own mute shows.
    assert_eq!(get(&t, &admin, "/v1/portal/status").await["muted"], false);
    let rows = audits(&t, "USER_HARD_MUTE").await;
    let first_id = rows[0].3["action_id"].as_i64().unwrap();
    assert_eq!(
        rows,
        [(
            Some(admin_id),
            "user".to_owned(),
            Some(alice_id),
            json!({"action_id": first_id, "duration": 3600, "expires_at": rfc3339(first_end), "reason": "Spamming every chat"})
        )]
    );

    // A second, indefinite mute does not replace the first; the combined mute has no end.
    t.clock.advance_secs(10);
    t.post_as(
        &admin,
        mute,
        json!({"user_id": alice_id, "duration": 0, "reason": "   "}),
    )
    .await
    .assert_ok();
    let status = get(&t, &alice, "/v1/portal/status").await;
    assert_eq!(
        (status["muted"].clone(), status["muted_until"].clone()),
        (json!(true), Value::Null)
    );
    let second = audits(&t, "USER_HARD_MUTE").await[1].3.clone();
    let second_id = second["action_id"].as_i64().unwrap();
    assert_eq!(
        second,
        json!({"action_id": second_id, "duration": 0, "expires_at": null, "reason": null})
    );
    let actions = actions_of(&t, &owner, alice_id).await;
    assert_eq!(actions.len(), 2);
    assert_eq!(actions[0]["id"], second_id);
    assert_eq!(actions[0]["action_type"], "PLATFORM_MUTE");
    assert_eq!(actions[0]["chat_id"], Value::Null);
    assert_eq!(actions[0]["reason"], Value::Null);
    assert_eq!(actions[0]["expires_at"], Value::Null);
    assert_eq!(actions[0]["issued_by_id"], admin_id);
    assert_eq!(actions[1]["id"], first_id);
    assert_eq!(actions[1]["reason"], "Spamming every chat");
    // The target sees them among their punishments.
    let own = get(&t, &alice, "/v1/users/me/punishments").await;
    assert_eq!(own[0]["action_type"], "PLATFORM_MUTE");
    assert_eq!(own.as_array().unwrap().len(), 2);

    // Unmute lifts every hard mute in force, with one audit row.
    t.clock.advance_secs(5);
    t.post_as(&admin, unmute, json!({"user_id": alice_id, "reason": " appeal "}))
        .await
        .assert_ok();
    assert_eq!(get(&t, &alice, "/v1/portal/status").await["muted"], false);
    assert_eq!(
        audits(&t, "USER_HARD_UNMUTE").await,
        [(
            Some(admin_id),
            "user".to_owned(),
            Some(alice_id),
            json!({"action_ids": [first_id, second_id], "reason": "appeal"})
        )]
    );
    for action in actions_of(&t, &owner, alice_id).await {
        assert_eq!(action["is_lifted"], true);
        assert_eq!(action["lifted_by_id"], admin_id);
        assert_eq!(action["lifted_at"], now_text(&t).as_str());
    }
    // With nothing in force the answer is the same and nothing is written.
    let before = footprint(&t).await;
    assert_eq!(
        t.post_as(&admin, unmute, json!({"user_id": alice_id}))
            .await
            .assert_ok(),
        &json!({"ok": true})
    );
    assert_eq!(footprint(&t).await, before);

    // The default mute lasts 300 seconds and ends by itself.
    t.post_as(&admin, mute, json!({"user_id": mod_target_id}))
        .await
        .assert_ok();
    assert_eq!(audits(&t, "USER_HARD_MUTE").await[2].3["duration"], 300);
    assert_eq!(get(&t, &mod_target, "/v1/portal/status").await["muted"], true);
    t.clock.advance_secs(301);
    assert_eq!(get(&t, &mod_target, "/v1/portal/status").await["muted"], false);

    // Owners may act on Owners.
    t.post_as(&owner, mute, json!({"user_id": second_owner_id}))
        .await
        .assert_ok();
    t.post_as(&owner, unmute, json!({"user_id": second_owner_id}))
        .await
        .assert_ok();

    // A timed-out Admin may do neither.
    let until = t.time_out(other_admin_id, HOUR).await;
    for path in [mute, unmute] {
        let r = t.post_as(&other_admin, path, json!({"user_id": alice_id})).await;
        r.assert_error(403, "ERR_ACCOUNT_TIMED_OUT");
        assert_eq!(r.body["expires_at"], rfc3339(until).as_str());
    }
});
