//! Notifications: listing, reading, sending and broadcasting.

use super::*;

both_backends!(listing_pages_newest_first_with_counts, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (_, admin) = p.at("admin", 2).await;
    let (alice_id, alice) = p.signed_up("alice").await;
    let signup_time = now_text(&t);

    // The welcome notification of sign-up.
    let r = get(&t, &alice, "/v1/notifications").await;
    assert_eq!(keys(&r), ["limit", "notifications", "offset", "total", "unread"]);
    assert_eq!((r["total"].as_i64(), r["unread"].as_i64()), (Some(1), Some(1)));
    assert_eq!((r["offset"].as_i64(), r["limit"].as_i64()), (Some(0), Some(50)));
    let welcome = &r["notifications"][0];
    assert_eq!(keys(welcome), NOTIFICATION_FIELDS);
    assert_eq!(welcome["title"], "Welcome to Portal");
    assert_eq!(welcome["body"], "Your account has been created.");
    assert_eq!(welcome["type"], "success");
    assert_eq!(welcome["read_at"], Value::Null);
    assert_eq!(welcome["created_by"], Value::Null);
    assert_eq!(welcome["is_broadcast"], false);
    assert_eq!(welcome["created_at"], signup_time.as_str());
    let welcome_id = welcome["id"].as_i64().unwrap();

    // Three targeted notifications a second apart, then a broadcast.
    let mut targeted = Vec::new();
    for n in 1..=3 {
        t.clock.advance_secs(1);
        let r = t
            .post_as(
                &admin,
                "/v1/admin/notifications",
                json!({"user_id": alice_id, "title": format!("n{n}"), "body": "b"}),
            )
            .await;
        targeted.push(r.assert_ok()["notification"]["id"].as_i64().unwrap());
    }
    t.clock.advance_secs(1);
    let r = t
        .post_as(
            &admin,
            "/v1/admin/notifications",
            json!({"title": "all", "body": "everyone"}),
        )
        .await;
    let broadcast_id = r.assert_ok()["notification"]["id"].as_i64().unwrap();

    // A user created after the broadcast does not see it; one created in the same instant does.
    let (_, same_instant) = p.at("same-instant", 0).await;
    t.clock.advance_secs(1);
    let (_, later) = p.at("later", 0).await;
    let r = get(&t, &later, "/v1/notifications").await;
    assert_eq!((r["total"].as_i64(), r["unread"].as_i64()), (Some(0), Some(0)));
    assert_eq!(r["notifications"], json!([]));
    assert_eq!(
        get(&t, &later, "/v1/notifications/unread-count").await,
        json!({"unread": 0})
    );
    let r = get(&t, &same_instant, "/v1/notifications").await;
    assert_eq!(r["notifications"][0]["id"], broadcast_id);
    assert_eq!(r["notifications"][0]["is_broadcast"], true);
    // Another user's targeted notifications stay theirs; the admin sees the broadcast only.
    let r = get(&t, &admin, "/v1/notifications").await;
    assert_eq!(r["total"], 1);
    assert_eq!(r["notifications"][0]["id"], broadcast_id);

    // Alice: newest first, paged.
    let ids = |page: &Value| -> Vec<i64> {
        page["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["id"].as_i64().unwrap())
            .collect()
    };
    let expected = vec![broadcast_id, targeted[2], targeted[1], targeted[0], welcome_id];
    let all = get(&t, &alice, "/v1/notifications").await;
    assert_eq!(ids(&all), expected);
    assert_eq!((all["total"].as_i64(), all["unread"].as_i64()), (Some(5), Some(5)));
    let first = get(&t, &alice, "/v1/notifications?limit=2").await;
    assert_eq!(ids(&first), expected[..2]);
    assert_eq!((first["total"].as_i64(), first["limit"].as_i64()), (Some(5), Some(2)));
    let second = get(&t, &alice, "/v1/notifications?offset=2&limit=2").await;
    assert_eq!(ids(&second), expected[2..4]);
    assert_eq!(second["offset"], 2);
    let past = get(&t, &alice, "/v1/notifications?offset=10&limit=100").await;
    assert_eq!(ids(&past), Vec::<i64>::new());
    assert_eq!(past["total"], 5);
    assert_eq!(
        get(&t, &alice, "/v1/notifications/unread-count").await,
        json!({"unread": 5})
    );

    // Bad paging is refused, never clamped.
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        ("offset=1.5", "offset"),
    ] {
        let r = t.get(&format!("/v1/notifications?{query}")).cookie(&alice).send().await;
        r.assert_error(400, "ERR_VALIDATION");
        assert_eq!(r.body["field"], field, "{query}");
    }

    // A session is required.
    for path in ["/v1/notifications", "/v1/notifications/unread-count"] {
        t.get(path).send().await.assert_error(401, "ERR_AUTH_REQUIRED");
    }
});

