//! Moderation inside a chat: who may act where, chat mutes, bans and kicks, and the portal-wide
//! timeouts and warnings issued from a chat.

use super::*;
use portal::action_type::ActionType;

both_backends!(chat_authority_follows_visibility_and_rank, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (_, admin) = p.at("admin", 2).await;
    let (_, moderator) = p.at("moderator", 1).await;
    let (other_mod_id, other_mod) = p.at("other-mod", 1).await;
    let (_, owner) = p.at("owner", 3).await;
    let (olivia_id, olivia) = p.at("olivia", 0).await;
    let (alice_id, alice) = p.at("alice", 0).await;
    let (bob_id, bob) = p.at("bob", 0).await;
    let public = public_chat(&t, olivia_id, &olivia, &admin, "olivias").await;
    let private = private_chat(&t, olivia_id, &olivia, "secret").await;
    let admins = create_official(&t, &admin, "admins-lobby", "admins-lobby").await;
    let owners = create_official(&t, &owner, "owners-lobby", "owners-lobby").await;
    join(&t, &olivia, public, &[&alice, &bob, &other_mod]).await;
    join(&t, &olivia, private, &[&alice, &other_mod]).await;
    let mute = |chat_id: i64| chat_path(chat_id, "mute");

    let before = footprint(&t).await;
    // Path and body validation (chat_id first), before existence.
    for raw in ["0", "abc", "-3"] {
        let r = t
            .post_as(&admin, &format!("/v1/portal/chats/{raw}/mute"), json!({}))
            .await;
        r.assert_error(400, "ERR_VALIDATION");
        assert_eq!(r.body["error"], "chat_id must be a positive integer");
    }
    for (body, field) in [
        (json!({}), "user_id"),
        (json!({"user_id": 0}), "user_id"),
        (json!({"user_id": alice_id, "duration": 86_401}), "duration"),
        (json!({"user_id": alice_id, "duration": "60"}), "duration"),
        (json!({"user_id": alice_id, "reason": "r".repeat(501)}), "reason"),
    ] {
        let r = t.post_as(&admin, &mute(9999), body.clone()).await;
        r.assert_error(400, "ERR_VALIDATION");
        assert_eq!(r.body["field"], field, "{body}");
    }
    // Existence: the chat, then the user. A private chat the caller cannot see does not exist.
    t.post_as(&admin, &mute(9999), json!({"user_id": alice_id}))
        .await
        .assert_error(404, "ERR_CHAT_NOT_FOUND");
    t.post_as(&moderator, &mute(private), json!({"user_id": alice_id}))
        .await
        .assert_error(404, "ERR_CHAT_NOT_FOUND");
    t.post_as(&admin, &mute(public), json!({"user_id": 9999}))
        .await
        .assert_error(404, "ERR_USER_NOT_FOUND");
    // Relations: self, then the owner as target, then authority, then the target rule.
    t.post_as(&alice, &mute(public), json!({"user_id": alice_id}))
        .await
        .assert_error(400, "ERR_SELF_TARGET");
    let r = t.post_as(&admin, &mute(public), json!({"user_id": olivia_id})).await;
    r.assert_error(400, "ERR_CHAT_OWNER_TARGET");
    assert_eq!(r.body["error"], "The chat owner cannot be targeted in their own chat");
    // A member without rank has no authority.
    let r = t.post_as(&alice, &mute(public), json!({"user_id": bob_id})).await;
    r.assert_error(403, "ERR_NOT_CHAT_MODERATOR");
    assert_eq!(r.body["error"], "You cannot moderate this chat");
    // A Moderator may not moderate a private chat, even as a member who can see it.
    t.post_as(&other_mod, &mute(private), json!({"user_id": alice_id}))
        .await
        .assert_error(403, "ERR_NOT_CHAT_MODERATOR");
    // Nor a chat whose owner is not below them.
    t.post_as(&moderator, &mute(admins), json!({"user_id": alice_id}))
        .await
        .assert_error(403, "ERR_NOT_CHAT_MODERATOR");
    t.post_as(&admin, &mute(owners), json!({"user_id": alice_id}))
        .await
        .assert_error(403, "ERR_NOT_CHAT_MODERATOR");
    // Authority over the chat, but the target is not below the Moderator.
    t.post_as(&moderator, &mute(public), json!({"user_id": other_mod_id}))
        .await
        .assert_error(403, "ERR_HIERARCHY");
    // The chat's owner acts on peers, not on anyone above them.
    t.post_as(&olivia, &mute(public), json!({"user_id": other_mod_id}))
        .await
        .assert_error(403, "ERR_HIERARCHY");
    t.post(&mute(public))
        .cookie(&admin)
        .header("origin", "https://evil.example")
        .json(json!({"user_id": alice_id}))
        .send()
        .await
        .assert_error(403, "ERR_FORBIDDEN");
    t.post(&mute(public))
        .json(json!({"user_id": alice_id}))
        .send()
        .await
        .assert_error(401, "ERR_AUTH_REQUIRED");
    assert_eq!(footprint(&t).await, before);

    // Allowed: the owner on a peer, a Moderator in a User's public chat, an Admin in a User's
    // private chat and in their own official chat, an Owner anywhere (even on a Moderator there).
    for (token, chat_id, target) in [
        (&olivia, public, alice_id),
        (&olivia, private, alice_id),
        (&moderator, public, bob_id),
        (&admin, private, other_mod_id),
        (&admin, admins, bob_id),
        (&owner, owners, other_mod_id),
        (&owner, public, other_mod_id),
    ] {
        let r = t.post_as(token, &mute(chat_id), json!({"user_id": target})).await;
        assert_eq!(r.assert_ok(), &json!({"ok": true}), "chat {chat_id} target {target}");
    }
    assert_eq!(audits(&t, "CHAT_MUTE").await.len(), 7);

    // A timed-out caller is refused before validation, on all seven actions.
    let (timed_id, timed) = p.at("timed-admin", 2).await;
    let until = t.time_out(timed_id, HOUR).await;
    let before = footprint(&t).await;
    for action in ["mute", "unmute", "ban", "unban", "kick", "timeout", "warn"] {
        let r = t
            .post_as(&timed, &format!("/v1/portal/chats/abc/{action}"), json!({}))
            .await;
        r.assert_error(403, "ERR_ACCOUNT_TIMED_OUT");
        assert_eq!(r.body["expires_at"], rfc3339(until).as_str());
    }
    assert_eq!(footprint(&t).await, before);
});

