//! Official chats, transfer, kicks and the staff view of owned chats.

use super::*;

both_backends!(admin_creates_and_updates_official_chats, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (admin_id, admin) = p.at("admin", 2).await;
    let (_, moderator) = p.at("moderator", 1).await;
    t.post("/v1/admin/chats")
        .cookie(&moderator)
        .json(json!({"name": "General", "slug": "general"}))
        .send()
        .await
        .assert_error(403, "ERR_INSUFFICIENT_PERMISSION");
    let r = t
        .post("/v1/admin/chats")
        .cookie(&admin)
        .json(json!({"name": "General", "slug": "general", "description": "  Official general chat ", "browser_config": {"browser": "chromium", "kiosk": true}}))
        .send()
        .await;
    let status = r.assert_ok().clone();
    let chat_id = status["chat_id"].as_i64().unwrap();
    assert_eq!(
        status,
        json!({"chat_id": chat_id, "chat_name": "General", "username": "uadmin", "browser": "chromium",
               "allow_control_requests": false, "visibility": "official", "label": null, "slug": "general",
               "description": "Official general chat", "avatar_source": null, "running": false, "viewer_count": 0})
    );
    let created = audits(&t, "CHAT_CREATE").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].0, Some(admin_id));
    assert_eq!(
        created[0].3,
        json!({"name": "General", "slug": "general", "visibility": "official", "owner_id": admin_id})
    );

    // Duplicate slugs, at creation and by update.
    let r = t
        .post("/v1/admin/chats")
        .cookie(&admin)
        .json(json!({"name": "Other", "slug": "general"}))
        .send()
        .await;
    r.assert_error(409, "ERR_SLUG_TAKEN");
    let second = create_official(&t, &admin, "Second", "second").await;
    let update = format!("/v1/admin/chats/{second}/update");
    t.post(&update)
        .cookie(&admin)
        .json(json!({"slug": "general"}))
        .send()
        .await
        .assert_error(409, "ERR_SLUG_TAKEN");
    assert_eq!(t.count("SELECT COUNT(*) FROM chats").await, 2);

    // The detail view.
    let detail = t.get(&format!("/v1/admin/chats/{chat_id}")).cookie(&admin).send().await;
    let detail = detail.assert_ok();
    assert_eq!(detail["browser_config"], json!({"browser": "chromium", "kiosk": true}));
    assert_eq!(detail["member_count"], 0);
    assert_eq!(detail["members"], json!([]));
    assert_eq!(detail["is_public"], true);
    assert_eq!(detail["owner_id"], admin_id);

    // Slug and visibility rules of an update.
    let cases = [
        (
            json!({"visibility": "private", "slug": "x-y"}),
            "slug must be null for private chats",
        ),
        (json!({"slug": "Second"}), "slug contains invalid characters"),
        (
            json!({"visibility": "hidden"}),
            "visibility must be one of: official, public, private",
        ),
        (json!({"name": "x"}), "name must be at least 2 characters"),
        (json!({"name": null}), "name must be a string"),
        (json!({"label": "l".repeat(33)}), "label must be at most 32 characters"),
        (
            json!({"avatar_source": "discord_6"}),
            "avatar_source must be one of: discord_0, discord_1, discord_2, discord_3, discord_4, discord_5",
        ),
        (json!({"browser_config": "firefox"}), "browser_config must be an object"),
        (
            json!({"allow_control_requests": 1}),
            "allow_control_requests must be a boolean",
        ),
    ];
    for (body, message) in cases {
        let r = t.post(&update).cookie(&admin).json(body.clone()).send().await;
        r.assert_error(400, "ERR_VALIDATION");
        assert_eq!(r.body["error"], message, "{body}");
    }
    assert!(audits(&t, "CHAT_UPDATE").await.is_empty());

    // Clearing the slug makes the chat private; a private chat needs a slug to go public.
    let r = t.post(&update).cookie(&admin).json(json!({"slug": null})).send().await;
    assert_eq!(r.assert_ok()["visibility"], "private");
    assert_eq!(r.body["slug"], Value::Null);
    assert_eq!(r.body["is_public"], false);
    let r = t
        .post(&update)
        .cookie(&admin)
        .json(json!({"visibility": "public"}))
        .send()
        .await;
    r.assert_error(400, "ERR_VALIDATION");
    assert_eq!(r.body["error"], "slug is required for official and public chats");
    let r = t
        .post(&update)
        .cookie(&admin)
        .json(json!({"slug": "second-2"}))
        .send()
        .await;
    assert_eq!(r.assert_ok()["visibility"], "public");
    let r = t
        .post(&update)
        .cookie(&admin)
        .json(json!({"visibility": "official", "label": "  Staff pick ", "avatar_source": "discord_3", "description": ""}))
        .send()
        .await;
    let body = r.assert_ok();
    assert_eq!(body["visibility"], "official");
    assert_eq!(body["slug"], "second-2");
    assert_eq!(body["label"], "Staff pick");
    assert_eq!(body["avatar_source"], "discord_3");
    assert_eq!(
        keys(body),
        [
            "allow_control_requests",
            "avatar_source",
            "created_at",
            "description",
            "history_visible",
            "id",
            "implicit_hosting",
            "inactive_cursors",
            "is_public",
            "label",
            "last_activity_at",
            "locked_controls",
            "name",
            "next_wipe_at",
            "owner_id",
            "running",
            "slug",
            "updated_at",
            "viewer_count",
            "visibility",
            "wipe_preset"
        ]
    );
    let portal = t.get("/v1/portal/chats").cookie(&admin).send().await;
    let listed = portal
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == second)
        .unwrap()
        .clone();
    assert_eq!(listed["avatar_url"], "https://cdn.discordapp.com/embed/avatars/3.png");

    let updates = audits(&t, "CHAT_UPDATE").await;
    assert_eq!(updates.len(), 3);
    assert_eq!(
        updates[0].3,
        json!({"changes": {"slug": {"old": "second", "new": null}, "visibility": {"old": "official", "new": "private"}}})
    );
    assert_eq!(
        updates[2].3,
        json!({"changes": {"visibility": {"old": "public", "new": "official"}, "label": {"old": null, "new": "Staff pick"}, "avatar_source": {"old": null, "new": "discord_3"}}})
    );

    // A body that changes nothing writes nothing.
    t.clock.advance_secs(5);
    let before = t
        .get(&format!("/v1/admin/chats/{second}"))
        .cookie(&admin)
        .send()
        .await
        .body;
    let r = t
        .post(&update)
        .cookie(&admin)
        .json(json!({"label": "Staff pick", "slug": "second-2", "browser_config": {"kiosk": false, "start_url": null, "browser": "firefox"}}))
        .send()
        .await;
    assert_eq!(r.assert_ok()["updated_at"], before["updated_at"]);
    t.post(&update).cookie(&admin).send().await.assert_ok();
    assert_eq!(audits(&t, "CHAT_UPDATE").await.len(), 3);

    // Admin delete, audited with route "admin".
    let r = t
        .post(&format!("/v1/admin/chats/{second}/delete"))
        .cookie(&admin)
        .send()
        .await;
    assert_eq!(r.assert_ok()["message"], "Chat 'Second' deleted");
    let deleted = audits(&t, "CHAT_DELETE").await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].3["route"], "admin");
    assert_eq!(deleted[0].3["slug"], "second-2");
    t.get(&format!("/v1/admin/chats/{second}"))
        .cookie(&admin)
        .send()
        .await
        .assert_error(404, "ERR_CHAT_NOT_FOUND");
});

