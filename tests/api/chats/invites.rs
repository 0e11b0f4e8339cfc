//! Invites: their uses and expiry, their input and limits, and chat bans that block them.

use super::*;

both_backends!(invites_round_trip_with_uses_and_expiry, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (owner_id, owner) = p.premium("owner", 24 * HOUR).await;
    let (alice_id, alice) = p.at("alice", 0).await;
    let (bob_id, bob) = p.at("bob", 0).await;
    let (_, carol) = p.at("carol", 0).await;
    let (_, admin) = p.at("admin", 2).await;
    let chat = create_private(&t, &owner, "movie-night").await;
    let chat_id = chat["id"].as_i64().unwrap();
    let invites_path = format!("/v1/portal/chats/{chat_id}/invites");

    // A private chat does not exist for outsiders.
    assert!(!visible_ids(&t, &alice).await.contains(&chat_id));
    t.get(&invites_path)
        .cookie(&alice)
        .send()
        .await
        .assert_error(404, "ERR_CHAT_NOT_FOUND");
    // Staff can see it but do not manage a private chat's invites.
    let r = t.get(&invites_path).cookie(&admin).send().await;
    r.assert_error(403, "ERR_NOT_CHAT_MODERATOR");
    assert_eq!(r.body["error"], "You cannot manage this chat's invites");

    let expires_text = rfc3339(t.app.now() + 2 * HOUR * SECOND);
    let r = t
        .post(&invites_path)
        .cookie(&owner)
        .json(json!({"max_uses": 2, "expires_at": expires_text}))
        .send()
        .await;
    let invite = r.assert_ok().clone();
    assert_eq!(
        keys(&invite),
        [
            "chat_id",
            "code",
            "created_at",
            "created_by_id",
            "expires_at",
            "max_uses",
            "uses"
        ]
    );
    let code = invite["code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 16);
    assert!(code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    assert_eq!(invite["chat_id"], chat_id);
    assert_eq!(invite["created_by_id"], owner_id);
    assert_eq!(invite["expires_at"], expires_text);
    assert_eq!(invite["uses"], 0);
    assert_eq!(invite["max_uses"], 2);

    // Alice joins; a second resolve changes nothing.
    let resolve = format!("/v1/portal/resolve/{code}");
    let r = t.post(&resolve).cookie(&alice).send().await;
    assert_eq!(r.assert_ok()["joined"], true);
    assert_eq!(r.body["chat"]["id"], chat_id);
    assert_eq!(r.body["chat"]["owner"]["id"], owner_id);
    let again = t.post(&resolve).cookie(&alice).send().await;
    assert_eq!(again.assert_ok()["joined"], false);
    // So does the owner's own resolve.
    assert_eq!(
        t.post(&resolve).cookie(&owner).send().await.assert_ok()["joined"],
        false
    );
    let listed = t.get(&invites_path).cookie(&owner).send().await;
    assert_eq!(listed.assert_ok()["invites"][0]["uses"], 1);
    assert!(visible_ids(&t, &alice).await.contains(&chat_id));
    // Members do not manage the private chat's invites.
    t.get(&invites_path)
        .cookie(&alice)
        .send()
        .await
        .assert_error(403, "ERR_NOT_CHAT_MODERATOR");
    t.post(&invites_path)
        .cookie(&alice)
        .send()
        .await
        .assert_error(403, "ERR_NOT_CHAT_MODERATOR");

    // Bob takes the last use; Carol finds the invite used up.
    assert_eq!(t.post(&resolve).cookie(&bob).send().await.assert_ok()["joined"], true);
    t.post(&resolve)
        .cookie(&carol)
        .send()
        .await
        .assert_error(404, "ERR_INVITE_NOT_FOUND");
    assert_eq!(
        t.get(&invites_path).cookie(&owner).send().await.assert_ok()["invites"],
        json!([])
    );
    assert_eq!(member_ids(&t, &admin, chat_id).await, [alice_id, bob_id]);

    // An invite that expires.
    let later = new_invite(
        &t,
        &owner,
        chat_id,
        json!({"expires_at": rfc3339(t.app.now() + 60 * SECOND)}),
    )
    .await;
    t.clock.advance_secs(61);
    t.post(&format!("/v1/portal/resolve/{later}"))
        .cookie(&carol)
        .send()
        .await
        .assert_error(404, "ERR_INVITE_NOT_FOUND");

    // A revoked invite is gone at once; its members stay.
    let open = new_invite(&t, &owner, chat_id, json!({})).await;
    let listed = t.get(&invites_path).cookie(&owner).send().await;
    assert_eq!(listed.assert_ok()["invites"][0]["code"], open.as_str());
    assert_eq!(listed.body["invites"][0]["expires_at"], Value::Null);
    assert_eq!(listed.body["invites"][0]["max_uses"], Value::Null);
    let revoke = format!("/v1/portal/chats/{chat_id}/invites/{open}/delete");
    let r = t.post(&revoke).cookie(&owner).send().await;
    assert_eq!(r.assert_ok()["message"], format!("Invite '{open}' revoked"));
    t.post(&revoke)
        .cookie(&owner)
        .send()
        .await
        .assert_error(404, "ERR_INVITE_NOT_FOUND");
    t.post(&format!("/v1/portal/resolve/{open}"))
        .cookie(&carol)
        .send()
        .await
        .assert_error(404, "ERR_INVITE_NOT_FOUND");
    // The expired invite is still stored and can be revoked too.
    t.post(&format!("/v1/portal/chats/{chat_id}/invites/{later}/delete"))
        .cookie(&owner)
        .send()
        .await
        .assert_ok();
    t.post("/v1/portal/resolve/NOT-A-CODE")
        .cookie(&carol)
        .send()
        .await
        .assert_error(404, "ERR_INVITE_NOT_FOUND");

    // Alice leaves; the owner cannot.
    let r = t
        .post(&format!("/v1/portal/chats/{chat_id}/leave"))
        .cookie(&alice)
        .send()
        .await;
    assert_eq!(r.assert_ok()["message"], "Left chat 'movie-night'");
    t.post(&format!("/v1/portal/chats/{chat_id}/leave"))
        .cookie(&alice)
        .send()
        .await
        .assert_error(404, "ERR_CHAT_NOT_FOUND");
    t.post(&format!("/v1/portal/chats/{chat_id}/leave"))
        .cookie(&owner)
        .send()
        .await
        .assert_error(400, "ERR_CHAT_OWNER_TARGET");
    assert_eq!(member_ids(&t, &admin, chat_id).await, [bob_id]);
    // None of this is audited.
    assert_eq!(
        t.count("SELECT COUNT(*) FROM audit_log WHERE event_type LIKE 'CHAT_%'")
            .await,
        0
    );
});

both_backends!(invite_input_and_limits, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (_, owner) = p.premium("owner", HOUR).await;
    let (_, moderator) = p.at("moderator", 1).await;
    let (_, admin) = p.at("admin", 2).await;
    let chat_id = create_private(&t, &owner, "party").await["id"].as_i64().unwrap();
    let path = format!("/v1/portal/chats/{chat_id}/invites");
    let past = rfc3339(t.app.now() - SECOND);
    let cases = [
        (
            json!({"expires_at": "tomorrow"}),
            "expires_at",
            "expires_at must be a valid timestamp",
        ),
        (
            json!({"expires_at": past}),
            "expires_at",
            "expires_at must be in the future",
        ),
        (
            json!({"max_uses": 0}),
            "max_uses",
            "max_uses must be between 1 and 1000000",
        ),
        (
            json!({"max_uses": 1_000_001}),
            "max_uses",
            "max_uses must be between 1 and 1000000",
        ),
        (json!({"max_uses": "5"}), "max_uses", "max_uses must be an integer"),
    ];
    for (body, field, message) in cases {
        let r = t.post(&path).cookie(&owner).json(body.clone()).send().await;
        r.assert_error(400, "ERR_VALIDATION");
        assert_eq!(r.body["field"], field, "{body}");
        assert_eq!(r.body["error"], message, "{body}");
    }
    // Validation comes before existence.
    t.post("/v1/portal/chats/999/invites")
        .cookie(&owner)
        .json(json!({"max_uses": 0}))
        .send()
        .await
        .assert_error(400, "ERR_VALIDATION");

    for _ in 0..20 {
        new_invite(&t, &owner, chat_id, json!({"max_uses": 1})).await;
    }
    t.post(&path)
        .cookie(&owner)
        .send()
        .await
        .assert_error(409, "ERR_INVITE_LIMIT");
    assert_eq!(t.count("SELECT COUNT(*) FROM chat_invites").await, 20);
    // A used-up invite no longer counts.
    let list = t.get(&path).cookie(&owner).send().await;
    let code = list.assert_ok()["invites"][0]["code"].as_str().unwrap().to_owned();
    t.post(&format!("/v1/portal/resolve/{code}"))
        .cookie(&moderator)
        .send()
        .await
        .assert_ok();
    new_invite(&t, &owner, chat_id, json!({})).await;

    // Invites of an official chat are managed by whoever outranks its owner.
    let official = create_official(&t, &admin, "Lobby", "lobby").await;
    let official_path = format!("/v1/portal/chats/{official}/invites");
    t.get(&official_path)
        .cookie(&moderator)
        .send()
        .await
        .assert_error(403, "ERR_NOT_CHAT_MODERATOR");
    let (_, owner3) = p.at("owner3", 3).await;
    t.get(&official_path).cookie(&owner3).send().await.assert_ok();
    new_invite(&t, &owner3, official, json!({})).await;
});

