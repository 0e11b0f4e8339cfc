//! Registering, re-keying, deleting and managing a bot, and who may do it.

use super::*;

both_backends!(registration_key_regeneration_and_deletion, |t: TestApp| async move {
    let login_key = t.login_bot().await;
    let owner = staff(&t, &login_key, "owner-1", 3).await;

    let r = register(
        &t,
        &owner,
        json!({"name": "  My Bot  ", "owner_id": owner.user.id, "platform": "Discord", "rate_limit_per_hour": 100}),
    )
    .await;
    let body = r.assert_ok().clone();
    assert_eq!(body["message"], "Bot registered successfully");
    let key = body["api_key"].as_str().unwrap().to_owned();
    assert_eq!(key.len(), 45);
    assert!(key.starts_with("hbot_") && key[5..].bytes().all(|b| b.is_ascii_alphanumeric()));
    let bot = &body["bot"];
    assert_eq!(keys(bot), sorted(&PRIVATE_FIELDS));
    assert_eq!(bot["name"], "My Bot");
    assert_eq!(bot["platform"], "discord");
    assert_eq!(bot["owner_id"], owner.user.id);
    assert_eq!(bot["bot_type"], 3);
    assert_eq!(bot["is_verified"], false);
    assert_eq!(bot["is_active"], true);
    assert_eq!(bot["rate_limit_per_hour"], 100);
    assert_eq!(bot["api_key_prefix"], &key[..9]);
    assert_eq!(body["created_at"], bot["created_at"]);
    let id = bot["id"].as_i64().unwrap();

    // The key works and names the bot; only its digest is stored.
    let me = t.get("/v1/bot/me").key(&key).send().await;
    assert_eq!(me.assert_ok()["id"], id);
    assert_eq!(keys(&me.body), sorted(&PRIVATE_FIELDS));

    t.clock.advance_secs(5);
    let r = t
        .post(&format!("/v1/admin/bots/{id}/regenerate-key"))
        .cookie(&owner.token)
        .send()
        .await;
    let regenerated = r.assert_ok().clone();
    let new_key = regenerated["api_key"].as_str().unwrap().to_owned();
    assert_ne!(new_key, key);
    assert_eq!(regenerated["message"], "API key regenerated for bot My Bot");
    assert_eq!(regenerated["bot"]["api_key_prefix"], &new_key[..9]);
    assert_ne!(regenerated["bot"]["api_key_created_at"], bot["api_key_created_at"]);
    assert_eq!(regenerated["created_at"], bot["created_at"]);

    // The old key is dead at once; the new one works.
    t.get("/v1/bot/me")
        .key(&key)
        .send()
        .await
        .assert_error(401, "ERR_INVALID_API_KEY");
    assert_eq!(t.bot_id_of(&new_key).await, id);

    let events = audit_events(&t, id).await;
    let names: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(names, ["BOT_REGISTER", "BOT_KEY_REGENERATE"]);
    assert_eq!(events[0].1["key_prefix"], &key[..9]);
    assert_eq!(events[1].1["old_key_prefix"], &key[..9]);
    assert_eq!(events[1].1["new_key_prefix"], &new_key[..9]);
    let mut conn = t.conn().await;
    let (leaks,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_log WHERE metadata LIKE $1 OR metadata LIKE $2")
        .bind(format!("%{key}%"))
        .bind(format!("%{new_key}%"))
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(leaks, 0, "keys never reach the audit log");
    drop(conn);

    // Deactivation refuses the key and hides the bot from the public; staff still see it.
    t.post(&format!("/v1/admin/bots/{id}/update"))
        .cookie(&owner.token)
        .json(json!({"is_active": false}))
        .send()
        .await
        .assert_ok();
    t.get("/v1/bot/me")
        .key(&new_key)
        .send()
        .await
        .assert_error(403, "ERR_BOT_INACTIVE");
    t.get(&format!("/v1/bots/{id}"))
        .send()
        .await
        .assert_error(404, "ERR_BOT_NOT_FOUND");
    let staff_view = t.get(&format!("/v1/bots/{id}")).cookie(&owner.token).send().await;
    assert_eq!(staff_view.assert_ok()["is_active"], false);
    assert_eq!(keys(&staff_view.body), sorted(&PRIVATE_FIELDS));
    t.post(&format!("/v1/admin/bots/{id}/update"))
        .cookie(&owner.token)
        .json(json!({"is_active": true}))
        .send()
        .await
        .assert_ok();
    assert_eq!(t.bot_id_of(&new_key).await, id);
    let public_view = t.get(&format!("/v1/bots/{id}")).send().await;
    assert_eq!(keys(public_view.assert_ok()), sorted(&PUBLIC_FIELDS));

    // Deletion removes the bot, its key and its command aggregates.
    let now = rfc3339(t.app.now());
    t.post("/v1/bot/batch")
        .key(&new_key)
        .json(json!({"commands": [{"command": "help", "timestamp": now}]}))
        .send()
        .await
        .assert_ok();
    let r = t
        .post(&format!("/v1/admin/bots/{id}/delete"))
        .cookie(&owner.token)
        .send()
        .await;
    assert_eq!(r.assert_ok()["message"], "Bot 'My Bot' deleted");
    t.get("/v1/bot/me")
        .key(&new_key)
        .send()
        .await
        .assert_error(401, "ERR_INVALID_API_KEY");
    t.get(&format!("/v1/bots/{id}"))
        .cookie(&owner.token)
        .send()
        .await
        .assert_error(404, "ERR_BOT_NOT_FOUND");
    t.post(&format!("/v1/admin/bots/{id}/delete"))
        .cookie(&owner.token)
        .send()
        .await
        .assert_error(404, "ERR_BOT_NOT_FOUND");
    let mut conn = t.conn().await;
    let (stats,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM bot_command_stats WHERE bot_id = $1")
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(stats, 0);
    drop(conn);
    let events = audit_events(&t, id).await;
    let (last, metadata) = events.last().unwrap();
    assert_eq!(last, "BOT_DELETE");
    assert_eq!(metadata["name"], "My Bot");
    assert_eq!(metadata["owner_id"], owner.user.id);
});

both_backends!(who_may_manage_a_bot, |t: TestApp| async move {
    let login_key = t.login_bot().await;
    let admin_a = staff(&t, &login_key, "admin-a", 2).await;
    let admin_b = staff(&t, &login_key, "admin-b", 2).await;
    let owner = staff(&t, &login_key, "owner-1", 3).await;
    let member = staff(&t, &login_key, "member", 0).await;

    // Registration: for oneself or for someone one outranks.
    let (own_id, _) = registered(&t, &admin_a, "A Own", admin_a.user.id, 1000).await;
    registered(&t, &admin_a, "A For Member", member.user.id, 1000).await;
    register(
        &t,
        &admin_a,
        json!({"name": "A For B", "owner_id": admin_b.user.id, "platform": "discord"}),
    )
    .await
    .assert_error(403, "ERR_HIERARCHY");
    let (b_id, _) = registered(&t, &admin_b, "B Own", admin_b.user.id, 1000).await;

    // Admin A may not touch Admin B's bot; the Owner may.
    for action in ["update", "regenerate-key", "reset-stats", "delete"] {
        t.post(&format!("/v1/admin/bots/{b_id}/{action}"))
            .cookie(&admin_a.token)
            .json(json!({"rate_limit_per_hour": 7}))
            .send()
            .await
            .assert_error(403, "ERR_HIERARCHY");
    }
    t.post(&format!("/v1/admin/bots/{b_id}/reset-stats"))
        .cookie(&owner.token)
        .send()
        .await
        .assert_ok();
    // Giving one's own bot away is checked against the new owner too.
    t.post(&format!("/v1/admin/bots/{own_id}/update"))
        .cookie(&admin_a.token)
        .json(json!({"owner_id": admin_b.user.id}))
        .send()
        .await
        .assert_error(403, "ERR_HIERARCHY");
    t.post(&format!("/v1/admin/bots/{own_id}/update"))
        .cookie(&admin_a.token)
        .json(json!({"owner_id": member.user.id}))
        .send()
        .await
        .assert_ok();

    // Below Admin: refused before anything else.
    t.get("/v1/admin/bots")
        .cookie(&member.token)
        .send()
        .await
        .assert_error(403, "ERR_INSUFFICIENT_PERMISSION");
    register(&t, &member, json!({}))
        .await
        .assert_error(403, "ERR_INSUFFICIENT_PERMISSION");
    t.get("/v1/admin/bots")
        .send()
        .await
        .assert_error(401, "ERR_AUTH_REQUIRED");

    // A timed-out Admin may read but not write, whatever the body holds.
    let expires = t.time_out(admin_a.user.id, 3600).await;
    let r = register(&t, &admin_a, json!({"name": "x"})).await;
    r.assert_error(403, "ERR_ACCOUNT_TIMED_OUT");
    assert_eq!(r.body["expires_at"], rfc3339(expires));
    t.post(&format!("/v1/admin/bots/{own_id}/update"))
        .cookie(&admin_a.token)
        .raw(Some("application/json"), "{not json")
        .send()
        .await
        .assert_error(403, "ERR_ACCOUNT_TIMED_OUT");
    t.post(&format!("/v1/admin/bots/{own_id}/regenerate-key"))
        .cookie(&admin_a.token)
        .send()
        .await
        .assert_error(403, "ERR_ACCOUNT_TIMED_OUT");
    let r = t.get("/v1/admin/bots").cookie(&admin_a.token).send().await;
    r.assert_ok();
    assert_eq!(r.header("x-total-count"), Some("4"));
    t.get(&format!("/v1/admin/bots/{own_id}/commands"))
        .cookie(&admin_a.token)
        .send()
        .await
        .assert_ok();

    // The origin check applies to admin POSTs.
    t.post(&format!("/v1/admin/bots/{b_id}/reset-stats"))
        .cookie(&owner.token)
        .header("origin", "https://evil.example")
        .send()
        .await
        .assert_error(403, "ERR_FORBIDDEN");
});
