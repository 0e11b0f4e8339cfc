//! What a bot reports about itself: command records, its own profile and its latency, and the
//! staff updates audited beside them.

use super::*;

both_backends!(a_batch_of_1000_records_is_counted_exactly, |t: TestApp| async move {
    let owner = t.user("owner-1", 3).await;
    let key = t.bot(&owner, "Counter", "discord", 3).await;
    let now = t.app.now();
    let names = ["help", "stats", "play", "skip"];
    let mut expected: BTreeMap<&str, i64> = BTreeMap::new();
    let records: Vec<Value> = (0..1000)
        .map(|i: i64| {
            let command = names[(i % 4) as usize];
            let count = i % 7 + 1;
            *expected.entry(command).or_default() += count;
            let at = now - (i % 48) * 1800 * MICROS_PER_SECOND - i * MICROS_PER_SECOND;
            let mut record = json!({"command": command, "count": count, "timestamp": rfc3339(at)});
            if i % 3 == 0 {
                record["user_id"] = json!(42);
                record["group_id"] = json!("1229891286278865008");
            } else if i % 3 == 1 {
                record["group_id"] = json!(10);
            }
            record
        })
        .collect();
    let r = t
        .post("/v1/bot/batch")
        .key(&key)
        .json(json!({"commands": records}))
        .send()
        .await;
    let body = r.assert_ok();
    assert_eq!(body["accepted"], 1000);
    assert_eq!(body["message"], "Batch update processed successfully");

    let r = t.get("/v1/bot/me/commands").key(&key).send().await;
    let usage = r.assert_ok().as_array().unwrap().clone();
    assert_eq!(r.header("x-total-count"), Some("4"));
    let got: BTreeMap<String, i64> = usage
        .iter()
        .map(|u| (u["command"].as_str().unwrap().to_owned(), u["count"].as_i64().unwrap()))
        .collect();
    let want: BTreeMap<String, i64> = expected.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    assert_eq!(got, want);
    let counts: Vec<i64> = usage.iter().map(|u| u["count"].as_i64().unwrap()).collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "sorted by count: {counts:?}");
    assert_eq!(usage[0].as_object().unwrap().len(), 4);

    // A second batch adds to the same buckets.
    t.post("/v1/bot/batch")
        .key(&key)
        .json(json!({"commands": [{"command": " help ", "count": 5, "timestamp": rfc3339(now)}]}))
        .send()
        .await
        .assert_ok();
    let id = t.bot_id_of(&key).await;
    let staff_token = {
        let login_key = t.login_bot().await;
        t.login(&login_key, "owner-1").await
    };
    let r = t
        .get(&format!("/v1/admin/bots/{id}/commands"))
        .cookie(&staff_token)
        .send()
        .await;
    let help = r
        .assert_ok()
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["command"] == "help")
        .unwrap()
        .clone();
    assert_eq!(help["count"], expected["help"] + 5);
    assert_eq!(help["last_at"], rfc3339(now));

    // A window that ends half a day ago sees only the older part.
    let until = rfc3339(now - 12 * 3600 * MICROS_PER_SECOND);
    let r = t
        .get(&format!("/v1/bot/me/commands?until={}", until.replace(':', "%3A")))
        .key(&key)
        .send()
        .await;
    let early: i64 = r
        .assert_ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["count"].as_i64().unwrap())
        .sum();
    assert!(early > 0 && early < want.values().sum::<i64>());

    // 1001 records: refused whole, nothing counted.
    let too_many: Vec<Value> = (0..1001)
        .map(|_| json!({"command": "help", "timestamp": rfc3339(now)}))
        .collect();
    let r = t
        .post("/v1/bot/batch")
        .key(&key)
        .json(json!({"commands": too_many}))
        .send()
        .await;
    r.assert_error(400, "ERR_VALIDATION");
    assert_eq!(r.body["field"], "commands");
    assert_eq!(r.body["error"], "commands must have at most 1000 items");
    let mut conn = t.conn().await;
    let (total,): (i64,) = sqlx::query_as("SELECT CAST(SUM(count) AS BIGINT) FROM bot_command_stats WHERE bot_id = $1")
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(total, want.values().sum::<i64>() + 5);
});

