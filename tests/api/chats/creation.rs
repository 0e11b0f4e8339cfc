//! Creating chats within the slots, bad input, timed-out callers, destroying and the portal list.

use super::*;

both_backends!(creation_needs_a_subscription_or_admin, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (_, basic) = p.at("basic", 0).await;
    let (_, moderator) = p.at("moderator", 1).await;
    t.post("/v1/portal/chats")
        .cookie(&basic)
        .json(json!({"name": "mine"}))
        .send()
        .await
        .assert_error(403, "ERR_PREMIUM_REQUIRED");
    // Eligibility ranks before the body is read.
    t.post("/v1/portal/chats")
        .cookie(&moderator)
        .raw(Some("application/json"), "{not json")
        .send()
        .await
        .assert_error(403, "ERR_PREMIUM_REQUIRED");
    t.post("/v1/portal/chats")
        .json(json!({"name": "mine"}))
        .send()
        .await
        .assert_error(401, "ERR_AUTH_REQUIRED");
    assert!(my_chat_names(&t, &basic).await.is_empty());
    assert_eq!(t.count("SELECT COUNT(*) FROM chats").await, 0);

    // An Admin needs no subscription.
    let (admin_id, admin) = p.at("admin", 2).await;
    let chat = create_private(&t, &admin, "  staff room  ").await;
    assert_eq!(chat["name"], "staff room");
    assert_eq!(chat["owner"]["id"], admin_id);
    assert_eq!(chat["owner"]["username"], "uadmin");
    // The login bot reported no avatar for this identity.
    assert_eq!(chat["owner"]["avatar_url"], Value::Null);
    assert_eq!(keys(&chat), CHAT_SUMMARY_FIELDS);
    assert_eq!(chat["chat_type"], "group");
    assert_eq!(chat["visibility"], "private");
    assert_eq!(chat["slug"], Value::Null);
    assert_eq!(chat["secrets"], json!([]));
    assert_eq!(chat["archived"], false);
    // Creating one's own chat is not audited.
    assert_eq!(
        t.count("SELECT COUNT(*) FROM audit_log WHERE event_type LIKE 'CHAT_%'")
            .await,
        0
    );
});

both_backends!(premium_users_create_up_to_their_slots, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (_, premium) = p.premium("premium", HOUR).await;
    for i in 1..=3 {
        create_private(&t, &premium, &format!("chat {i}")).await;
        t.clock.advance_secs(1);
    }
    let refused = t
        .post("/v1/portal/chats")
        .cookie(&premium)
        .json(json!({"name": "chat 4"}))
        .send()
        .await;
    refused.assert_error(403, "ERR_CHAT_SLOT_LIMIT");
    assert_eq!(refused.body["limit"], 3);
    // The caller's own chats, newest first.
    assert_eq!(my_chat_names(&t, &premium).await, ["chat 3", "chat 2", "chat 1"]);
    let r = t.get("/v1/users/me/chats").cookie(&premium).send().await;
    assert_eq!(r.header("x-total-count"), Some("3"));
    assert_eq!(
        keys(&r.body[0]),
        [
            "archived",
            "chat_type",
            "created_at",
            "expires_at",
            "id",
            "is_public",
            "name",
            "peer",
            "visibility"
        ]
    );
    assert_eq!(r.body[0]["is_public"], false);
    assert_eq!(r.body[0]["chat_type"], "group");
    assert_eq!(r.body[0]["archived"], false);
    assert_eq!(r.body[0]["expires_at"], Value::Null);
    assert_eq!(r.body[0]["peer"], Value::Null);

    // Destroying one frees a slot.
    let first = r.body[2]["id"].as_i64().unwrap();
    let done = t
        .post(&format!("/v1/portal/chats/{first}/delete"))
        .cookie(&premium)
        .send()
        .await;
    assert_eq!(done.assert_ok()["message"], "Chat 'chat 1' destroyed");
    create_private(&t, &premium, "chat 4").await;

    // Once the subscription has ended the user keeps their chats but may create no more.
    t.clock.advance_secs(HOUR);
    t.post("/v1/portal/chats")
        .cookie(&premium)
        .json(json!({"name": "late"}))
        .send()
        .await
        .assert_error(403, "ERR_PREMIUM_REQUIRED");
    assert_eq!(my_chat_names(&t, &premium).await, ["chat 4", "chat 3", "chat 2"]);
    // An owner destroying their own chat is not audited.
    assert!(audits(&t, "CHAT_DELETE").await.is_empty());
});

