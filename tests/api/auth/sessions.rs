//! Sessions: listing, ending and logging out, the cookie and cross-site checks, stored digests,
//! geo, lifetimes and housekeeping.

use super::*;

both_backends!(sessions_are_listed_destroyed_and_logged_out, |t: TestApp| async move {
    let bot = t.login_bot().await;
    t.user("9009", 0).await;
    let first = t.login(&bot, "9009").await;
    let second = t.login(&bot, "9009").await;
    let third = t.login(&bot, "9009").await;
    let list = t.get("/v1/users/me/sessions").cookie(&first).send().await;
    let sessions = list.assert_ok()["sessions"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 3);
    assert_eq!(sessions.iter().filter(|s| s["is_current"] == true).count(), 1);
    let current = sessions.iter().find(|s| s["is_current"] == true).unwrap();
    assert_eq!(current["token_suffix"], &first[37..]);
    assert_eq!(current["client_ip"], "203.0.113.10");
    assert_eq!(current["geo"], Value::Null, "no geo database configured");

    t.post(&format!("/v1/users/me/sessions/{}/destroy", &first[37..]))
        .cookie(&first)
        .send()
        .await
        .assert_error(400, "ERR_CURRENT_SESSION");
    t.post("/v1/users/me/sessions/zzzzzz/destroy")
        .cookie(&first)
        .send()
        .await
        .assert_error(404, "ERR_SESSION_NOT_FOUND");
    t.post("/v1/users/me/sessions/toolongsuffix/destroy")
        .cookie(&first)
        .send()
        .await
        .assert_error(404, "ERR_SESSION_NOT_FOUND");
    let destroyed = t
        .post(&format!("/v1/users/me/sessions/{}/destroy", &second[37..]))
        .cookie(&first)
        .send()
        .await;
    assert_eq!(destroyed.assert_ok(), &json!({"destroyed": true}));
    let gone = t.get("/v1/users/me").cookie(&second).send().await;
    gone.assert_error(401, "ERR_AUTH_REQUIRED");
    assert!(
        gone.header("set-cookie").unwrap().contains("Max-Age=0"),
        "an invalid cookie is cleared"
    );

    // Another user cannot destroy these sessions by suffix.
    let stranger = t.login(&bot, "9010").await;
    t.post(&format!("/v1/users/me/sessions/{}/destroy", &third[37..]))
        .cookie(&stranger)
        .send()
        .await
        .assert_error(404, "ERR_SESSION_NOT_FOUND");

    let others = t
        .post("/v1/users/me/sessions/destroy-others")
        .cookie(&first)
        .send()
        .await;
    assert_eq!(others.assert_ok(), &json!({"destroyed": 1}));
    let logout = t.post("/v1/authentication/logout").cookie(&first).send().await;
    assert_eq!(logout.assert_ok(), &json!({"message": "Logged out"}));
    assert!(logout.header("set-cookie").unwrap().starts_with("psession=; Max-Age=0"));
    t.get("/v1/users/me")
        .cookie(&first)
        .send()
        .await
        .assert_error(401, "ERR_AUTH_REQUIRED");

    let fourth = t.login(&bot, "9009").await;
    let history = t.get("/v1/users/me/sessions").cookie(&fourth).send().await.body["history"].clone();
    let reasons: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["end_reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons.len(), 3);
    assert!(
        reasons.contains(&"logout") && reasons.iter().filter(|r| **r == "revoked").count() == 2,
        "{reasons:?}"
    );
});

both_backends!(a_cross_site_post_is_refused, |t: TestApp| async move {
    let bot = t.login_bot().await;
    let token = t.login(&bot, "1111").await;
    let r = t
        .post("/v1/authentication/logout")
        .cookie(&token)
        .header("origin", "https://evil.example")
        .header("host", "portal.example")
        .send()
        .await;
    r.assert_error(403, "ERR_FORBIDDEN");
    let r = t
        .post("/v1/authentication/logout")
        .cookie(&token)
        .header("origin", "https://portal.example")
        .header("host", "portal.example")
        .send()
        .await;
    r.assert_ok();
});

both_backends!(
    staff_sessions_last_a_day_and_are_recapped_on_promotion,
    |t: TestApp| async move {
        let bot = t.login_bot().await;
        let admin = t.user("1212", 2).await;
        let verified = {
            t.post("/v1/authentication/request")
                .json(json!({"platform": "discord", "platform_user_id": "1212"}))
                .send()
                .await;
            let code = t
                .post("/v1/authentication/bot/login-code")
                .key(&bot)
                .json(report("1212"))
                .send()
                .await
                .body["code"]
                .as_str()
                .unwrap()
                .to_owned();
            t.verify(&code).await
        };
        assert!(verified.header("set-cookie").unwrap().contains("Max-Age=86400"));
        let _ = admin;
        let user = t.user("1313", 0).await;
        let token = t.login(&bot, "1313").await;
        t.clock.advance_secs(2 * 86_400);
        let mut tx = t.app.store.begin().await.unwrap();
        let change = portal::domain::staff::set_level(
            &t.app,
            &mut tx,
            None,
            &user,
            portal::level::Level::Admin,
            Some("promoted"),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(change.sessions_ended, 1);
        t.get("/v1/users/me")
            .cookie(&token)
            .send()
            .await
            .assert_error(401, "ERR_AUTH_REQUIRED");
    }
);

both_backends!(secrets_are_stored_only_as_digests, |t: TestApp| async move {
    let bot = t.login_bot().await;
    let token = t.login(&bot, "1414").await;
    let mut conn = t.conn().await;
    let sessions: Vec<(String, String)> = sqlx::query_as("SELECT token_hash, token_suffix FROM sessions")
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].0, portal::crypto::sha256_hex(&token));
    assert_eq!(sessions[0].1, &token[37..]);
    let dump: Vec<(String,)> = sqlx::query_as("SELECT token_hash || token_suffix || client_ip FROM sessions")
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    assert!(!dump[0].0.contains(&token));
    let bots: Vec<(String, String)> = sqlx::query_as("SELECT api_key_hash, api_key_prefix FROM bots")
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    assert_eq!(bots[0].0, portal::crypto::sha256_hex(&bot));
    assert_eq!(bots[0].1, &bot[..9]);
    assert_eq!(
        t.count("SELECT COUNT(*) FROM login_codes").await,
        0,
        "used codes are deleted"
    );
});

