//! Subscription grants and revocations (40-subscriptions).

use super::*;

both_backends!(subscription_grants_follow_the_tier_rules, |t: TestApp| async move {
    let bot = t.login_bot().await;
    let (admin, admin_token) = t.staff(&bot, "admin", 2).await;
    let user = t.user("plain", 0).await;
    let paid = t.user("paid", 0).await;

    // Trial, in any case of its name: seven days, once.
    let now = t.app.now();
    let r = grant(
        &t,
        &admin_token,
        json!({"user_id": user.id, "tier": "trial", "reason": "  onboarding "}),
    )
    .await;
    let body = r.assert_ok();
    assert_eq!(
        body["message"],
        format!("Subscription granted to user {} (7-day trial)", user.id)
    );
    assert_eq!(
        body["subscription"],
        json!({"user_id": user.id, "subscription_tier": 1, "expires_at": rfc3339(now + 7 * DAY * MICROS),
               "is_active": true, "granted_by_id": admin.id, "trial_used": true})
    );
    let before = footprint(&t, user.id).await;
    grant(&t, &admin_token, json!({"user_id": user.id, "tier": 1}))
        .await
        .assert_error(409, "ERR_TRIAL_ALREADY_USED");
    assert_eq!(footprint(&t, user.id).await, before);

    // Premium over a Trial starts now; Premium over Premium extends it. (Staff sessions last a
    // day, so the Admin logs in again after each jump of the clock.)
    t.clock.advance_secs(DAY);
    let admin_token = t.login(&bot, "admin").await;
    let now = t.app.now();
    let r = grant(
        &t,
        &admin_token,
        json!({"user_id": user.id, "tier": 2, "duration_days": 30}),
    )
    .await;
    let body = r.assert_ok();
    assert_eq!(
        body["message"],
        format!("Subscription granted to user {} for 30 days", user.id)
    );
    let premium_until = now + 30 * DAY * MICROS;
    assert_eq!(body["subscription"]["expires_at"], rfc3339(premium_until));
    t.clock.advance_secs(10 * DAY);
    let admin_token = t.login(&bot, "admin").await;
    let r = grant(
        &t,
        &admin_token,
        json!({"user_id": user.id, "tier": "Premium", "duration_days": 5, "reason": ""}),
    )
    .await;
    assert_eq!(
        r.assert_ok()["subscription"]["expires_at"],
        rfc3339(premium_until + 5 * DAY * MICROS)
    );
    let audit = t
        .get(&format!(
            "/v1/admin/audit/logs?event_type=SUBSCRIPTION_GRANT&target_id={}&limit=1",
            user.id
        ))
        .cookie(&admin_token)
        .send()
        .await;
    let entry = &audit.assert_ok()["items"][0];
    let history_id = scalar(
        &t,
        "SELECT MAX(id) FROM subscription_history WHERE user_id = $1",
        Some(user.id),
    )
    .await;
    assert_eq!(
        entry["metadata"],
        json!({"old_tier": 2, "new_tier": 2, "duration_days": 5, "old_expires_at": rfc3339(premium_until),
               "new_expires_at": rfc3339(premium_until + 5 * DAY * MICROS), "reason": null, "history_id": history_id})
    );

    // A Trial never replaces a paid tier.
    grant(
        &t,
        &admin_token,
        json!({"user_id": paid.id, "tier": 2, "duration_days": 30}),
    )
    .await
    .assert_ok();
    grant(&t, &admin_token, json!({"user_id": paid.id, "tier": "TRIAL"}))
        .await
        .assert_error(409, "ERR_SUBSCRIPTION_ACTIVE");

    // Lifetime drops the remaining Premium; nothing is granted over it.
    let r = grant(
        &t,
        &admin_token,
        json!({"user_id": user.id, "tier": 3, "duration_days": null}),
    )
    .await;
    let body = r.assert_ok();
    assert_eq!(
        body["message"],
        format!("Lifetime subscription granted to user {}", user.id)
    );
    assert_eq!(body["subscription"]["subscription_tier"], 3);
    assert_eq!(body["subscription"]["expires_at"], Value::Null);
    for tier in [json!(1), json!("PREMIUM"), json!(3)] {
        grant(
            &t,
            &admin_token,
            json!({"user_id": user.id, "tier": tier, "duration_days": 3}),
        )
        .await
        .assert_error(409, "ERR_ALREADY_LIFETIME");
    }

    // The active list: effective tiers, by id, with a tier filter.
    let r = t
        .get("/v1/admin/subscriptions/active")
        .cookie(&admin_token)
        .send()
        .await;
    let body = r.assert_ok();
    assert_eq!(body["total"], 2);
    assert_eq!(
        body["users"][0],
        json!({"id": user.id, "name": "uplain", "tier": 3, "expires_at": null, "is_active": true})
    );
    assert_eq!(body["users"][1]["id"], paid.id);
    assert_eq!(body["users"][1]["tier"], 2);
    for (filter, expected) in [("2", vec![paid.id]), ("lifetime", vec![user.id]), ("TRIAL", vec![])] {
        let r = t
            .get(&format!("/v1/admin/subscriptions/active?tier={filter}"))
            .cookie(&admin_token)
            .send()
            .await;
        let ids: Vec<i64> = r.assert_ok()["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, expected, "{filter}");
    }
    let r = t
        .get("/v1/admin/subscriptions/active?limit=1&offset=1")
        .cookie(&admin_token)
        .send()
        .await;
    assert_eq!(r.assert_ok()["users"][0]["id"], paid.id);
    assert_eq!(r.body["total"], 2);
    for bad in ["tier=0", "tier=BASIC", "tier=4", "limit=0", "limit=1001", "offset=-1"] {
        t.get(&format!("/v1/admin/subscriptions/active?{bad}"))
            .cookie(&admin_token)
            .send()
            .await
            .assert_error(400, "ERR_VALIDATION");
    }

    // Revoke returns to Basic at once; the used Trial stays used.
    let r = revoke(&t, &admin_token, user.id).await;
    let body = r.assert_ok();
    assert_eq!(body["message"], format!("Subscription revoked for user {}", user.id));
    assert_eq!(
        body["subscription"],
        json!({"user_id": user.id, "subscription_tier": 0, "expires_at": null, "is_active": false,
               "granted_by_id": null, "trial_used": true})
    );
    let before = footprint(&t, user.id).await;
    revoke(&t, &admin_token, user.id)
        .await
        .assert_error(409, "ERR_NO_SUBSCRIPTION");
    grant(&t, &admin_token, json!({"user_id": user.id, "tier": 1}))
        .await
        .assert_error(409, "ERR_TRIAL_ALREADY_USED");
    assert_eq!(footprint(&t, user.id).await, before);
});

both_backends!(
    subscriptions_expire_at_read_time_and_the_sweeper_records_it,
    |t: TestApp| async move {
        let bot = t.login_bot().await;
        let (admin, admin_token) = t.staff(&bot, "admin", 2).await;
        t.user("owner", 3).await;
        let user = t.user("plain", 0).await;
        let regrant = t.user("regrant", 0).await;

        let granted_at = t.app.now();
        for target in [user.id, regrant.id] {
            grant(
                &t,
                &admin_token,
                json!({"user_id": target, "tier": 2, "duration_days": 1}),
            )
            .await
            .assert_ok();
        }
        let expiry = granted_at + DAY * MICROS;
        t.clock.advance_secs(DAY + 5);
        // Staff sessions last a day.
        let admin_token = t.login(&bot, "admin").await;
        let owner_token = t.login(&bot, "owner").await;

        // Basic from the instant of expiry, before any sweep.
        let d = detail(&t, &owner_token, user.id).await;
        assert_eq!(d["subscription_tier"], 0);
        assert_eq!(d["subscription_expires_at"], Value::Null);
        assert_eq!(d["subscription_granted_by"], Value::Null);
        assert_eq!(d["subscription_history"].as_array().unwrap().len(), 1);
        let r = t
            .get("/v1/admin/subscriptions/active")
            .cookie(&admin_token)
            .send()
            .await;
        assert_eq!(r.assert_ok()["total"], 0);
        // A refused revoke writes nothing, the expiry included.
        revoke(&t, &admin_token, user.id)
            .await
            .assert_error(409, "ERR_NO_SUBSCRIPTION");
        assert_eq!(
            detail(&t, &owner_token, user.id).await["subscription_history"]
                .as_array()
                .unwrap()
                .len(),
            1
        );

        // A grant records the expiry first, dated at the expiry instant.
        let regranted_at = t.app.now();
        grant(
            &t,
            &admin_token,
            json!({"user_id": regrant.id, "tier": 2, "duration_days": 3}),
        )
        .await
        .assert_ok();
        let history = detail(&t, &owner_token, regrant.id).await["subscription_history"].clone();
        let steps: Vec<(i64, i64, Value, Value)> = history
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h["old_tier"].as_i64().unwrap(),
                    h["new_tier"].as_i64().unwrap(),
                    h["reason"].clone(),
                    h["created_at"].clone(),
                )
            })
            .collect();
        assert_eq!(
            steps,
            vec![
                (0, 2, Value::Null, json!(rfc3339(regranted_at))),
                (2, 0, json!("expired"), json!(rfc3339(expiry))),
                (0, 2, Value::Null, json!(rfc3339(granted_at))),
            ]
        );
        assert_eq!(history[1]["granted_by_id"], Value::Null);
        assert_eq!(history[2]["granted_by_id"], admin.id);

        // The sweeper records the other expiry once, however often it runs; no audit row.
        let audits = audit_count(&t).await;
        assert_eq!(portal::domain::subscriptions::sweep_expired(&t.app).await.unwrap(), 1);
        assert_eq!(portal::domain::subscriptions::sweep_expired(&t.app).await.unwrap(), 0);
        assert_eq!(audit_count(&t).await, audits);
        let d = detail(&t, &owner_token, user.id).await;
        let newest = &d["subscription_history"][0];
        assert_eq!(
            (
                newest["old_tier"].clone(),
                newest["new_tier"].clone(),
                newest["reason"].clone()
            ),
            (json!(2), json!(0), json!("expired"))
        );
        assert_eq!(newest["created_at"], rfc3339(expiry));
        assert_eq!(newest["granted_by_id"], Value::Null);
        assert_eq!(d["updated_at"], rfc3339(expiry));
        assert_eq!(d["subscription_history"].as_array().unwrap().len(), 2);

        // A Trial runs out after seven days too.
        grant(&t, &admin_token, json!({"user_id": user.id, "tier": "TRIAL"}))
            .await
            .assert_ok();
        t.clock.advance_secs(7 * DAY - 1);
        let owner_token = t.login(&bot, "owner").await;
        assert_eq!(detail(&t, &owner_token, user.id).await["subscription_tier"], 1);
        t.clock.advance_secs(1);
        assert_eq!(detail(&t, &owner_token, user.id).await["subscription_tier"], 0);
        // That Trial and the three-day Premium of the other user.
        assert_eq!(portal::domain::subscriptions::sweep_expired(&t.app).await.unwrap(), 2);
    }
);