async fn slot_limits_follow_the_config(kind: Kind) {
    let Some(t) = TestApp::new(kind, |c| {
        c.chats.slots.premium = 1;
        c.chats.slots.admin = 2;
    })
    .await
    else {
        return;
    };
    let p = People::new(&t).await;
    let (lifetime_id, lifetime) = p.at("lifetime", 1).await;
    t.set_subscription(lifetime_id, 3, None).await;
    create_private(&t, &lifetime, "one").await;
    let refused = t
        .post("/v1/portal/chats")
        .cookie(&lifetime)
        .json(json!({"name": "two"}))
        .send()
        .await;
    refused.assert_error(403, "ERR_CHAT_SLOT_LIMIT");
    assert_eq!(refused.body["limit"], 1);

    // Official chats count against an Admin's slots too.
    let (_, admin) = p.at("admin", 2).await;
    create_official(&t, &admin, "Lobby", "lobby").await;
    create_private(&t, &admin, "back room").await;
    let refused = t
        .post("/v1/admin/chats")
        .cookie(&admin)
        .json(json!({"name": "More", "slug": "more"}))
        .send()
        .await;
    refused.assert_error(403, "ERR_CHAT_SLOT_LIMIT");
    assert_eq!(refused.body["limit"], 2);
    let refused = t
        .post("/v1/portal/chats")
        .cookie(&admin)
        .json(json!({"name": "x3"}))
        .send()
        .await;
    assert_eq!(refused.body["limit"], 2);

    // Owners are unlimited.
    let (_, owner) = p.at("owner", 3).await;
    for i in 0..4 {
        create_private(&t, &owner, &format!("owned {i}")).await;
    }
    assert_eq!(my_chat_names(&t, &owner).await.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slot_limits_follow_the_config_sqlite() {
    slot_limits_follow_the_config(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slot_limits_follow_the_config_postgres() {
    slot_limits_follow_the_config(Kind::Postgres).await;
}

both_backends!(bad_chat_input_is_refused_and_changes_nothing, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (_, premium) = p.premium("premium", HOUR).await;
    let (_, admin) = p.at("admin", 2).await;
    let cases = [
        (json!({}), "name", "name is required"),
        (json!({"name": "x"}), "name", "name must be at least 2 characters"),
        (json!({"name": "   x   "}), "name", "name must be at least 2 characters"),
        (
            json!({"name": "x".repeat(65)}),
            "name",
            "name must be at most 64 characters",
        ),
        (json!({"name": "a\u{7}b"}), "name", "name contains invalid characters"),
        (json!({"name": 42}), "name", "name must be a string"),
        (
            json!({"name": "ok", "description": "d".repeat(501)}),
            "description",
            "description must be at most 500 characters",
        ),
        (
            json!({"name": "ok", "allow_control_requests": "yes"}),
            "allow_control_requests",
            "allow_control_requests must be a boolean",
        ),
        (
            json!({"name": "ok", "browser_config": []}),
            "browser_config",
            "browser_config must be an object",
        ),
        (
            json!({"name": "ok", "browser_config": null}),
            "browser_config",
            "browser_config must be an object",
        ),
        (
            json!({"name": "ok", "browser_config": {"x": "y".repeat(4100)}}),
            "browser_config",
            "browser_config must be at most 4096 bytes",
        ),
    ];
    for (body, field, message) in cases {
        let r = t
            .post("/v1/portal/chats")
            .cookie(&premium)
            .json(body.clone())
            .send()
            .await;
        r.assert_error(400, "ERR_VALIDATION");
        assert_eq!(r.body["field"], field, "{body}");
        assert_eq!(r.body["error"], message, "{body}");
    }
    // 64 characters is the most a name may have.
    create_private(&t, &premium, &"n".repeat(64)).await;

    let slug_cases = [
        (json!({"name": "Lobby"}), "slug", "slug is required"),
        (
            json!({"name": "Lobby", "slug": "My-Chat"}),
            "slug",
            "slug contains invalid characters",
        ),
        (
            json!({"name": "Lobby", "slug": "my chat"}),
            "slug",
            "slug contains invalid characters",
        ),
        (
            json!({"name": "Lobby", "slug": " lobby"}),
            "slug",
            "slug contains invalid characters",
        ),
        (
            json!({"name": "Lobby", "slug": "l"}),
            "slug",
            "slug must be at least 2 characters",
        ),
        (
            json!({"name": "Lobby", "slug": "l".repeat(33)}),
            "slug",
            "slug must be at most 32 characters",
        ),
        (
            json!({"name": "L", "slug": "Bad Slug"}),
            "name",
            "name must be at least 2 characters",
        ),
    ];
    for (body, field, message) in slug_cases {
        let r = t.post("/v1/admin/chats").cookie(&admin).json(body.clone()).send().await;
        r.assert_error(400, "ERR_VALIDATION");
        assert_eq!(r.body["field"], field, "{body}");
        assert_eq!(r.body["error"], message, "{body}");
    }
    assert_eq!(t.count("SELECT COUNT(*) FROM chats").await, 1);
    assert!(audits(&t, "CHAT_CREATE").await.is_empty());

    // Unknown and malformed chat ids.
    let unknown = [
        t.post("/v1/portal/chats/999/delete").cookie(&premium),
        t.post("/v1/portal/chats/999/leave").cookie(&premium),
        t.get("/v1/portal/chats/999/invites").cookie(&premium),
        t.post("/v1/portal/chats/999/invites").cookie(&premium),
        t.post("/v1/portal/chats/999/invites/abcdefghijklmnop/delete")
            .cookie(&premium),
        t.get("/v1/admin/chats/999").cookie(&admin),
        t.post("/v1/admin/chats/999/update")
            .cookie(&admin)
            .json(json!({"name": "new"})),
        t.post("/v1/admin/chats/999/delete").cookie(&admin),
        t.post("/v1/admin/chats/999/kick")
            .cookie(&admin)
            .json(json!({"user_id": 1})),
    ];
    for request in unknown {
        request.send().await.assert_error(404, "ERR_CHAT_NOT_FOUND");
    }
    for path in [
        "/v1/portal/chats/abc/delete",
        "/v1/portal/chats/0/leave",
        "/v1/portal/chats/-1/invites",
        "/v1/admin/chats/1.5/delete",
    ] {
        let r = t.post(path).cookie(&admin).send().await;
        r.assert_error(400, "ERR_VALIDATION");
        assert_eq!(r.body["error"], "chat_id must be a positive integer");
    }
    let r = t.get("/v1/admin/chats/abc").cookie(&admin).send().await;
    assert_eq!(r.body["field"], "chat_id");
    assert_eq!(t.count("SELECT COUNT(*) FROM chats").await, 1);
});

both_backends!(timed_out_callers_cannot_add_content, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (premium_id, premium) = p.premium("premium", 24 * HOUR).await;
    let (admin_id, admin) = p.at("admin", 2).await;
    let (_, other) = p.premium("other", 24 * HOUR).await;
    let own_chat = create_private(&t, &premium, "mine").await["id"].as_i64().unwrap();
    let official = create_official(&t, &admin, "Lobby", "lobby").await;
    let other_chat = create_private(&t, &other, "other").await["id"].as_i64().unwrap();
    let code = new_invite(&t, &other, other_chat, json!({})).await;

    let until = t.time_out(premium_id, HOUR).await;
    let refused = t
        .post("/v1/portal/chats")
        .cookie(&premium)
        .raw(Some("application/json"), "{broken")
        .send()
        .await;
    refused.assert_error(403, "ERR_ACCOUNT_TIMED_OUT");
    assert_eq!(refused.body["expires_at"], rfc3339(until));
    t.post(&format!("/v1/portal/chats/{own_chat}/invites"))
        .cookie(&premium)
        .send()
        .await
        .assert_error(403, "ERR_ACCOUNT_TIMED_OUT");
    t.post(&format!("/v1/portal/resolve/{code}"))
        .cookie(&premium)
        .send()
        .await
        .assert_error(403, "ERR_ACCOUNT_TIMED_OUT");
    // Reading and destroying one's own chat stay allowed.
    assert!(visible_ids(&t, &premium).await.contains(&own_chat));
    t.post(&format!("/v1/portal/chats/{own_chat}/delete"))
        .cookie(&premium)
        .send()
        .await
        .assert_ok();

    t.time_out(admin_id, HOUR).await;
    t.get("/v1/admin/chats").cookie(&admin).send().await.assert_ok();
    t.get(&format!("/v1/admin/chats/{official}"))
        .cookie(&admin)
        .send()
        .await
        .assert_ok();
    for request in [
        t.post("/v1/admin/chats")
            .cookie(&admin)
            .json(json!({"name": "More", "slug": "more"})),
        t.post(&format!("/v1/admin/chats/{official}/update"))
            .cookie(&admin)
            .json(json!({"name": "x"})),
        t.post(&format!("/v1/admin/chats/{official}/delete")).cookie(&admin),
        t.post(&format!("/v1/admin/chats/{official}/kick"))
            .cookie(&admin)
            .json(json!({"user_id": 1})),
    ] {
        request.send().await.assert_error(403, "ERR_ACCOUNT_TIMED_OUT");
    }
    // Once the timeout has run out, creation works again.
    t.clock.advance_secs(HOUR);
    create_private(&t, &premium, "again").await;
    assert_eq!(
        t.count("SELECT COUNT(*) FROM audit_log WHERE event_type LIKE 'CHAT_%' AND event_type <> 'CHAT_CREATE'")
            .await,
        0
    );
});

both_backends!(destroying_is_for_owners, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (owner_id, owner) = p.premium("owner", HOUR).await;
    let (_, admin) = p.at("admin", 2).await;
    let (boss_id, boss) = p.at("boss", 3).await;
    let (_, stranger) = p.at("stranger", 0).await;
    let chat_id = create_private(&t, &owner, "secret").await["id"].as_i64().unwrap();
    let code = new_invite(&t, &owner, chat_id, json!({})).await;
    let path = format!("/v1/portal/chats/{chat_id}/delete");
    t.post(&path)
        .cookie(&stranger)
        .send()
        .await
        .assert_error(404, "ERR_CHAT_NOT_FOUND");
    let r = t.post(&path).cookie(&admin).send().await;
    r.assert_error(403, "ERR_FORBIDDEN");
    assert_eq!(r.body["error"], "Only the chat owner can destroy this chat");
    t.post(&format!("/v1/portal/resolve/{code}"))
        .cookie(&stranger)
        .send()
        .await
        .assert_ok();
    t.post(&path)
        .cookie(&stranger)
        .send()
        .await
        .assert_error(403, "ERR_FORBIDDEN");
    assert_eq!(t.count("SELECT COUNT(*) FROM chats").await, 1);

    // An Owner destroys someone else's chat, and that is audited.
    let r = t.post(&path).cookie(&boss).send().await;
    assert_eq!(r.assert_ok()["message"], "Chat 'secret' destroyed");
    assert_eq!(t.count("SELECT COUNT(*) FROM chats").await, 0);
    assert_eq!(t.count("SELECT COUNT(*) FROM chat_members").await, 0);
    assert_eq!(t.count("SELECT COUNT(*) FROM chat_invites").await, 0);
    let rows = audits(&t, "CHAT_DELETE").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, Some(boss_id));
    assert_eq!(rows[0].2, Some(chat_id));
    assert_eq!(
        rows[0].3,
        json!({"name": "secret", "owner_id": owner_id, "visibility": "private", "slug": null, "member_count": 1, "route": "portal"})
    );
});