both_backends!(transfer_is_for_owners_only, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (admin_id, admin) = p.at("admin", 2).await;
    let (boss_id, boss) = p.at("boss", 3).await;
    let (heir_id, heir) = p.at("heir", 0).await;
    let chat_id = create_private(&t, &admin, "hand-over").await["id"].as_i64().unwrap();
    let code = new_invite(&t, &admin, chat_id, json!({})).await;
    t.post(&format!("/v1/portal/resolve/{code}"))
        .cookie(&heir)
        .send()
        .await
        .assert_ok();
    let path = format!("/v1/admin/chats/{chat_id}/transfer");

    let r = t
        .post(&path)
        .cookie(&admin)
        .json(json!({"new_owner_id": heir_id}))
        .send()
        .await;
    r.assert_error(403, "ERR_INSUFFICIENT_PERMISSION");
    assert_eq!(r.body["error"], "Owner access required");
    let detail = t.get(&format!("/v1/admin/chats/{chat_id}")).cookie(&admin).send().await;
    assert_eq!(detail.body["owner_id"], admin_id);

    for (body, message) in [
        (json!({}), "new_owner_id is required"),
        (json!({"new_owner_id": "2"}), "new_owner_id must be an integer"),
        (json!({"new_owner_id": 0}), "new_owner_id must be at least 1"),
    ] {
        let r = t.post(&path).cookie(&boss).json(body).send().await;
        r.assert_error(400, "ERR_VALIDATION");
        assert_eq!(r.body["error"], message);
    }
    t.post(&path)
        .cookie(&boss)
        .json(json!({"new_owner_id": 9999}))
        .send()
        .await
        .assert_error(404, "ERR_USER_NOT_FOUND");
    t.post(&path)
        .cookie(&boss)
        .json(json!({"new_owner_id": admin_id}))
        .send()
        .await
        .assert_error(400, "ERR_CHAT_OWNER_TARGET");
    t.post("/v1/admin/chats/999/transfer")
        .cookie(&boss)
        .json(json!({"new_owner_id": heir_id}))
        .send()
        .await
        .assert_error(404, "ERR_CHAT_NOT_FOUND");
    assert!(audits(&t, "CHAT_TRANSFER").await.is_empty());

    let r = t
        .post(&path)
        .cookie(&boss)
        .json(json!({"new_owner_id": heir_id}))
        .send()
        .await;
    assert_eq!(
        r.assert_ok()["message"],
        format!("Chat 'hand-over' transferred to user {heir_id}")
    );
    // The heir's member row is gone; the previous owner is a member now.
    let detail = t.get(&format!("/v1/admin/chats/{chat_id}")).cookie(&boss).send().await;
    assert_eq!(detail.body["owner_id"], heir_id);
    assert_eq!(member_ids(&t, &boss, chat_id).await, [admin_id]);
    assert_eq!(my_chat_names(&t, &heir).await, ["hand-over"]);
    assert!(my_chat_names(&t, &admin).await.is_empty());
    assert!(visible_ids(&t, &admin).await.contains(&chat_id));
    let rows = audits(&t, "CHAT_TRANSFER").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, Some(boss_id));
    assert_eq!(
        rows[0].3,
        json!({"name": "hand-over", "old_owner_id": admin_id, "new_owner_id": heir_id})
    );
});