both_backends!(chat_bans_block_invites, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (_, owner) = p.premium("owner", HOUR).await;
    let (alice_id, alice) = p.at("alice", 0).await;
    let chat_id = create_private(&t, &owner, "club").await["id"].as_i64().unwrap();
    let code = new_invite(&t, &owner, chat_id, json!({})).await;
    let mut conn = t.conn().await;
    sqlx::query(
        "INSERT INTO moderation_actions (user_id, action_type, reason, chat_id, expires_at, created_at) \
         VALUES ($1, 'CHAT_BAN', 'no', $2, $3, $4)",
    )
    .bind(alice_id)
    .bind(chat_id)
    .bind(t.app.now() + 60 * SECOND)
    .bind(t.app.now())
    .execute(&mut *conn)
    .await
    .unwrap();
    drop(conn);
    let resolve = format!("/v1/portal/resolve/{code}");
    t.post(&resolve)
        .cookie(&alice)
        .send()
        .await
        .assert_error(403, "ERR_CHAT_BANNED");
    assert_eq!(t.count("SELECT COUNT(*) FROM chat_members").await, 0);
    assert_eq!(t.count("SELECT uses FROM chat_invites").await, 0);
    t.clock.advance_secs(61);
    assert_eq!(t.post(&resolve).cookie(&alice).send().await.assert_ok()["joined"], true);
});