both_backends!(marking_read_is_per_user, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (_, admin) = p.at("admin", 2).await;
    let (alice_id, alice) = p.signed_up("alice").await;
    let (_, bob) = p.signed_up("bob").await;
    let welcome = get(&t, &alice, "/v1/notifications").await["notifications"][0]["id"]
        .as_i64()
        .unwrap();
    t.clock.advance_secs(5);
    let broadcast = t
        .post_as(&admin, "/v1/admin/notifications", json!({"title": "t", "body": "b"}))
        .await;
    let broadcast = broadcast.assert_ok()["notification"]["id"].as_i64().unwrap();
    let audit_rows = t.count("SELECT COUNT(*) FROM audit_log").await;
    let read = |id: i64| format!("/v1/notifications/{id}/read");

    // Path validation, then visibility (another user's notification does not exist for Bob).
    for raw in ["0", "-1", "abc", "1.0"] {
        let r = t
            .post(&format!("/v1/notifications/{raw}/read"))
            .cookie(&alice)
            .send()
            .await;
        r.assert_error(400, "ERR_VALIDATION");
        assert_eq!(r.body["error"], "notification_id must be a positive integer");
    }
    let before = footprint(&t).await;
    t.post(&read(welcome))
        .cookie(&bob)
        .send()
        .await
        .assert_error(404, "ERR_NOTIFICATION_NOT_FOUND");
    t.post(&read(9999))
        .cookie(&alice)
        .send()
        .await
        .assert_error(404, "ERR_NOTIFICATION_NOT_FOUND");
    // A cross-site request is refused before anything else.
    t.post(&read(welcome))
        .cookie(&alice)
        .header("origin", "https://evil.example")
        .send()
        .await
        .assert_error(403, "ERR_FORBIDDEN");
    t.post(&read(welcome))
        .send()
        .await
        .assert_error(401, "ERR_AUTH_REQUIRED");
    assert_eq!(footprint(&t).await, before);

    // Alice reads her welcome notification: the answer carries her read mark.
    t.clock.advance_secs(7);
    let r = t.post(&read(welcome)).cookie(&alice).send().await;
    let body = r.assert_ok();
    assert_eq!(body["id"], welcome);
    assert_eq!(body["read_at"], now_text(&t).as_str());
    assert_eq!(body["title"], "Welcome to Portal");
    t.post(&read(welcome))
        .cookie(&alice)
        .send()
        .await
        .assert_error(409, "ERR_NOTIFICATION_ALREADY_READ");
    assert_eq!(
        get(&t, &alice, "/v1/notifications/unread-count").await,
        json!({"unread": 1})
    );
    // Bob's welcome notification is untouched.
    assert_eq!(
        get(&t, &bob, "/v1/notifications/unread-count").await,
        json!({"unread": 2})
    );

    // A broadcast's read state is per user.
    t.post(&read(broadcast)).cookie(&alice).send().await.assert_ok();
    let bobs = get(&t, &bob, "/v1/notifications").await;
    assert_eq!(bobs["notifications"][0]["id"], broadcast);
    assert_eq!(bobs["notifications"][0]["read_at"], Value::Null);
    assert_eq!(bobs["unread"], 2);

    // Read-all marks what is unread, all at one time; again it marks nothing.
    t.clock.advance_secs(3);
    // A timed-out user keeps self-service on their notifications.
    t.time_out(alice_id, HOUR).await;
    let r = t.post("/v1/notifications/read-all").cookie(&bob).send().await;
    assert_eq!(r.assert_ok(), &json!({"marked": 2}));
    let bobs = get(&t, &bob, "/v1/notifications").await;
    assert_eq!(bobs["unread"], 0);
    for n in bobs["notifications"].as_array().unwrap() {
        assert_eq!(n["read_at"], now_text(&t).as_str());
    }
    let r = t.post("/v1/notifications/read-all").cookie(&bob).send().await;
    assert_eq!(r.assert_ok(), &json!({"marked": 0}));
    let r = t.post("/v1/notifications/read-all").cookie(&alice).send().await;
    assert_eq!(r.assert_ok(), &json!({"marked": 0}));
    // Alice's earlier read marks kept their time.
    let alices = get(&t, &alice, "/v1/notifications").await;
    assert_ne!(alices["notifications"][1]["read_at"], now_text(&t).as_str());
    t.post("/v1/notifications/read-all")
        .cookie(&bob)
        .header("origin", "https://evil.example")
        .send()
        .await
        .assert_error(403, "ERR_FORBIDDEN");
    // Marking read is self-service: never audited.
    assert_eq!(t.count("SELECT COUNT(*) FROM audit_log").await, audit_rows);
});