both_backends!(
    a_bot_reports_itself_and_staff_update_it_with_audit,
    |t: TestApp| async move {
        let login_key = t.login_bot().await;
        let owner = staff(&t, &login_key, "owner-1", 3).await;
        let (id, key) = registered(&t, &owner, "Reporter", owner.user.id, 1000).await;
        let other_owner = t.user("someone", 0).await;
        t.bot(&other_owner, "Taken Name", "discord", 3).await;
        t.bot(&other_owner, "Elsewhere", "telegram", 3).await;

        // An empty body is a heartbeat.
        t.clock.advance_secs(10);
        let r = t.post("/v1/bot/me/update").key(&key).send().await;
        let beat = r.assert_ok().clone();
        assert_eq!(beat["message"], "Bot updated successfully");
        assert_eq!(beat["bot"]["last_activity_at"], rfc3339(t.app.now()));
        assert_eq!(beat["updated_at"], beat["bot"]["updated_at"]);
        assert_eq!(beat["bot"]["name"], "Reporter");

        let r = t
            .post("/v1/bot/me/update")
            .key(&key)
            .json(
                json!({"name": " Reporter v2 ", "avatar_url": "https://cdn.example.org/b.png",
                     "group_ids": ["1229891286278865008", "987654321098765432", 10, "10"],
                     "users": 5000, "latency_ms": 42.5}),
            )
            .send()
            .await;
        let bot = r.assert_ok()["bot"].clone();
        assert_eq!(bot["name"], "Reporter v2");
        assert_eq!(bot["groups"], 3);
        assert_eq!(bot["users"], 5000);
        assert_eq!(bot["latency_ms"], 42.5);
        assert_eq!(bot["avatar_url"], "https://cdn.example.org/b.png");
        // `null` clears the avatar; absent fields stay.
        let r = t
            .post("/v1/bot/me/update")
            .key(&key)
            .json(json!({"avatar_url": null}))
            .send()
            .await;
        let bot = r.assert_ok()["bot"].clone();
        assert_eq!(bot["avatar_url"], Value::Null);
        assert_eq!(bot["users"], 5000);
        // Names are unique per platform, regardless of case.
        t.post("/v1/bot/me/update")
            .key(&key)
            .json(json!({"name": "taken name"}))
            .send()
            .await
            .assert_error(409, "ERR_BOT_NAME_TAKEN");
        t.post("/v1/bot/me/update")
            .key(&key)
            .json(json!({"name": "Elsewhere"}))
            .send()
            .await
            .assert_ok();
        assert!(
            audit_events(&t, id).await.iter().all(|(e, _)| e == "BOT_REGISTER"),
            "self-updates are not audited"
        );

        // Staff update: type and quota in one request write two rows.
        let r = t
            .post(&format!("/v1/admin/bots/{id}/update"))
            .cookie(&owner.token)
            .json(json!({"bot_type": "Official", "rate_limit_per_hour": 2000}))
            .send()
            .await;
        let body = r.assert_ok();
        assert_eq!(body["message"], format!("Bot {id} updated"));
        assert_eq!(body["bot"]["bot_type"], 1);
        assert_eq!(body["bot"]["is_verified"], true);
        assert_eq!(body["bot"]["rate_limit_per_hour"], 2000);
        let events = audit_events(&t, id).await;
        let tail: Vec<&(String, Value)> = events.iter().skip(1).collect();
        assert_eq!(tail.len(), 2);
        assert_eq!(tail[0].0, "BOT_UPDATE");
        assert_eq!(
            tail[0].1["changes"],
            json!({"rate_limit_per_hour": {"old": 1000, "new": 2000}})
        );
        assert_eq!(tail[1].0, "BOT_VERIFY");
        assert_eq!(tail[1].1, json!({"old_bot_type": 3, "new_bot_type": 1}));

        // Unchanged values and an empty body write nothing.
        let count = events.len();
        for body in [
            json!({}),
            json!({"bot_type": 1, "rate_limit_per_hour": 2000, "is_active": true}),
        ] {
            t.post(&format!("/v1/admin/bots/{id}/update"))
                .cookie(&owner.token)
                .json(body)
                .send()
                .await
                .assert_ok();
        }
        assert_eq!(audit_events(&t, id).await.len(), count);
        t.post(&format!("/v1/admin/bots/{id}/update"))
            .cookie(&owner.token)
            .json(json!({"bot_type": 3}))
            .send()
            .await
            .assert_ok();
        let events = audit_events(&t, id).await;
        assert_eq!(events.last().unwrap().0, "BOT_UNVERIFY");

        // Owner change: to an existing user the actor outranks.
        let r = t
            .post(&format!("/v1/admin/bots/{id}/update"))
            .cookie(&owner.token)
            .json(json!({"owner_id": other_owner.id}))
            .send()
            .await;
        assert_eq!(r.assert_ok()["bot"]["owner_id"], other_owner.id);
        t.post(&format!("/v1/admin/bots/{id}/update"))
            .cookie(&owner.token)
            .json(json!({"owner_id": 999_999}))
            .send()
            .await
            .assert_error(404, "ERR_USER_NOT_FOUND");

        // Reset-stats zeroes the report but keeps the last activity.
        let last_activity = t.get("/v1/bot/me").key(&key).send().await.body["last_activity_at"].clone();
        let r = t
            .post(&format!("/v1/admin/bots/{id}/reset-stats"))
            .cookie(&owner.token)
            .send()
            .await;
        let body = r.assert_ok();
        assert_eq!(body["message"], "Statistics reset for bot 'Elsewhere'");
        assert_eq!(body["bot"]["groups"], 0);
        assert_eq!(body["bot"]["users"], 0);
        assert_eq!(body["bot"]["latency_ms"], Value::Null);
        assert_eq!(body["bot"]["last_activity_at"], last_activity);
        let (event, metadata) = audit_events(&t, id).await.pop().unwrap();
        assert_eq!(event, "BOT_STATS_RESET");
        assert_eq!(
            metadata,
            json!({"old_groups": 3, "old_users": 5000, "old_latency_ms": 42.5})
        );
    }
);

// With one pooled connection every statement is reused: a heartbeat (no latency) followed by a
// report with a latency must both work on that connection.
both_backends!(
    a_latency_report_after_a_heartbeat_on_one_connection,
    |c: &mut Config| c.database.max_connections = Some(1),
    |t: TestApp| async move {
        let owner = t.user("owner-1", 3).await;
        let key = t.bot(&owner, "Pinger", "discord", 3).await;
        for latency in [Value::Null, json!(42.5), Value::Null, json!(7)] {
            let body = match &latency {
                Value::Null => json!({}),
                value => json!({"latency_ms": value}),
            };
            let r = t.post("/v1/bot/me/update").key(&key).json(body).send().await;
            let reported = &r.assert_ok()["bot"]["latency_ms"];
            if !latency.is_null() {
                assert_eq!(reported.as_f64(), latency.as_f64());
            }
        }
    }
);
