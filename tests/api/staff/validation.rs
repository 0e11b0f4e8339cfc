//! Bad input to the staff endpoints is refused and changes nothing.

use super::*;

both_backends!(bad_input_is_refused_and_changes_nothing, |t: TestApp| async move {
    let bot = t.login_bot().await;
    let (_, owner) = t.staff(&bot, "owner", 3).await;
    let user = t.user("plain", 0).await;
    let u = user.id;
    let long = "x".repeat(501);
    let grant_path = "/v1/admin/subscriptions/grant";
    let revoke_path = "/v1/admin/subscriptions/revoke";
    let cases: Vec<(String, Value, &str)> = vec![
        (user_path(u, "timeout"), json!({"reason": "x"}), "duration"),
        (
            user_path(u, "timeout"),
            json!({"duration": 59, "reason": "x"}),
            "duration",
        ),
        (
            user_path(u, "timeout"),
            json!({"duration": 2_592_001, "reason": "x"}),
            "duration",
        ),
        (
            user_path(u, "timeout"),
            json!({"duration": "600", "reason": "x"}),
            "duration",
        ),
        (
            user_path(u, "timeout"),
            json!({"duration": 600.0, "reason": "x"}),
            "duration",
        ),
        (user_path(u, "timeout"), json!({"duration": 600}), "reason"),
        (user_path(u, "ban"), json!({"reason": "x", "duration": -1}), "duration"),
        (user_path(u, "ban"), json!({"reason": "x", "duration": 59}), "duration"),
        (
            user_path(u, "ban"),
            json!({"reason": "x", "duration": 31_536_001}),
            "duration",
        ),
        (
            user_path(u, "ban"),
            json!({"reason": "x", "duration": "1h"}),
            "duration",
        ),
        (user_path(u, "ban"), json!({"duration": 600}), "reason"),
        (user_path(u, "warn"), json!({}), "reason"),
        (user_path(u, "warn"), json!({"reason": null}), "reason"),
        (user_path(u, "warn"), json!({"reason": ""}), "reason"),
        (user_path(u, "warn"), json!({"reason": " \n\t "}), "reason"),
        (user_path(u, "warn"), json!({"reason": long.clone()}), "reason"),
        (user_path(u, "warn"), json!({"reason": 42}), "reason"),
        (user_path(u, "untimeout"), json!({"reason": ""}), "reason"),
        (user_path(u, "unban"), json!({"reason": long.clone()}), "reason"),
        (user_path(u, "delete"), json!({"reason": "   "}), "reason"),
        (user_path(u, "permission"), json!({"level": 4, "reason": "x"}), "level"),
        (user_path(u, "permission"), json!({"level": -1, "reason": "x"}), "level"),
        (
            user_path(u, "permission"),
            json!({"level": "1", "reason": "x"}),
            "level",
        ),
        (user_path(u, "permission"), json!({"level": 1}), "reason"),
        ("/v1/admin/users/0/warn".into(), json!({"reason": "x"}), "user_id"),
        ("/v1/admin/users/abc/ban".into(), json!({"reason": "x"}), "user_id"),
        ("/v1/admin/users/-3/delete".into(), json!({"reason": "x"}), "user_id"),
        (grant_path.into(), json!({"tier": 2, "duration_days": 3}), "user_id"),
        (grant_path.into(), json!({"user_id": 0, "tier": 3}), "user_id"),
        (
            grant_path.into(),
            json!({"user_id": u.to_string(), "tier": 3}),
            "user_id",
        ),
        (grant_path.into(), json!({"user_id": u}), "tier"),
        (grant_path.into(), json!({"user_id": u, "tier": 7}), "tier"),
        (grant_path.into(), json!({"user_id": u, "tier": 0}), "tier"),
        (grant_path.into(), json!({"user_id": u, "tier": "GOLD"}), "tier"),
        (grant_path.into(), json!({"user_id": u, "tier": "BASIC"}), "tier"),
        (grant_path.into(), json!({"user_id": u, "tier": "2"}), "tier"),
        (grant_path.into(), json!({"user_id": u, "tier": 2.0}), "tier"),
        (grant_path.into(), json!({"user_id": u, "tier": true}), "tier"),
        (grant_path.into(), json!({"user_id": u, "tier": 2}), "duration_days"),
        (
            grant_path.into(),
            json!({"user_id": u, "tier": 2, "duration_days": 0}),
            "duration_days",
        ),
        (
            grant_path.into(),
            json!({"user_id": u, "tier": 2, "duration_days": 3651}),
            "duration_days",
        ),
        (
            grant_path.into(),
            json!({"user_id": u, "tier": 2, "duration_days": "30"}),
            "duration_days",
        ),
        (
            grant_path.into(),
            json!({"user_id": u, "tier": 1, "duration_days": "x"}),
            "duration_days",
        ),
        (
            grant_path.into(),
            json!({"user_id": u, "tier": 3, "reason": long.clone()}),
            "reason",
        ),
        (
            grant_path.into(),
            json!({"user_id": u, "tier": 3, "reason": 5}),
            "reason",
        ),
        (revoke_path.into(), json!({"user_id": u}), "reason"),
        (revoke_path.into(), json!({"reason": "x"}), "user_id"),
    ];
    let before = footprint(&t, u).await;
    for (path, body, field) in &cases {
        let r = t.post_as(&owner, path, body.clone()).await;
        r.assert_error(400, "ERR_VALIDATION");
        assert_eq!(r.body["field"], *field, "{path} {body}: {}", r.body);
        let message = r.body["error"].as_str().unwrap();
        assert!(message.starts_with(field), "{message}");
    }
    let r = t
        .post_as(&owner, &user_path(u, "timeout"), json!({"duration": 59, "reason": "x"}))
        .await;
    assert_eq!(r.body["error"], "duration must be between 60 and 2592000");
    let r = t
        .post_as(&owner, grant_path, json!({"user_id": u, "tier": "GOLD"}))
        .await;
    assert_eq!(
        r.body["error"],
        "tier must be one of: 1, 2, 3, TRIAL, PREMIUM, LIFETIME"
    );
    let r = t.post_as(&owner, grant_path, json!({"user_id": u, "tier": 2})).await;
    assert_eq!(r.body["error"], "duration_days is required");

    // Unknown users.
    let ghost = 999_999;
    for (path, body) in [
        (user_path(ghost, "warn"), json!({"reason": "x"})),
        (user_path(ghost, "timeout"), json!({"duration": 60, "reason": "x"})),
        (user_path(ghost, "untimeout"), json!({"reason": "x"})),
        (user_path(ghost, "ban"), json!({"reason": "x"})),
        (user_path(ghost, "unban"), json!({"reason": "x"})),
        (user_path(ghost, "permission"), json!({"level": 1, "reason": "x"})),
        (user_path(ghost, "delete"), json!({"reason": "x"})),
        (grant_path.into(), json!({"user_id": ghost, "tier": 3})),
        (revoke_path.into(), json!({"user_id": ghost, "reason": "x"})),
    ] {
        t.post_as(&owner, &path, body)
            .await
            .assert_error(404, "ERR_USER_NOT_FOUND");
    }

    // Conflicts.
    t.post_as(&owner, &user_path(u, "untimeout"), json!({"reason": "x"}))
        .await
        .assert_error(409, "ERR_NOT_TIMED_OUT");
    t.post_as(&owner, &user_path(u, "unban"), json!({"reason": "x"}))
        .await
        .assert_error(409, "ERR_NOT_BANNED");
    t.post_as(&owner, &user_path(u, "permission"), json!({"level": 0, "reason": "x"}))
        .await
        .assert_error(409, "ERR_PERMISSION_UNCHANGED");
    revoke(&t, &owner, u).await.assert_error(409, "ERR_NO_SUBSCRIPTION");
    assert_eq!(footprint(&t, u).await, before);

    // Trial twice: the second changes nothing.
    grant(&t, &owner, json!({"user_id": u, "tier": "TRIAL"}))
        .await
        .assert_ok();
    let after_trial = footprint(&t, u).await;
    grant(&t, &owner, json!({"user_id": u, "tier": "TRIAL"}))
        .await
        .assert_error(409, "ERR_TRIAL_ALREADY_USED");
    assert_eq!(footprint(&t, u).await, after_trial);

    // A reason of 500 characters after trimming is accepted and stored trimmed.
    let exact = "y".repeat(500);
    let r = t
        .post_as(&owner, &user_path(u, "warn"), json!({"reason": format!("  {exact}\n")}))
        .await;
    assert_eq!(r.assert_ok()["action"]["reason"], exact);
});