both_backends!(admins_send_and_broadcast_with_audit, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (admin_id, admin) = p.at("admin", 2).await;
    let (_, moderator) = p.at("moderator", 1).await;
    let (owner_id, owner) = p.at("owner", 3).await;
    let (alice_id, alice) = p.at("alice", 0).await;
    let send = "/v1/admin/notifications";

    // Targeted, trimmed, typed; no hierarchy: an Admin may inform an Owner, and themself.
    let r = t
        .post_as(
            &admin,
            send,
            json!({"user_id": alice_id, "title": "  Granted ", "body": " Premium until June ", "type": "success"}),
        )
        .await;
    let body = r.assert_ok().clone();
    assert_eq!(keys(&body), ["message", "notification", "recipients"]);
    assert_eq!(body["message"], format!("Notification sent to user {alice_id}"));
    assert_eq!(body["recipients"], 1);
    let targeted_id = body["notification"]["id"].as_i64().unwrap();
    assert_eq!(
        body["notification"],
        json!({"id": targeted_id, "title": "Granted", "body": "Premium until June", "type": "success",
               "read_at": null, "created_at": now_text(&t), "created_by": admin_id, "is_broadcast": false})
    );
    let listed = get(&t, &alice, "/v1/notifications").await;
    assert_eq!(listed["notifications"][0], body["notification"]);
    for user_id in [owner_id, admin_id] {
        t.post_as(&admin, send, json!({"user_id": user_id, "title": "t", "body": "b"}))
            .await
            .assert_ok();
    }

    // Broadcast: `user_id` absent or null, default type, every existing user counted.
    let users = t.count("SELECT COUNT(*) FROM users").await;
    let r = t
        .post_as(
            &admin,
            send,
            json!({"user_id": null, "title": "Maintenance", "body": "Tonight"}),
        )
        .await;
    let body = r.assert_ok().clone();
    assert_eq!(body["message"], "Notification broadcast to all users");
    assert_eq!(body["recipients"], users);
    assert_eq!(body["notification"]["type"], "info");
    assert_eq!(body["notification"]["is_broadcast"], true);
    assert_eq!(body["notification"]["created_by"], admin_id);
    let broadcast_id = body["notification"]["id"].as_i64().unwrap();

    let rows = audits(&t, "NOTIFICATION_SEND").await;
    assert_eq!(rows.len(), 4);
    assert_eq!(
        rows[0],
        (
            Some(admin_id),
            "user".to_owned(),
            Some(alice_id),
            json!({"notification_id": targeted_id, "recipient_count": 1, "title": "Granted", "type": "success"})
        )
    );
    assert_eq!(
        rows[3],
        (
            Some(admin_id),
            "system".to_owned(),
            None,
            json!({"notification_id": broadcast_id, "recipient_count": users, "title": "Maintenance", "type": "info"})
        )
    );
    // The audit log reads the same through the API.
    let logs = get(
        &t,
        &admin,
        "/v1/admin/audit/logs?event_type=NOTIFICATION_SEND&target_type=system",
    )
    .await;
    assert_eq!(logs["total"], 1);
    assert_eq!(logs["items"][0]["metadata"]["notification_id"], broadcast_id);

    // Refusals change nothing.
    let before = footprint(&t).await;
    let r = t.post_as(&moderator, send, json!({"title": "t", "body": "b"})).await;
    r.assert_error(403, "ERR_INSUFFICIENT_PERMISSION");
    assert_eq!(r.body["error"], "Admin access required");
    t.post_as(&alice, send, json!({"title": "t", "body": "b"}))
        .await
        .assert_error(403, "ERR_INSUFFICIENT_PERMISSION");
    t.post(send)
        .json(json!({"title": "t", "body": "b"}))
        .send()
        .await
        .assert_error(401, "ERR_AUTH_REQUIRED");
    for (body, field, message) in [
        (
            json!({"user_id": 0, "title": "t", "body": "b"}),
            "user_id",
            "user_id must be at least 1",
        ),
        (
            json!({"user_id": "5", "title": "t", "body": "b"}),
            "user_id",
            "user_id must be an integer",
        ),
        (json!({"user_id": 0}), "user_id", "user_id must be at least 1"),
        (json!({"body": "b"}), "title", "title is required"),
        (
            json!({"title": "   ", "body": "b"}),
            "title",
            "title must be at least 1 characters",
        ),
        (
            json!({"title": "x".repeat(101), "body": "b"}),
            "title",
            "title must be at most 100 characters",
        ),
        (json!({"title": 5, "body": "b"}), "title", "title must be a string"),
        (json!({"title": "t"}), "body", "body is required"),
        (
            json!({"title": "t", "body": "y".repeat(2001)}),
            "body",
            "body must be at most 2000 characters",
        ),
        (
            json!({"title": "t", "body": "b", "type": "loud"}),
            "type",
            "type must be one of: info, success, warning, error",
        ),
    ] {
        let r = t.post_as(&admin, send, body.clone()).await;
        r.assert_error(400, "ERR_VALIDATION");
        assert_eq!(
            (r.body["field"].as_str(), r.body["error"].as_str()),
            (Some(field), Some(message)),
            "{body}"
        );
    }
    t.post_as(&admin, send, json!({"user_id": 9999, "title": "t", "body": "b"}))
        .await
        .assert_error(404, "ERR_USER_NOT_FOUND");
    t.post(send)
        .cookie(&admin)
        .raw(Some("text/plain"), "hello")
        .send()
        .await
        .assert_error(415, "ERR_UNSUPPORTED_MEDIA_TYPE");
    t.post(send)
        .cookie(&admin)
        .raw(Some("application/json"), "{\"title\": ")
        .send()
        .await
        .assert_error(400, "ERR_INVALID_JSON");
    // The notification and its audit row commit together or not at all.
    t.app.store.fail_audit_inserts(true);
    t.post_as(&admin, send, json!({"title": "t", "body": "b"}))
        .await
        .assert_error(500, "ERR_INTERNAL");
    t.app.store.fail_audit_inserts(false);
    assert_eq!(footprint(&t).await, before);

    // A timed-out Admin may not send.
    let until = t.time_out(admin_id, HOUR).await;
    let before = footprint(&t).await;
    let r = t.post_as(&admin, send, json!({"title": "t", "body": "b"})).await;
    r.assert_error(403, "ERR_ACCOUNT_TIMED_OUT");
    assert_eq!(r.body["expires_at"], rfc3339(until).as_str());
    assert_eq!(footprint(&t).await, before);

    // Deleting a user removes their targeted notifications; the broadcast stays.
    t.post_as(
        &owner,
        &format!("/v1/admin/users/{alice_id}/delete"),
        json!({"reason": "r"}),
    )
    .await
    .assert_ok();
    let left = t
        .count(&format!(
            "SELECT COUNT(*) FROM notifications WHERE id IN ({targeted_id}, {broadcast_id})"
        ))
        .await;
    assert_eq!(left, 1);
    assert_eq!(
        get(&t, &owner, "/v1/notifications").await["notifications"][0]["id"],
        broadcast_id
    );
});