/// The geo of a session opened through a trusted proxy, from the fixture databases.
#[tokio::test]
async fn sessions_record_geo_of_the_forwarded_client() {
    for kind in [Kind::Sqlite, Kind::Postgres] {
        let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/geo");
        let Some(t) = TestApp::new(kind, |c| {
            c.trusted_proxies = vec!["203.0.113.10/32".into()];
            c.geo.provider = "mmdb".into();
            c.geo.city_db = Some(format!("{fixtures}/city.mmdb").into());
            c.geo.asn_db = Some(format!("{fixtures}/isp.mmdb").into());
            c.geo.anonymous_ip_db = Some(format!("{fixtures}/anonymous_ip.mmdb").into());
            c.geo.connection_type_db = Some(format!("{fixtures}/connection_type.mmdb").into());
        })
        .await
        else {
            continue;
        };
        let bot = t.login_bot().await;
        t.post("/v1/authentication/request")
            .json(json!({"platform": "discord", "platform_user_id": "1515"}))
            .send()
            .await
            .assert_ok();
        let code = t
            .post("/v1/authentication/bot/login-code")
            .key(&bot)
            .json(report("1515"))
            .send()
            .await
            .body["code"]
            .as_str()
            .unwrap()
            .to_owned();
        let verified = t
            .post("/v1/authentication/verify")
            .header("x-forwarded-for", "10.1.1.1, 198.51.100.7")
            .json(json!({"code": code}))
            .send()
            .await;
        let token = verified.session_cookie().unwrap();
        let list = t.get("/v1/users/me/sessions").cookie(&token).send().await;
        let session = &list.assert_ok()["sessions"][0];
        assert_eq!(session["client_ip"], "198.51.100.7");
        assert_eq!(
            session["geo"],
            json!({"city": "Berlin", "region_name": "Land Berlin", "country_code": "DE", "lat": 52.52, "lon": 13.405,
                   "isp": "Deutsche Telekom", "org": "Deutsche Telekom", "is_mobile": false, "is_proxy": null, "is_hosting": null})
        );
        // Through the proxy from a mobile VPN address; and a private address has no geo.
        for (xff, expected) in [
            (
                "203.0.113.77",
                json!({"city": "San Francisco", "region_name": "California", "country_code": "US", "lat": 37.7749, "lon": -122.4194,
                                   "isp": "Example Mobile", "org": "Example Cloud", "is_mobile": true, "is_proxy": true, "is_hosting": true}),
            ),
            ("192.168.1.20", Value::Null),
        ] {
            t.post("/v1/authentication/request")
                .json(json!({"platform": "discord", "platform_user_id": "1515"}))
                .send()
                .await;
            let code = t
                .post("/v1/authentication/bot/send-code")
                .key(&bot)
                .json(report("1515"))
                .send()
                .await
                .body["code"]
                .as_str()
                .unwrap()
                .to_owned();
            let v = t
                .post("/v1/authentication/verify")
                .header("x-forwarded-for", xff)
                .json(json!({"code": code}))
                .send()
                .await;
            let token = v.session_cookie().unwrap();
            let list = t.get("/v1/users/me/sessions").cookie(&token).send().await;
            let current = list.body["sessions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["is_current"] == true)
                .unwrap()
                .clone();
            assert_eq!(current["geo"], expected, "{xff}");
        }
    }
}

both_backends!(
    housekeeping_removes_expired_codes_and_old_history,
    |t: TestApp| async move {
        let bot = t.login_bot().await;
        t.user("1616", 0).await;
        let token = t.login(&bot, "1616").await;
        t.post("/v1/authentication/logout")
            .cookie(&token)
            .send()
            .await
            .assert_ok();
        t.post("/v1/authentication/request")
            .json(json!({"platform": "discord", "platform_user_id": "1717"}))
            .send()
            .await
            .assert_ok();
        assert_eq!(
            portal::domain::housekeeping::tidy(&t.app).await.unwrap(),
            (0, 0),
            "nothing is due yet"
        );
        t.clock.advance_secs(601);
        assert_eq!(
            portal::domain::housekeeping::tidy(&t.app).await.unwrap(),
            (1, 0),
            "the expired code goes"
        );
        t.clock.advance_secs(365 * 86_400);
        let (_, sessions) = portal::domain::housekeeping::tidy(&t.app).await.unwrap();
        assert_eq!(sessions, 1, "history past the retention goes");
        assert_eq!(t.count("SELECT COUNT(*) FROM sessions").await, 0);
    }
);