both_backends!(chat_mutes_accumulate_and_unmute_lifts_them, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (admin_id, admin) = p.at("admin", 2).await;
    let (_, owner) = p.at("owner", 3).await;
    let (olivia_id, olivia) = p.at("olivia", 0).await;
    let (alice_id, alice) = p.at("alice", 0).await;
    let (stranger_id, _) = p.at("stranger", 0).await;
    let chat = public_chat(&t, olivia_id, &olivia, &admin, "olivias").await;
    let other_chat = create_official(&t, &admin, "lobby", "lobby").await;
    join(&t, &olivia, chat, &[&alice]).await;

    // The owner mutes a member for 10 minutes with a reason, then again with no end.
    let r = t
        .post_as(
            &olivia,
            &chat_path(chat, "mute"),
            json!({"user_id": alice_id, "duration": 600, "reason": " Flooding "}),
        )
        .await;
    assert_eq!(r.assert_ok(), &json!({"ok": true}));
    let first_end = rfc3339(t.app.now() + 600 * SECOND);
    t.clock.advance_secs(1);
    t.post_as(
        &olivia,
        &chat_path(chat, "mute"),
        json!({"user_id": alice_id, "duration": 0}),
    )
    .await
    .assert_ok();
    // The default duration is 300 seconds; a non-member may be muted; other chats keep their own.
    t.post_as(&admin, &chat_path(chat, "mute"), json!({"user_id": stranger_id}))
        .await
        .assert_ok();
    t.post_as(&admin, &chat_path(other_chat, "mute"), json!({"user_id": alice_id}))
        .await
        .assert_ok();
    // A hard mute is separate.
    t.post_as(&admin, "/v1/portal/hard-mute", json!({"user_id": alice_id}))
        .await
        .assert_ok();

    let rows = audits(&t, "CHAT_MUTE").await;
    assert_eq!(rows.len(), 4);
    let first_id = rows[0].3["action_id"].as_i64().unwrap();
    let second_id = rows[1].3["action_id"].as_i64().unwrap();
    assert_eq!(
        rows[0],
        (
            Some(olivia_id),
            "chat".to_owned(),
            Some(chat),
            json!({"user_id": alice_id, "action_id": first_id, "reason": "Flooding", "duration": 600, "expires_at": first_end})
        )
    );
    assert_eq!(
        rows[1].3,
        json!({"user_id": alice_id, "action_id": second_id, "reason": null, "duration": 0, "expires_at": null})
    );
    assert_eq!(rows[2].3["duration"], 300);
    assert_eq!(rows[2].3["user_id"], stranger_id);
    let actions = actions_of(&t, &owner, alice_id).await;
    let in_chat: Vec<&Value> = actions.iter().filter(|a| a["chat_id"] == chat).collect();
    assert_eq!(in_chat.len(), 2);
    assert!(in_chat
        .iter()
        .all(|a| a["action_type"] == "CHAT_MUTE" && a["issued_by_id"] == olivia_id));

    // Unmute lifts both mutes of this chat only; the other chat's mute and the hard mute stay.
    t.clock.advance_secs(1);
    t.post_as(&admin, &chat_path(chat, "unmute"), json!({"user_id": alice_id}))
        .await
        .assert_ok();
    assert_eq!(
        audits(&t, "CHAT_UNMUTE").await,
        [(
            Some(admin_id),
            "chat".to_owned(),
            Some(chat),
            json!({"user_id": alice_id, "action_ids": [first_id, second_id]})
        )]
    );
    for action in actions_of(&t, &owner, alice_id).await {
        let lifted = action["chat_id"] == chat;
        assert_eq!(action["is_lifted"], lifted, "{action}");
        if lifted {
            assert_eq!(action["lifted_by_id"], admin_id);
        }
    }
    assert_eq!(get(&t, &alice, "/v1/portal/status").await["muted"], true);
    // Not muted any more: still ok, nothing written.
    let before = footprint(&t).await;
    t.post_as(&olivia, &chat_path(chat, "unmute"), json!({"user_id": alice_id}))
        .await
        .assert_ok();
    assert_eq!(footprint(&t).await, before);
    // Unmute has the same relation rules.
    t.post_as(&admin, &chat_path(chat, "unmute"), json!({"user_id": olivia_id}))
        .await
        .assert_error(400, "ERR_CHAT_OWNER_TARGET");
    t.post_as(&alice, &chat_path(chat, "unmute"), json!({"user_id": stranger_id}))
        .await
        .assert_error(403, "ERR_NOT_CHAT_MODERATOR");
    t.post_as(&admin, &chat_path(chat, "unmute"), json!({"user_id": "x"}))
        .await
        .assert_error(400, "ERR_VALIDATION");
    assert_eq!(footprint(&t).await, before);
});

