//! The login flows, the login codes and their limits, and banned or timed-out users.

use super::*;
use portal::action_type::ActionType;

both_backends!(flow_a_returning_user_logs_in_from_the_web, |t: TestApp| async move {
    let bot = t.login_bot().await;
    let user = t.user("1001", 0).await;
    let found = t
        .post("/v1/authentication/lookup")
        .json(json!({"username": user.username.to_uppercase()}))
        .send()
        .await;
    let found = found.assert_ok();
    assert_eq!(found["id"], user.id);
    assert_eq!(
        found["platforms"],
        json!([{"platform": "discord", "platform_user_id": "1001"}])
    );

    let requested = t
        .post("/v1/authentication/request")
        .json(json!({"platform": "discord", "platform_user_id": "1001"}))
        .send()
        .await;
    assert_eq!(requested.assert_ok()["message"], "Login code generated.");
    let again = t
        .post("/v1/authentication/request")
        .json(json!({"platform": "discord", "platform_user_id": "1001"}))
        .send()
        .await;
    assert_eq!(
        again.body["expires_at"], requested.body["expires_at"],
        "re-requesting returns the pending code"
    );

    // The bot's send-code returns the pending web code.
    let sent = t
        .post("/v1/authentication/bot/send-code")
        .key(&bot)
        .json(report("1001"))
        .send()
        .await;
    let code = sent.assert_ok()["code"].as_str().unwrap().to_owned();
    assert_eq!(sent.body["expires_at"], requested.body["expires_at"]);
    assert_eq!(code.len(), 8);

    let verified = t
        .post("/v1/authentication/verify")
        .header("user-agent", "TestBrowser/1.0")
        .json(json!({"code": code}))
        .send()
        .await;
    let body = verified.assert_ok();
    assert_eq!(body["user_created"], false);
    assert_eq!(body["id"], user.id);
    assert_eq!(body["subscription_level"], body["subscription_tier"]);
    assert_eq!(
        body["linked_platforms"][0]["platform_username"], "name-1001",
        "the bot's report updated the link"
    );
    assert!(body["linked_platforms"][0]["last_authenticated_at"].is_string());
    let cookie = verified.headers.get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(cookie.starts_with("psession="));
    for attr in ["Max-Age=2592000", "Path=/", "HttpOnly", "SameSite=Lax"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    let token = verified.session_cookie().unwrap();
    assert_eq!(token.len(), 43);
    let me = t.get("/v1/users/me").cookie(&token).send().await;
    assert_eq!(me.assert_ok()["id"], user.id);

    // The code was consumed.
    let replay = t.verify(&code).await;
    replay.assert_error(400, "ERR_INVALID_CODE");
});

both_backends!(
    a_bot_report_refreshes_the_link_when_it_differs,
    |t: TestApp| async move {
        let bot = t.login_bot().await;
        t.user("7001", 0).await;
        let as_reported = |name: &str, avatar: Option<&str>| {
            json!({"platform": "discord", "platform_user_id": "7001", "platform_username": name,
               "platform_avatar_url": avatar})
        };
        // Each login's answer shows the link as the report left it, and when the user last changed.
        let log_in = |report: Value| async {
            t.clock.advance_secs(1);
            let code = t.web_code(&bot, report).await;
            let verified = t.verify(&code).await;
            let body = verified.assert_ok();
            let link = &body["linked_platforms"][0];
            (
                link["platform_username"].clone(),
                link["platform_avatar_url"].clone(),
                body["updated_at"].clone(),
                verified.session_cookie().unwrap(),
            )
        };
        let avatar = "https://cdn.example.org/a.png";
        let (name, shown, unchanged, _) = log_in(as_reported("7001", Some(avatar))).await;
        assert_eq!((name, shown), (json!("7001"), json!(avatar)));
        let (name, shown, dropped, _) = log_in(as_reported("7001", None)).await;
        assert_eq!(
            (name, shown),
            (json!("7001"), Value::Null),
            "a dropped avatar is a change"
        );
        assert_ne!(dropped, unchanged, "the change touched the user");
        let (_, shown, again, _) = log_in(as_reported("7001", None)).await;
        assert_eq!(shown, Value::Null);
        assert_eq!(again, dropped, "the same report changes nothing");
        let (name, _, _, token) = log_in(as_reported("renamed", Some(avatar))).await;
        assert_eq!(name, "renamed");

        // A report with no code pending refreshes the link too.
        t.post("/v1/authentication/bot/login-code")
            .key(&bot)
            .json(as_reported("renamed again", None))
            .send()
            .await
            .assert_ok();
        let me = t.get("/v1/users/me").cookie(&token).send().await;
        let link = &me.assert_ok()["linked_platforms"][0];
        assert_eq!(link["platform_username"], "renamed again");
        assert_eq!(link["platform_avatar_url"], Value::Null);
    }
);

// A login takes the user's row before their links'; a report that renames a link must take them
// in the same order, or the two wait for each other until PostgreSQL ends one with a deadlock.
both_backends!(
    logins_and_renaming_reports_of_one_user_run_side_by_side,
    |t: TestApp| async move {
        let bot = t.login_bot().await;
        let owner = t.user("tele-owner", 3).await;
        let telegram = t.bot(&owner, "Tele", "telegram", 1).await;
        let user = t.user("9001", 0).await;
        let mut conn = t.conn().await;
        let second = store::users::NewLink {
            user_id: user.id,
            platform: "telegram",
            platform_user_id: "9002",
            platform_username: "9002",
            platform_avatar_url: None,
            last_authenticated_at: None,
            now: t.app.now(),
        };
        store::users::insert_link(&mut conn, second).await.unwrap();
        drop(conn);
        let logins = async {
            for _ in 0..40 {
                t.login(&bot, "9001").await;
            }
        };
        let reports = async {
            for i in 0..40 {
                t.post("/v1/authentication/bot/send-code")
                    .key(&telegram)
                    .json(json!({"platform": "telegram", "platform_user_id": "9002",
                                 "platform_username": format!("renamed {i}")}))
                    .send()
                    .await
                    .assert_ok();
            }
        };
        tokio::join!(logins, reports);
    }
);

// A ban ends the user's sessions and deletes their codes; a login consumes a code and ends the
// session it was made from. Both take the codes before the sessions, so they never wait for each
// other: each round ends with the login first, or refused by the ban, or its code gone with it.
// A round of the last kind counts a failed verify, so the lockout is raised out of the way.
both_backends!(
    a_ban_and_a_login_of_one_user_run_side_by_side,
    |c: &mut portal::config::Config| c.verify.max_failures = 1000,
    |t: TestApp| async move {
        let bot = t.login_bot().await;
        t.user("ban-admin", 2).await;
        let admin = t.login(&bot, "ban-admin").await;
        let user = t.user("9101", 0).await;
        for _ in 0..20 {
            let session = t.login(&bot, "9101").await;
            let code = t.web_code(&bot, report("9101")).await;
            let relogin = t
                .post("/v1/authentication/verify")
                .cookie(&session)
                .json(json!({"code": code}))
                .send();
            let ban = t
                .post(&format!("/v1/admin/users/{}/ban", user.id))
                .cookie(&admin)
                .json(json!({"reason": "race"}))
                .send();
            let (relogin, ban) = tokio::join!(relogin, ban);
            ban.assert_ok();
            let outcome = (relogin.status.as_u16(), relogin.body["code"].as_str());
            assert!(
                matches!(
                    outcome,
                    (200, None) | (403, Some("ERR_ACCOUNT_BANNED")) | (400, Some("ERR_INVALID_CODE"))
                ),
                "{outcome:?}: {}",
                relogin.body
            );
            t.post(&format!("/v1/admin/users/{}/unban", user.id))
                .cookie(&admin)
                .json(json!({"reason": "race over"}))
                .send()
                .await
                .assert_ok();
        }
    }
);

both_backends!(flow_b_sign_up_creates_the_account, |t: TestApp| async move {
    let bot = t.login_bot().await;
    t.post("/v1/authentication/request")
        .json(json!({"platform": "discord", "platform_user_id": "2002"}))
        .send()
        .await
        .assert_ok();
    let sent = t
        .post("/v1/authentication/bot/send-code")
        .key(&bot)
        .json(report("2002"))
        .send()
        .await;
    sent.assert_error(404, "ERR_USER_NOT_FOUND");
    let fetched = t
        .post("/v1/authentication/bot/login-code")
        .key(&bot)
        .json(report("2002"))
        .send()
        .await;
    let code = fetched.assert_ok()["code"].as_str().unwrap().to_owned();
    let verified = t.verify(&code).await;
    let body = verified.assert_ok();
    assert_eq!(body["user_created"], true);
    let username = body["username"].as_str().unwrap();
    assert!(username.starts_with("user_") && username.len() == 13, "{username}");
    assert!(username[5..]
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    assert_eq!(body["permission_level"], 0);
    assert_eq!(body["state"], 0);
    assert_eq!(body["avatar_url"], "https://cdn.example.org/2002.png");
    assert_eq!(body["linked_platforms"][0]["platform_username"], "name-2002");
    let id = body["id"].as_i64().unwrap();
    let welcome = t.count(&format!("SELECT COUNT(*) FROM notifications WHERE user_id = {id} AND title = 'Welcome to Portal' AND type = 'success'")).await;
    assert_eq!(welcome, 1);

    // Nothing pending: login-code answers nulls.
    let nothing = t
        .post("/v1/authentication/bot/login-code")
        .key(&bot)
        .json(report("3003"))
        .send()
        .await;
    assert_eq!(nothing.assert_ok(), &json!({"code": null, "expires_at": null}));
});

both_backends!(flow_c_quick_login_counts_bot_logins, |t: TestApp| async move {
    let bot = t.login_bot().await;
    t.user("4004", 0).await;
    for round in 0..5 {
        let sent = t
            .post("/v1/authentication/bot/send-code")
            .key(&bot)
            .json(report("4004"))
            .send()
            .await;
        let code = sent.assert_ok()["code"].as_str().unwrap().to_owned();
        let again = t
            .post("/v1/authentication/bot/send-code")
            .key(&bot)
            .json(report("4004"))
            .send()
            .await;
        assert_eq!(
            again.body["code"],
            code.as_str(),
            "round {round}: the pending bot code is returned"
        );
        t.verify(&code).await.assert_ok();
    }
    let refused = t
        .post("/v1/authentication/bot/send-code")
        .key(&bot)
        .json(report("4004"))
        .send()
        .await;
    refused.assert_error(403, "ERR_WEB_LOGIN_REQUIRED");
    // A web login clears the counter; with a web code pending, send-code hands that one out.
    t.post("/v1/authentication/request")
        .json(json!({"platform": "discord", "platform_user_id": "4004"}))
        .send()
        .await
        .assert_ok();
    let web = t
        .post("/v1/authentication/bot/send-code")
        .key(&bot)
        .json(report("4004"))
        .send()
        .await;
    let code = web.assert_ok()["code"].as_str().unwrap().to_owned();
    t.verify(&code).await.assert_ok();
    t.post("/v1/authentication/bot/send-code")
        .key(&bot)
        .json(report("4004"))
        .send()
        .await
        .assert_ok();
});

both_backends!(
    only_official_bots_of_the_platform_handle_codes,
    |t: TestApp| async move {
        let owner = t.user("owner", 3).await;
        let community = t.bot(&owner, "Community", "discord", 3).await;
        let telegram = t.bot(&owner, "Tele", "telegram", 1).await;
        t.user("5005", 0).await;
        for path in ["/v1/authentication/bot/login-code", "/v1/authentication/bot/send-code"] {
            t.post(path)
                .key(&community)
                .json(report("5005"))
                .send()
                .await
                .assert_error(403, "ERR_OFFICIAL_BOT_REQUIRED");
            // The Official check comes before anything about the body (00-conventions §4).
            t.post(path)
                .key(&community)
                .raw(Some("application/json"), "{not json")
                .send()
                .await
                .assert_error(403, "ERR_OFFICIAL_BOT_REQUIRED");
            t.post(path)
                .key(&telegram)
                .json(report("5005"))
                .send()
                .await
                .assert_error(403, "ERR_PLATFORM_MISMATCH");
            t.post(path)
                .json(report("5005"))
                .send()
                .await
                .assert_error(401, "ERR_AUTH_REQUIRED");
            let r = t
                .post(path)
                .key(&telegram)
                .json(json!({"platform": "discord", "platform_user_id": "x", "platform_username": ""}))
                .send()
                .await;
            r.assert_error(400, "ERR_VALIDATION");
            assert_eq!(r.body["field"], "platform_username");
            let r = t.post(path).key(&telegram).json(json!({"platform": "telegram", "platform_user_id": "x", "platform_username": "n", "platform_avatar_url": "ftp://x"})).send().await;
            r.assert_error(400, "ERR_VALIDATION");
        }
        assert_eq!(
            t.count("SELECT COUNT(*) FROM login_codes").await,
            0,
            "no code was written"
        );
    }
);

/// With `database.sqlite_write_thread` off, SQLite's writes run on any core like reads, and a
/// login, a read of it and a logout behave the same.
#[tokio::test]
async fn sqlite_writes_off_the_write_thread_behave_the_same() {
    let t = TestApp::new(Kind::Sqlite, |c| c.database.sqlite_write_thread = false)
        .await
        .unwrap();
    assert!(t.app.store.write_runtime().is_none());
    let bot = t.login_bot().await;
    let token = t.login(&bot, "3001").await;
    let me = t.get("/v1/users/me").cookie(&token).send().await;
    assert_eq!(me.assert_ok()["linked_platforms"][0]["platform_user_id"], "3001");
    t.post("/v1/authentication/logout")
        .cookie(&token)
        .send()
        .await
        .assert_ok();
    t.get("/v1/users/me")
        .cookie(&token)
        .send()
        .await
        .assert_error(401, "ERR_AUTH_REQUIRED");
}

#[tokio::test]
async fn a_public_key_is_not_a_bot_key() {
    let t = TestApp::new(Kind::Sqlite, |c| c.public_api_keys = vec!["frontend-key".into()])
        .await
        .unwrap();
    let r = t
        .post("/v1/authentication/bot/login-code")
        .key("frontend-key")
        .json(report("1"))
        .send()
        .await;
    r.assert_error(401, "ERR_AUTH_REQUIRED");
    assert_eq!(r.body["error"], "Bot API key required");
    // With public keys configured, public endpoints need one.
    t.post("/v1/authentication/lookup")
        .json(json!({"username": "abc"}))
        .send()
        .await
        .assert_error(401, "ERR_AUTH_REQUIRED");
    t.post("/v1/authentication/lookup")
        .key("frontend-key")
        .json(json!({"username": "abc"}))
        .send()
        .await
        .assert_error(404, "ERR_USER_NOT_FOUND");
}

both_backends!(codes_expire_and_are_limited_per_ip, |t: TestApp| async move {
    let bot = t.login_bot().await;
    for i in 0..5 {
        t.post("/v1/authentication/request")
            .json(json!({"platform": "discord", "platform_user_id": format!("60{i}")}))
            .send()
            .await
            .assert_ok();
    }
    let sixth = t
        .post("/v1/authentication/request")
        .json(json!({"platform": "discord", "platform_user_id": "699"}))
        .send()
        .await;
    sixth.assert_error(429, "ERR_TOO_MANY_PENDING_CODES");
    let retry: u64 = sixth.header("retry-after").unwrap().parse().unwrap();
    assert!((590..=600).contains(&retry), "{retry}");
    // Re-requesting a pending identity is never refused by the limit.
    t.post("/v1/authentication/request")
        .json(json!({"platform": "discord", "platform_user_id": "600"}))
        .send()
        .await
        .assert_ok();

    let code = t
        .post("/v1/authentication/bot/login-code")
        .key(&bot)
        .json(report("600"))
        .send()
        .await
        .body["code"]
        .as_str()
        .unwrap()
        .to_owned();
    t.clock.advance_secs(601);
    t.verify(&code).await.assert_error(400, "ERR_INVALID_CODE");
    let fetched = t
        .post("/v1/authentication/bot/login-code")
        .key(&bot)
        .json(report("600"))
        .send()
        .await;
    assert_eq!(fetched.body["code"], Value::Null, "an expired code is not handed out");
    // Expired codes free the IP's slots.
    t.post("/v1/authentication/request")
        .json(json!({"platform": "discord", "platform_user_id": "699"}))
        .send()
        .await
        .assert_ok();
});

both_backends!(an_expired_code_is_replaced_by_a_new_request, |t: TestApp| async move {
    let bot = t.login_bot().await;
    let fetch = || async {
        t.post("/v1/authentication/bot/login-code")
            .key(&bot)
            .json(report("610"))
            .send()
            .await
            .body["code"]
            .clone()
    };
    let request = || async {
        t.post("/v1/authentication/request")
            .json(json!({"platform": "discord", "platform_user_id": "610"}))
            .send()
            .await
            .assert_ok();
    };
    request().await;
    let first = fetch().await;
    t.clock.advance_secs(601);
    request().await;
    let second = fetch().await;
    assert!(second.is_string() && second != first, "{first} then {second}");
    t.verify(second.as_str().unwrap()).await.assert_ok();
    assert_eq!(fetch().await, Value::Null, "a verify uses the code up");
});

both_backends!(verify_rejects_bad_codes_the_same_way, |t: TestApp| async move {
    for code in ["", "short", "ABCDEFGHI", "ABCD-123", "ÄBCD1234"] {
        t.verify(code).await.assert_error(400, "ERR_INVALID_CODE");
    }
    let r = t.post("/v1/authentication/verify").json(json!({})).send().await;
    r.assert_error(400, "ERR_VALIDATION");
    assert_eq!(r.body["error"], "code is required");
    let r = t
        .post("/v1/authentication/verify")
        .json(json!({"code": 12345678}))
        .send()
        .await;
    assert_eq!(r.body["error"], "code must be a string");
});

// A code raced against itself: PostgreSQL logs in by one statement, and that statement must use a
// code up exactly once, as the transaction of the general path does.
both_backends!(
    a_code_verified_eight_times_at_once_logs_in_once,
    |t: TestApp| async move {
        let bot = t.login_bot().await;
        let user = t.user("7101", 0).await;
        let code = t.web_code(&bot, report("7101")).await;
        let answers = futures_util::future::join_all((0..8).map(|_| t.verify(&code))).await;
        let logged_in = answers.iter().filter(|r| r.status.as_u16() == 200).count();
        assert_eq!(
            logged_in,
            1,
            "{:?}",
            answers.iter().map(|r| &r.body).collect::<Vec<_>>()
        );
        for refused in answers.iter().filter(|r| r.status.as_u16() != 200) {
            refused.assert_error(400, "ERR_INVALID_CODE");
        }
        let mut conn = t.conn().await;
        let sessions = store::sessions::live_of(&mut conn, user.id, t.app.now()).await.unwrap();
        assert_eq!(sessions.len(), 1);
    }
);

both_backends!(a_thousand_wrong_codes_stay_locked_out, |t: TestApp| async move {
    let bot = t.login_bot().await;
    let good = t.web_code(&bot, report("7007")).await;
    let mut refused = 0;
    for i in 0..1000 {
        let r = t
            .post("/v1/authentication/verify")
            .json(json!({"code": format!("zz{i:06}")}))
            .send()
            .await;
        if i < 10 {
            r.assert_error(400, "ERR_INVALID_CODE");
        } else {
            r.assert_error(429, "ERR_TOO_MANY_ATTEMPTS");
            assert!(r.header("retry-after").is_some());
            refused += 1;
        }
    }
    assert_eq!(refused, 990);
    // Even the right code is refused from the locked-out address, and stays usable elsewhere.
    t.verify(&good).await.assert_error(429, "ERR_TOO_MANY_ATTEMPTS");
    t.clock.advance_secs(300);
    t.verify(&good).await.assert_error(429, "ERR_TOO_MANY_ATTEMPTS");
    t.clock.advance_secs(301);
    let fresh = t.web_code(&bot, report("7007")).await;
    t.verify(&fresh).await.assert_ok();
});

both_backends!(
    banned_users_are_refused_and_timed_out_users_may_log_in,
    |t: TestApp| async move {
        let bot = t.login_bot().await;
        let banned = t.user("8008", 0).await;
        let timed_out = t.user("8009", 0).await;
        let now = t.app.now();
        let until = now + 3_600_000_000;
        let mut conn = t.conn().await;
        for (user, kind) in [
            (&banned, ActionType::PlatformBan),
            (&timed_out, ActionType::PlatformTimeout),
        ] {
            store::history::insert_moderation(
                &mut conn,
                store::history::NewModeration {
                    user_id: user.id,
                    action_type: kind,
                    reason: Some("test"),
                    chat_id: None,
                    issued_by_id: None,
                    expires_at: Some(until),
                    now,
                },
            )
            .await
            .unwrap();
        }
        drop(conn);
        let refused = t
            .post("/v1/authentication/bot/send-code")
            .key(&bot)
            .json(report("8008"))
            .send()
            .await;
        refused.assert_error(403, "ERR_ACCOUNT_BANNED");
        assert_eq!(refused.body["expires_at"], rfc3339(until));
        t.post("/v1/authentication/request")
            .json(json!({"platform": "discord", "platform_user_id": "8008"}))
            .send()
            .await
            .assert_ok();
        let code = t
            .post("/v1/authentication/bot/login-code")
            .key(&bot)
            .json(report("8008"))
            .send()
            .await
            .body["code"]
            .as_str()
            .unwrap()
            .to_owned();
        t.verify(&code).await.assert_error(403, "ERR_ACCOUNT_BANNED");
        t.verify(&code).await.assert_error(400, "ERR_INVALID_CODE");
        assert_eq!(
            t.count(&format!("SELECT COUNT(*) FROM sessions WHERE user_id = {}", banned.id))
                .await,
            0
        );
        assert_eq!(
            t.count(&format!(
                "SELECT COUNT(*) FROM users WHERE id = {} AND last_activity_at <= {now}",
                banned.id
            ))
            .await,
            1,
            "the refused login recorded no activity"
        );

        let code = t.web_code(&bot, report("8009")).await;
        let verified = t.verify(&code).await;
        assert_eq!(verified.assert_ok()["state"], 1, "the answer shows the timeout");
        let token = verified.session_cookie().unwrap();
        let me = t.get("/v1/users/me").cookie(&token).send().await;
        assert_eq!(me.assert_ok()["state"], 1);
    }
);