both_backends!(kick_checks_chat_owner_and_target, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (admin_id, admin) = p.at("admin", 2).await;
    let (other_admin_id, other_admin) = p.at("other-admin", 2).await;
    let (_, boss) = p.at("boss", 3).await;
    let (alice_id, alice) = p.at("alice", 0).await;
    let (bob_id, _) = p.at("bob", 0).await;
    let lobby = create_official(&t, &admin, "General", "general").await;
    let code = new_invite(&t, &admin, lobby, json!({})).await;
    for token in [&alice, &other_admin] {
        t.post(&format!("/v1/portal/resolve/{code}"))
            .cookie(token)
            .send()
            .await
            .assert_ok();
    }
    let kick = format!("/v1/admin/chats/{lobby}/kick");

    // Another Admin is out of reach; so is the owner, and the actor.
    t.post(&kick)
        .cookie(&admin)
        .json(json!({"user_id": other_admin_id}))
        .send()
        .await
        .assert_error(403, "ERR_HIERARCHY");
    t.post(&kick)
        .cookie(&other_admin)
        .json(json!({"user_id": admin_id}))
        .send()
        .await
        .assert_error(400, "ERR_CHAT_OWNER_TARGET");
    t.post(&kick)
        .cookie(&admin)
        .json(json!({"user_id": admin_id}))
        .send()
        .await
        .assert_error(400, "ERR_SELF_TARGET");
    // Another Admin does not outrank this chat's owner (an Admin).
    t.post(&kick)
        .cookie(&other_admin)
        .json(json!({"user_id": alice_id}))
        .send()
        .await
        .assert_error(403, "ERR_HIERARCHY");
    t.post(&kick)
        .cookie(&admin)
        .json(json!({"user_id": bob_id}))
        .send()
        .await
        .assert_error(404, "ERR_NOT_CHAT_MEMBER");
    t.post(&kick)
        .cookie(&admin)
        .json(json!({"user_id": 9999}))
        .send()
        .await
        .assert_error(404, "ERR_USER_NOT_FOUND");
    let r = t
        .post(&kick)
        .cookie(&admin)
        .json(json!({"user_id": alice_id, "reason": "r".repeat(501)}))
        .send()
        .await;
    r.assert_error(400, "ERR_VALIDATION");
    assert_eq!(r.body["field"], "reason");
    assert_eq!(member_ids(&t, &admin, lobby).await, [alice_id, other_admin_id]);
    assert!(audits(&t, "CHAT_KICK").await.is_empty());
    assert_eq!(t.count("SELECT COUNT(*) FROM moderation_actions").await, 0);

    let r = t
        .post(&kick)
        .cookie(&admin)
        .json(json!({"user_id": alice_id, "reason": "  spam  "}))
        .send()
        .await;
    assert_eq!(r.assert_ok()["message"], "Kicked ualice from chat 'General'");
    assert_eq!(member_ids(&t, &admin, lobby).await, [other_admin_id]);
    let rows = audits(&t, "CHAT_KICK").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, Some(admin_id));
    assert_eq!(rows[0].2, Some(lobby));
    let action_id = rows[0].3["action_id"].as_i64().unwrap();
    assert_eq!(
        rows[0].3,
        json!({"user_id": alice_id, "action_id": action_id, "reason": "spam", "route": "admin"})
    );
    let mut conn = t.conn().await;
    let (kind, chat, reason, issued_by, expires): (String, Option<i64>, Option<String>, Option<i64>, Option<i64>) =
        sqlx::query_as(
            "SELECT action_type, chat_id, reason, issued_by_id, expires_at FROM moderation_actions WHERE id = $1",
        )
        .bind(action_id)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    assert_eq!(
        (kind.as_str(), chat, reason.as_deref(), issued_by, expires),
        ("CHAT_KICK", Some(lobby), Some("spam"), Some(admin_id), None)
    );
    // A kick is not a ban: the invite lets her straight back in.
    assert_eq!(
        t.post(&format!("/v1/portal/resolve/{code}"))
            .cookie(&alice)
            .send()
            .await
            .assert_ok()["joined"],
        true
    );

    // An Owner outranks everyone, so may kick an Admin from an Admin's chat.
    t.post(&kick)
        .cookie(&boss)
        .json(json!({"user_id": other_admin_id}))
        .send()
        .await
        .assert_ok();
    // And an Admin cannot kick from a chat owned by an Owner.
    let owners_chat = create_official(&t, &boss, "Owners", "owners").await;
    let code = new_invite(&t, &boss, owners_chat, json!({})).await;
    t.post(&format!("/v1/portal/resolve/{code}"))
        .cookie(&alice)
        .send()
        .await
        .assert_ok();
    t.post(&format!("/v1/admin/chats/{owners_chat}/kick"))
        .cookie(&admin)
        .json(json!({"user_id": alice_id}))
        .send()
        .await
        .assert_error(403, "ERR_HIERARCHY");
    assert_eq!(member_ids(&t, &admin, owners_chat).await, [alice_id]);
});

both_backends!(owned_chats_show_in_the_staff_view_of_a_user, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (owner_id, owner) = p.premium("owner", HOUR).await;
    let (_, admin) = p.at("admin", 2).await;
    let chat_id = create_private(&t, &owner, "movie-night").await["id"].as_i64().unwrap();
    let r = t.get(&format!("/v1/users/{owner_id}")).cookie(&admin).send().await;
    let chats = r.assert_ok()["chats"].as_array().unwrap().clone();
    assert_eq!(chats.len(), 1);
    assert_eq!(chats[0]["id"], chat_id);
    assert_eq!(chats[0]["name"], "movie-night");
    assert_eq!(chats[0]["is_public"], false);
    assert_eq!(chats[0]["visibility"], "private");
    // The public view has no chat list.
    let r = t.get(&format!("/v1/users/{owner_id}")).cookie(&owner).send().await;
    assert!(r.assert_ok().get("chats").is_none());
});