both_backends!(chat_bans_remove_membership_and_block_joining, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (admin_id, admin) = p.at("admin", 2).await;
    let (_, owner) = p.at("owner", 3).await;
    let (olivia_id, olivia) = p.at("olivia", 0).await;
    let (alice_id, alice) = p.at("alice", 0).await;
    let chat = private_chat(&t, olivia_id, &olivia, "club").await;
    join(&t, &olivia, chat, &[&alice]).await;
    let code = t.post_as(&olivia, &chat_path(chat, "invites"), json!({})).await;
    let resolve = format!("/v1/portal/resolve/{}", code.assert_ok()["code"].as_str().unwrap());

    let before = footprint(&t).await;
    for (body, field) in [
        (json!({"user_id": alice_id, "duration": 2_592_001}), "duration"),
        (json!({"user_id": alice_id, "duration": -5}), "duration"),
        (json!({"user_id": alice_id, "reason": ["no"]}), "reason"),
    ] {
        let r = t.post_as(&olivia, &chat_path(chat, "ban"), body.clone()).await;
        r.assert_error(400, "ERR_VALIDATION");
        assert_eq!(r.body["field"], field, "{body}");
    }
    t.post_as(&admin, &chat_path(chat, "ban"), json!({"user_id": olivia_id}))
        .await
        .assert_error(400, "ERR_CHAT_OWNER_TARGET");
    t.post_as(&alice, &chat_path(chat, "ban"), json!({"user_id": olivia_id}))
        .await
        .assert_error(400, "ERR_CHAT_OWNER_TARGET");
    t.post_as(&alice, &chat_path(chat, "ban"), json!({"user_id": admin_id}))
        .await
        .assert_error(403, "ERR_NOT_CHAT_MODERATOR");
    t.post_as(&olivia, &chat_path(chat, "ban"), json!({"user_id": admin_id}))
        .await
        .assert_error(403, "ERR_HIERARCHY");
    assert_eq!(footprint(&t).await, before);

    // A permanent ban by default: the membership goes, the chat disappears for her, joining fails.
    let r = t
        .post_as(
            &olivia,
            &chat_path(chat, "ban"),
            json!({"user_id": alice_id, "reason": "Harassing"}),
        )
        .await;
    assert_eq!(r.assert_ok(), &json!({"ok": true}));
    assert!(!is_member(&t, chat, alice_id).await);
    let rows = audits(&t, "CHAT_BAN").await;
    let ban_id = rows[0].3["action_id"].as_i64().unwrap();
    assert_eq!(
        rows,
        [(
            Some(olivia_id),
            "chat".to_owned(),
            Some(chat),
            json!({"user_id": alice_id, "action_id": ban_id, "reason": "Harassing", "duration": 0, "expires_at": null})
        )]
    );
    t.post_as(&alice, &chat_path(chat, "leave"), json!({}))
        .await
        .assert_error(404, "ERR_CHAT_NOT_FOUND");
    t.post(&resolve)
        .cookie(&alice)
        .send()
        .await
        .assert_error(403, "ERR_CHAT_BANNED");
    // A timed ban accumulates next to it.
    t.post_as(
        &admin,
        &chat_path(chat, "ban"),
        json!({"user_id": alice_id, "duration": 60}),
    )
    .await
    .assert_ok();
    let timed = audits(&t, "CHAT_BAN").await[1].3.clone();
    assert_eq!(timed["duration"], 60);
    assert_eq!(timed["expires_at"], rfc3339(t.app.now() + 60 * SECOND).as_str());
    let timed_id = timed["action_id"].as_i64().unwrap();

    // Unban lifts every ban of the chat (lift reason stored), but does not restore membership.
    t.clock.advance_secs(2);
    t.post_as(
        &olivia,
        &chat_path(chat, "unban"),
        json!({"user_id": alice_id, "reason": " Appeal accepted "}),
    )
    .await
    .assert_ok();
    assert_eq!(
        audits(&t, "CHAT_UNBAN").await,
        [(
            Some(olivia_id),
            "chat".to_owned(),
            Some(chat),
            json!({"user_id": alice_id, "action_ids": [ban_id, timed_id], "reason": "Appeal accepted"})
        )]
    );
    let mut conn = t.conn().await;
    let reasons: Vec<(Option<String>,)> =
        sqlx::query_as("SELECT lift_reason FROM moderation_actions WHERE action_type = 'CHAT_BAN' ORDER BY id")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    drop(conn);
    assert_eq!(
        reasons,
        [
            (Some("Appeal accepted".to_owned()),),
            (Some("Appeal accepted".to_owned()),)
        ]
    );
    assert!(!is_member(&t, chat, alice_id).await);
    let actions = actions_of(&t, &owner, alice_id).await;
    assert_eq!(actions.len(), 2);
    assert!(actions
        .iter()
        .all(|a| a["action_type"] == "CHAT_BAN" && a["is_lifted"] == true));
    // Idempotent: unbanning again writes nothing.
    let before = footprint(&t).await;
    t.post_as(&olivia, &chat_path(chat, "unban"), json!({"user_id": alice_id}))
        .await
        .assert_ok();
    assert_eq!(footprint(&t).await, before);
    // She may join again with an invite.
    assert_eq!(t.post(&resolve).cookie(&alice).send().await.assert_ok()["joined"], true);

    // A timed ban ends by itself.
    t.post_as(
        &olivia,
        &chat_path(chat, "ban"),
        json!({"user_id": alice_id, "duration": 30}),
    )
    .await
    .assert_ok();
    t.post(&resolve)
        .cookie(&alice)
        .send()
        .await
        .assert_error(403, "ERR_CHAT_BANNED");
    t.clock.advance_secs(31);
    assert_eq!(t.post(&resolve).cookie(&alice).send().await.assert_ok()["joined"], true);
});

