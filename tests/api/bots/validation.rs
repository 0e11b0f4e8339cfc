//! Bad input to the bot endpoints is refused and changes nothing.

use super::*;

both_backends!(bad_input_is_refused_and_changes_nothing, |t: TestApp| async move {
    let login_key = t.login_bot().await;
    let owner = staff(&t, &login_key, "owner-1", 3).await;
    let (id, key) = registered(&t, &owner, "Steady", owner.user.id, 1000).await;
    let bots_before = t.get("/v1/admin/bots").cookie(&owner.token).send().await;
    let me_before = t.get("/v1/bot/me").key(&key).send().await.assert_ok().clone();
    let audit_before = audit_events(&t, id).await.len();

    // Registration.
    let base = json!({"name": "Fine", "owner_id": owner.user.id, "platform": "discord"});
    let with = |field: &str, value: Value| {
        let mut body = base.clone();
        body[field] = value;
        body
    };
    let cases = [
        (with("name", json!("a")), "name", "name must be at least 2 characters"),
        (
            with("name", json!("   a   ")),
            "name",
            "name must be at least 2 characters",
        ),
        (
            with("name", json!("x".repeat(33))),
            "name",
            "name must be at most 32 characters",
        ),
        (with("name", json!(7)), "name", "name must be a string"),
        (with("owner_id", json!("5")), "owner_id", "owner_id must be an integer"),
        (with("owner_id", json!(0)), "owner_id", "owner_id must be at least 1"),
        (
            with("platform", json!("myspace")),
            "platform",
            "platform must be one of: discord, telegram",
        ),
        (
            with("rate_limit_per_hour", json!(0)),
            "rate_limit_per_hour",
            "rate_limit_per_hour must be between 1 and 100000",
        ),
        (
            with("rate_limit_per_hour", json!(100_001)),
            "rate_limit_per_hour",
            "rate_limit_per_hour must be between 1 and 100000",
        ),
    ];
    for (body, field, message) in cases {
        refused(&register(&t, &owner, body).await, field, message);
    }
    let r = register(&t, &owner, json!({"owner_id": owner.user.id, "platform": "discord"})).await;
    refused(&r, "name", "name is required");
    register(&t, &owner, with("owner_id", json!(999_999)))
        .await
        .assert_error(404, "ERR_USER_NOT_FOUND");
    register(&t, &owner, with("name", json!("STEADY")))
        .await
        .assert_error(409, "ERR_BOT_NAME_TAKEN");

    // Self-update: all or nothing.
    let update = |body: Value| t.post("/v1/bot/me/update").key(&key).json(body).send();
    let cases = [
        (json!({"name": "x"}), "name", "name must be at least 2 characters"),
        (
            json!({"name": "y".repeat(33)}),
            "name",
            "name must be at most 32 characters",
        ),
        (
            json!({"name": "Good Name", "latency_ms": 10_001}),
            "latency_ms",
            "latency_ms must be between 0 and 10000",
        ),
        (
            json!({"latency_ms": -0.5}),
            "latency_ms",
            "latency_ms must be between 0 and 10000",
        ),
        (
            json!({"latency_ms": "fast"}),
            "latency_ms",
            "latency_ms must be a number",
        ),
        (
            json!({"users": -1}),
            "users",
            "users must be between 0 and 9007199254740991",
        ),
        (
            json!({"users": 9_007_199_254_740_992_i64}),
            "users",
            "users must be between 0 and 9007199254740991",
        ),
        (json!({"users": 1.5}), "users", "users must be an integer"),
        (
            json!({"group_ids": [1, -2]}),
            "group_ids[1]",
            "group_ids[1] must be at least 0",
        ),
        (
            json!({"group_ids": ["a", true]}),
            "group_ids[1]",
            "group_ids[1] must be a string or an integer",
        ),
        (
            json!({"group_ids": [""]}),
            "group_ids[0]",
            "group_ids[0] must be at least 1 characters",
        ),
        (json!({"group_ids": "1,2"}), "group_ids", "group_ids must be an array"),
        (
            json!({"avatar_url": "ftp://example.org/a.png"}),
            "avatar_url",
            "avatar_url must be a valid URL",
        ),
        (
            json!({"users": 10, "avatar_url": 5}),
            "avatar_url",
            "avatar_url must be a string",
        ),
    ];
    for (body, field, message) in cases {
        refused(&update(body).await, field, message);
    }
    let too_many_groups: Vec<i64> = (0..50_001).collect();
    refused(
        &update(json!({"group_ids": too_many_groups})).await,
        "group_ids",
        "group_ids must have at most 50000 items",
    );
    let me_after = t.get("/v1/bot/me").key(&key).send().await.assert_ok().clone();
    assert_eq!(
        me_after, me_before,
        "a refused update changes nothing, not even the heartbeat"
    );
    assert_eq!(me_after["last_activity_at"], Value::Null);

    // Batch: all or nothing, errors name the record.
    let now = t.app.now();
    let ok = json!({"command": "help", "timestamp": rfc3339(now)});
    let batch = |second: Value| {
        t.post("/v1/bot/batch")
            .key(&key)
            .json(json!({"commands": [ok.clone(), second]}))
            .send()
    };
    let minute = 60 * MICROS_PER_SECOND;
    let cases = [
        (
            json!({"command": "help", "count": -1, "timestamp": rfc3339(now)}),
            "commands[1].count",
            "commands[1].count must be between 1 and 1000000",
        ),
        (
            json!({"command": "help", "count": 0, "timestamp": rfc3339(now)}),
            "commands[1].count",
            "commands[1].count must be between 1 and 1000000",
        ),
        (
            json!({"command": "help", "count": 1_000_001, "timestamp": rfc3339(now)}),
            "commands[1].count",
            "commands[1].count must be between 1 and 1000000",
        ),
        (
            json!({"command": "help", "timestamp": "yesterday"}),
            "commands[1].timestamp",
            "commands[1].timestamp must be a valid timestamp",
        ),
        (
            json!({"command": "help", "timestamp": "2026-03-19 12:00:00"}),
            "commands[1].timestamp",
            "commands[1].timestamp must be a valid timestamp",
        ),
        (
            json!({"command": "help", "timestamp": rfc3339(now + 6 * minute)}),
            "commands[1].timestamp",
            "commands[1].timestamp must be at most 5 minutes in the future",
        ),
        (
            json!({"command": "help", "timestamp": rfc3339(now - 31 * 24 * 60 * minute)}),
            "commands[1].timestamp",
            "commands[1].timestamp must be at most 30 days in the past",
        ),
        (
            json!({"command": "help"}),
            "commands[1].timestamp",
            "commands[1].timestamp is required",
        ),
        (
            json!({"command": "   ", "timestamp": rfc3339(now)}),
            "commands[1].command",
            "commands[1].command must be at least 1 characters",
        ),
        (
            json!({"command": "help", "user_id": 0, "timestamp": rfc3339(now)}),
            "commands[1].user_id",
            "commands[1].user_id must be at least 1",
        ),
        (
            json!({"command": "help", "group_id": -3, "timestamp": rfc3339(now)}),
            "commands[1].group_id",
            "commands[1].group_id must be at least 0",
        ),
        (json!("help"), "commands[1]", "commands[1] must be an object"),
    ];
    for (second, field, message) in cases {
        refused(&batch(second).await, field, message);
    }
    let r = t.post("/v1/bot/batch").key(&key).json(json!({})).send().await;
    refused(&r, "commands", "commands is required");
    let r = t
        .post("/v1/bot/batch")
        .key(&key)
        .json(json!({"commands": {"command": "help"}}))
        .send()
        .await;
    refused(&r, "commands", "commands must be an array");
    let r = t.get("/v1/bot/me/commands").key(&key).send().await;
    assert_eq!(r.assert_ok(), &json!([]));
    let r = t
        .get("/v1/bot/me/commands?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z")
        .key(&key)
        .send()
        .await;
    refused(&r, "since", "since must be before until");
    let r = t.get("/v1/bot/me/commands?since=soon").key(&key).send().await;
    refused(&r, "since", "since must be a valid timestamp");
    let r = t
        .get("/v1/bot/me/commands?since=2024-01-01T00:00:00Z&until=2025-01-02T00:00:00Z")
        .key(&key)
        .send()
        .await;
    refused(&r, "since", "since must be at most 366 days before until");

    // Admin update.
    let admin_update = |body: Value| {
        t.post(&format!("/v1/admin/bots/{id}/update"))
            .cookie(&owner.token)
            .json(body)
            .send()
    };
    let type_message = "bot_type must be one of: official, verified, community, 1, 2, 3";
    let cases = [
        (json!({"bot_type": "gold"}), "bot_type", type_message),
        (
            json!({"rate_limit_per_hour": 5, "bot_type": 4}),
            "bot_type",
            type_message,
        ),
        (json!({"bot_type": 1.0}), "bot_type", type_message),
        (json!({"is_active": "no"}), "is_active", "is_active must be a boolean"),
        (json!({"name": "z"}), "name", "name must be at least 2 characters"),
        (
            json!({"rate_limit_per_hour": 0}),
            "rate_limit_per_hour",
            "rate_limit_per_hour must be between 1 and 100000",
        ),
    ];
    for (body, field, message) in cases {
        refused(&admin_update(body).await, field, message);
    }
    let r = t
        .post("/v1/admin/bots/abc/update")
        .cookie(&owner.token)
        .json(json!({}))
        .send()
        .await;
    refused(&r, "bot_id", "bot_id must be a positive integer");
    t.post("/v1/admin/bots/424242/update")
        .cookie(&owner.token)
        .json(json!({"bot_type": 2}))
        .send()
        .await
        .assert_error(404, "ERR_BOT_NOT_FOUND");
    let r = t.get("/v1/admin/bots?limit=26").cookie(&owner.token).send().await;
    refused(&r, "limit", "limit must be between 1 and 25");

    // Nothing changed anywhere.
    let me_final = t.get("/v1/bot/me").key(&key).send().await.assert_ok().clone();
    assert_eq!(me_final, me_before);
    let bots_after = t.get("/v1/admin/bots").cookie(&owner.token).send().await;
    assert_eq!(bots_after.assert_ok(), bots_before.assert_ok());
    assert_eq!(bots_after.header("x-total-count"), Some("2"));
    assert_eq!(audit_events(&t, id).await.len(), audit_before);
});