both_backends!(portal_list_orders_official_public_then_own, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (_, owner) = p.premium("owner", HOUR).await;
    let (_, admin) = p.at("admin", 2).await;
    let (_, viewer) = p.at("viewer", 0).await;
    let private = create_private(&t, &owner, "private one").await["id"].as_i64().unwrap();
    let public = create_private(&t, &owner, "to be public").await["id"].as_i64().unwrap();
    t.post(&format!("/v1/admin/chats/{public}/update"))
        .cookie(&admin)
        .json(json!({"slug": "public-one"}))
        .send()
        .await
        .assert_ok();
    let official = create_official(&t, &admin, "Lobby", "lobby").await;
    let admin_private = create_private(&t, &admin, "admins only").await["id"].as_i64().unwrap();
    assert_eq!(visible_ids(&t, &owner).await, [official, public, private]);
    assert_eq!(visible_ids(&t, &viewer).await, [official, public]);
    // Staff see their own private chats here, and everybody's in the admin list.
    assert_eq!(visible_ids(&t, &admin).await, [official, public, admin_private]);
    let r = t.get("/v1/admin/chats").cookie(&admin).send().await;
    let ids: Vec<i64> = r
        .assert_ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [private, public, official, admin_private]);
    assert_eq!(r.header("x-total-count"), Some("4"));
    let r = t
        .get("/v1/admin/chats?visibility=private&limit=1&offset=1")
        .cookie(&admin)
        .send()
        .await;
    assert_eq!(r.assert_ok().as_array().unwrap().len(), 1);
    assert_eq!(r.body[0]["id"], admin_private);
    assert_eq!(r.header("x-total-count"), Some("2"));
    for query in ["visibility=secret", "limit=0", "limit=1001", "offset=-1", "limit=x"] {
        t.get(&format!("/v1/admin/chats?{query}"))
            .cookie(&admin)
            .send()
            .await
            .assert_error(400, "ERR_VALIDATION");
    }
    t.get("/v1/admin/chats")
        .cookie(&viewer)
        .send()
        .await
        .assert_error(403, "ERR_INSUFFICIENT_PERMISSION");
});

both_backends!(parallel_creations_cannot_overshoot_the_slots, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (_, premium) = p.premium("premium", HOUR).await;
    let create = |name: &'static str| {
        t.post("/v1/portal/chats")
            .cookie(&premium)
            .json(json!({"name": name}))
            .send()
    };
    let answers = tokio::join!(
        create("c1"),
        create("c2"),
        create("c3"),
        create("c4"),
        create("c5"),
        create("c6")
    );
    let answers = [answers.0, answers.1, answers.2, answers.3, answers.4, answers.5];
    let created = answers.iter().filter(|r| r.status == 200).count();
    assert_eq!(created, 3);
    for refused in answers.iter().filter(|r| r.status != 200) {
        refused.assert_error(403, "ERR_CHAT_SLOT_LIMIT");
    }
    assert_eq!(my_chat_names(&t, &premium).await.len(), 3);
});