both_backends!(chat_kicks_need_a_member, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (admin_id, admin) = p.at("admin", 2).await;
    let (_, moderator) = p.at("moderator", 1).await;
    let (_, owner) = p.at("owner", 3).await;
    let (olivia_id, olivia) = p.at("olivia", 0).await;
    let (alice_id, alice) = p.at("alice", 0).await;
    let (bob_id, _) = p.at("bob", 0).await;
    let chat = public_chat(&t, olivia_id, &olivia, &admin, "olivias").await;
    join(&t, &olivia, chat, &[&alice]).await;
    let kick = chat_path(chat, "kick");

    let before = footprint(&t).await;
    t.post_as(&moderator, &kick, json!({"user_id": bob_id}))
        .await
        .assert_error(404, "ERR_NOT_CHAT_MEMBER");
    t.post_as(&moderator, &kick, json!({"user_id": olivia_id}))
        .await
        .assert_error(400, "ERR_CHAT_OWNER_TARGET");
    t.post_as(&alice, &kick, json!({"user_id": alice_id}))
        .await
        .assert_error(400, "ERR_SELF_TARGET");
    t.post_as(&alice, &kick, json!({"user_id": bob_id}))
        .await
        .assert_error(403, "ERR_NOT_CHAT_MODERATOR");
    let r = t
        .post_as(
            &moderator,
            &kick,
            json!({"user_id": alice_id, "reason": "r".repeat(501)}),
        )
        .await;
    r.assert_error(400, "ERR_VALIDATION");
    assert_eq!(r.body["field"], "reason");
    assert_eq!(footprint(&t).await, before);

    let r = t
        .post_as(
            &moderator,
            &kick,
            json!({"user_id": alice_id, "reason": "  off-topic "}),
        )
        .await;
    assert_eq!(r.assert_ok(), &json!({"ok": true}));
    assert!(!is_member(&t, chat, alice_id).await);
    let rows = audits(&t, "CHAT_KICK").await;
    let action_id = rows[0].3["action_id"].as_i64().unwrap();
    assert_eq!(rows[0].1, "chat");
    assert_eq!(rows[0].2, Some(chat));
    assert_eq!(
        rows[0].3,
        json!({"user_id": alice_id, "action_id": action_id, "reason": "off-topic", "route": "portal"})
    );
    let actions = actions_of(&t, &owner, alice_id).await;
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0]["id"], action_id);
    assert_eq!(actions[0]["action_type"], "CHAT_KICK");
    assert_eq!(actions[0]["chat_id"], chat);
    assert_eq!(actions[0]["expires_at"], Value::Null);
    assert_eq!(actions[0]["reason"], "off-topic");
    // Kicked again: no longer a member.
    t.post_as(&moderator, &kick, json!({"user_id": alice_id}))
        .await
        .assert_error(404, "ERR_NOT_CHAT_MEMBER");
    // The owner kicks too, and an empty reason is stored as none.
    join(&t, &olivia, chat, &[&alice]).await;
    t.post_as(&olivia, &kick, json!({"user_id": alice_id, "reason": ""}))
        .await
        .assert_ok();
    assert_eq!(audits(&t, "CHAT_KICK").await[1].3["reason"], Value::Null);
    assert_eq!(audits(&t, "CHAT_KICK").await[1].0, Some(olivia_id));
    // The admin kick of 60-chats keeps its own route name.
    join(&t, &olivia, chat, &[&alice]).await;
    t.post_as(
        &admin,
        &format!("/v1/admin/chats/{chat}/kick"),
        json!({"user_id": alice_id}),
    )
    .await
    .assert_ok();
    let rows = audits(&t, "CHAT_KICK").await;
    assert_eq!(
        (rows[2].0, rows[2].3["route"].clone()),
        (Some(admin_id), json!("admin"))
    );
});