both_backends!(
    endpoints_sit_in_their_rate_tiers,
    |c: &mut portal::config::Config| {
        c.rate_limit.auth = 3;
        c.rate_limit.admin = 1;
    },
    |t: TestApp| async move {
        let p = People::new(&t).await;
        let (alice_id, _) = p.at("alice", 0).await;
        let (_, admin) = p.at("admin", 2).await;
        // ADMIN: one request a minute here.
        let r = t
            .post_as(&admin, "/v1/admin/notifications", json!({"title": "t", "body": "b"}))
            .await;
        r.assert_ok();
        assert_eq!(r.header("ratelimit-limit"), Some("1"));
        t.post_as(&admin, "/v1/admin/notifications", json!({"title": "t", "body": "b"}))
            .await
            .assert_error(429, "ERR_RATE_LIMITED");
        // AUTH: notifications and everything under /v1/portal/ share one bucket of three.
        let r = t.get("/v1/notifications").cookie(&admin).send().await;
        r.assert_ok();
        assert_eq!(r.header("ratelimit-limit"), Some("3"));
        t.get("/v1/portal/status").cookie(&admin).send().await.assert_ok();
        let r = t
            .post_as(&admin, "/v1/portal/hard-mute", json!({"user_id": alice_id}))
            .await;
        r.assert_ok();
        assert_eq!(r.header("ratelimit-remaining"), Some("0"));
        t.post_as(&admin, "/v1/portal/chats/1/kick", json!({"user_id": alice_id}))
            .await
            .assert_error(429, "ERR_RATE_LIMITED");
    }
);