both_backends!(chat_timeouts_and_warnings_are_portal_wide, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (admin_id, admin) = p.at("admin", 2).await;
    let (moderator_id, moderator) = p.at("moderator", 1).await;
    let (_, owner) = p.at("owner", 3).await;
    let (olivia_id, olivia) = p.at("olivia", 0).await;
    let (alice_id, alice) = p.at("alice", 0).await;
    let (mod_owner_id, mod_owner) = p.at("mod-owner", 1).await;
    let (peer_mod_id, _) = p.at("peer-mod", 1).await;
    let (banned_id, _) = p.at("banned", 0).await;
    let chat = public_chat(&t, olivia_id, &olivia, &admin, "olivias").await;
    let mod_chat = public_chat(&t, mod_owner_id, &mod_owner, &admin, "mods-corner").await;
    let timeout = chat_path(chat, "timeout");
    let warn = chat_path(chat, "warn");

    let before = footprint(&t).await;
    // Below Moderator: refused first, even for the chat's own owner and before validation.
    for path in [&timeout, &warn] {
        let r = t.post_as(&olivia, path, json!({})).await;
        r.assert_error(403, "ERR_INSUFFICIENT_PERMISSION");
        assert_eq!(r.body["error"], "Moderator access required");
    }
    for (body, field, message) in [
        (
            json!({"user_id": alice_id, "reason": "r"}),
            "duration",
            "duration is required",
        ),
        (
            json!({"user_id": alice_id, "duration": 59, "reason": "r"}),
            "duration",
            "duration must be between 60 and 2592000",
        ),
        (
            json!({"user_id": alice_id, "duration": 2_592_001, "reason": "r"}),
            "duration",
            "duration must be between 60 and 2592000",
        ),
        (
            json!({"user_id": alice_id, "duration": 60}),
            "reason",
            "reason is required",
        ),
        (
            json!({"user_id": alice_id, "duration": 60, "reason": "  "}),
            "reason",
            "reason must be at least 1 characters",
        ),
        (json!({"duration": 60, "reason": "r"}), "user_id", "user_id is required"),
    ] {
        let r = t.post_as(&moderator, &timeout, body.clone()).await;
        r.assert_error(400, "ERR_VALIDATION");
        assert_eq!(
            (r.body["field"].as_str(), r.body["error"].as_str()),
            (Some(field), Some(message)),
            "{body}"
        );
    }
    for body in [
        json!({"user_id": alice_id}),
        json!({"user_id": alice_id, "reason": ""}),
        json!({"user_id": alice_id, "reason": "r".repeat(501)}),
    ] {
        let r = t.post_as(&moderator, &warn, body.clone()).await;
        r.assert_error(400, "ERR_VALIDATION");
        assert_eq!(r.body["field"], "reason", "{body}");
    }
    t.post_as(&moderator, &warn, json!({"user_id": moderator_id, "reason": "r"}))
        .await
        .assert_error(400, "ERR_SELF_TARGET");
    // A Moderator has no authority over a Moderator's chat…
    t.post_as(
        &moderator,
        &chat_path(mod_chat, "warn"),
        json!({"user_id": alice_id, "reason": "r"}),
    )
    .await
    .assert_error(403, "ERR_NOT_CHAT_MODERATOR");
    // …and its owner, a Moderator, keeps the strict hierarchy for portal-wide sanctions.
    t.post_as(
        &mod_owner,
        &chat_path(mod_chat, "timeout"),
        json!({"user_id": peer_mod_id, "duration": 60, "reason": "r"}),
    )
    .await
    .assert_error(403, "ERR_HIERARCHY");
    t.post_as(&moderator, &warn, json!({"user_id": peer_mod_id, "reason": "r"}))
        .await
        .assert_error(403, "ERR_HIERARCHY");
    // A portal ban makes a timeout pointless.
    t.put_in_force(banned_id, ActionType::PlatformBan, None).await;
    let before_banned = footprint(&t).await;
    t.post_as(
        &moderator,
        &timeout,
        json!({"user_id": banned_id, "duration": 60, "reason": "r"}),
    )
    .await
    .assert_error(409, "ERR_ALREADY_BANNED");
    assert_eq!(footprint(&t).await, before_banned);
    assert_eq!(before_banned[2], before[2] + 1);

    // A warning from the chat, aimed at the chat's owner: allowed (no owner rule for these).
    let r = t
        .post_as(
            &moderator,
            &warn,
            json!({"user_id": olivia_id, "reason": " Keep it civil "}),
        )
        .await;
    assert_eq!(r.assert_ok(), &json!({"ok": true}));
    let rows = audits(&t, "USER_WARN").await;
    let warn_id = rows[0].3["action_id"].as_i64().unwrap();
    assert_eq!(
        rows,
        [(
            Some(moderator_id),
            "user".to_owned(),
            Some(olivia_id),
            json!({"action_id": warn_id, "reason": "Keep it civil", "chat_id": chat})
        )]
    );

    // A timeout from the chat: portal-wide, with the chat named; a second one replaces the first.
    t.post_as(
        &moderator,
        &timeout,
        json!({"user_id": alice_id, "duration": 3600, "reason": "spam"}),
    )
    .await
    .assert_ok();
    let first = audits(&t, "USER_TIMEOUT").await[0].3.clone();
    let first_id = first["action_id"].as_i64().unwrap();
    let first_end = rfc3339(t.app.now() + HOUR * SECOND);
    assert_eq!(
        first,
        json!({"action_id": first_id, "reason": "spam", "duration": 3600, "expires_at": first_end,
               "replaced_action_ids": [], "chat_id": chat})
    );
    // The target is now timed out everywhere: their own chat actions are refused.
    let r = t
        .post_as(&alice, &chat_path(chat, "mute"), json!({"user_id": olivia_id}))
        .await;
    r.assert_error(403, "ERR_ACCOUNT_TIMED_OUT");
    assert_eq!(r.body["expires_at"], first_end.as_str());
    assert_eq!(get(&t, &alice, "/v1/users/me").await["state"], 1);
    t.clock.advance_secs(10);
    t.post_as(
        &admin,
        &timeout,
        json!({"user_id": alice_id, "duration": 60, "reason": "shorter"}),
    )
    .await
    .assert_ok();
    let rows = audits(&t, "USER_TIMEOUT").await;
    let second_id = rows[1].3["action_id"].as_i64().unwrap();
    assert_eq!((rows[1].0, rows[1].2), (Some(admin_id), Some(alice_id)));
    assert_eq!(rows[1].3["replaced_action_ids"], json!([first_id]));
    assert_eq!(rows[1].3["chat_id"], chat);

    // The elevated view lists the resulting actions with their chat.
    let actions = actions_of(&t, &owner, alice_id).await;
    assert_eq!(actions.len(), 2);
    assert_eq!(
        (
            actions[0]["id"].clone(),
            actions[0]["action_type"].clone(),
            actions[0]["chat_id"].clone(),
            actions[0]["issued_by_id"].clone()
        ),
        (
            json!(second_id),
            json!("PLATFORM_TIMEOUT"),
            json!(chat),
            json!(admin_id)
        )
    );
    assert_eq!(actions[1]["id"], first_id);
    assert_eq!(actions[1]["is_lifted"], true);
    let warned = actions_of(&t, &owner, olivia_id).await;
    assert_eq!(warned[0]["action_type"], "PLATFORM_WARNING");
    assert_eq!(warned[0]["chat_id"], chat);
    assert_eq!(warned[0]["reason"], "Keep it civil");
    // The moderation search finds them by chat too.
    let found = get(&t, &owner, &format!("/v1/admin/moderation/actions?chat_id={chat}")).await;
    assert_eq!(found["total"], 3);
    // The timeout ended: a timed untimeout from the admin endpoint finds nothing in force.
    t.clock.advance_secs(61);
    t.post_as(
        &admin,
        &format!("/v1/admin/users/{alice_id}/untimeout"),
        json!({"reason": "r"}),
    )
    .await
    .assert_error(409, "ERR_NOT_TIMED_OUT");
});
