//! Security properties seen from outside: cookie attributes, CORS, security headers, hostile input.

mod common;

use common::{Kind, TestApp};
use serde_json::json;

both_backends!(cors_is_off_by_default, |t: TestApp| async move {
    let r = t.get("/health").header("origin", "https://portal.example").send().await;
    assert!(r.header("access-control-allow-origin").is_none());
    let preflight = t
        .req(axum::http::Method::OPTIONS, "/v1/users/me")
        .header("origin", "https://portal.example")
        .header("access-control-request-method", "GET")
        .send()
        .await;
    assert_eq!(preflight.status.as_u16(), 204);
    assert!(preflight.header("access-control-allow-origin").is_none());
});

#[tokio::test]
async fn cors_allow_list_with_credentials() {
    let t = TestApp::new(Kind::Sqlite, |c| {
        c.cors.allowed_origins = vec!["https://portal.example".into()];
        c.rate_limit.auth = 3;
    })
    .await
    .unwrap();
    let r = t
        .get("/v1/users/me")
        .header("origin", "https://portal.example")
        .send()
        .await;
    r.assert_error(401, "ERR_AUTH_REQUIRED");
    assert_eq!(r.header("access-control-allow-origin"), Some("https://portal.example"));
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert!(r
        .header("access-control-expose-headers")
        .unwrap()
        .contains("X-Correlation-ID"));
    // Preflights need no credential and are not rate-limited, however many arrive.
    for _ in 0..3 {
        let p = t
            .req(axum::http::Method::OPTIONS, "/v1/users/me")
            .header("origin", "https://portal.example")
            .header("access-control-request-method", "POST")
            .send()
            .await;
        assert_eq!(p.status.as_u16(), 204);
        assert_eq!(p.header("access-control-allow-methods"), Some("GET, POST"));
        assert_eq!(p.header("access-control-max-age"), Some("600"));
        assert!(p.header("ratelimit-limit").is_none());
    }
    let other = t.get("/health").header("origin", "https://evil.example").send().await;
    assert!(other.header("access-control-allow-origin").is_none());
    // With an allow-list, a cookie POST from another origin fails the origin check.
    let bot = t.login_bot().await;
    let token = t.login(&bot, "1").await;
    t.post("/v1/users/me/update")
        .cookie(&token)
        .header("origin", "https://evil.example")
        .json(json!({}))
        .send()
        .await
        .assert_error(403, "ERR_FORBIDDEN");
    t.post("/v1/users/me/update")
        .cookie(&token)
        .header("origin", "null")
        .json(json!({}))
        .send()
        .await
        .assert_error(403, "ERR_FORBIDDEN");
}

both_backends!(security_headers_on_every_answer, |t: TestApp| async move {
    for r in [
        t.get("/health").send().await,
        t.get("/nope").send().await,
        t.get("/v1/users/me").send().await,
    ] {
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    }
});

#[tokio::test]
async fn cookie_attributes_follow_the_config() {
    let t = TestApp::new(Kind::Sqlite, |c| {
        c.bind = "0.0.0.0:8080".into();
        c.cookie.same_site = "Strict".into();
        c.cookie.domain = Some(".example.org".into());
    })
    .await
    .unwrap();
    let bot = t.login_bot().await;
    t.user("42", 0).await;
    t.post("/v1/authentication/request")
        .json(json!({"platform": "discord", "platform_user_id": "42"}))
        .send()
        .await;
    let code = t
        .post("/v1/authentication/bot/login-code")
        .key(&bot)
        .json(json!({"platform": "discord", "platform_user_id": "42", "platform_username": "n"}))
        .send()
        .await
        .body["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let v = t
        .post("/v1/authentication/verify")
        .json(json!({"code": code}))
        .send()
        .await;
    let cookie = v.header("set-cookie").unwrap().to_owned();
    for attr in [
        "HttpOnly",
        "Path=/",
        "SameSite=Strict",
        "Secure",
        "Domain=.example.org",
        "Max-Age=2592000",
    ] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    let token = v.session_cookie().unwrap();
    let out = t.post("/v1/authentication/logout").cookie(&token).send().await;
    let cleared = out.header("set-cookie").unwrap();
    for attr in [
        "psession=;",
        "Max-Age=0",
        "HttpOnly",
        "SameSite=Strict",
        "Secure",
        "Domain=.example.org",
    ] {
        assert!(cleared.contains(attr), "{cleared}");
    }
}

both_backends!(sql_metacharacters_and_unicode_are_just_text, |t: TestApp| async move {
    let bot = t.login_bot().await;
    t.user("99", 0).await;
    let token = t.login(&bot, "99").await;
    for hostile in [
        "'; DROP TABLE users; --",
        "\" OR 1=1 --",
        "ünïcødé-名前",
        "%_\\",
        "\u{0000}",
        "🦀🦀🦀",
    ] {
        let r = t
            .post("/v1/authentication/lookup")
            .json(json!({"username": hostile}))
            .send()
            .await;
        assert!(
            r.status.as_u16() == 400 || r.status.as_u16() == 404,
            "{hostile}: {}",
            r.body
        );
        let r = t
            .get(&format!("/v1/users/search?q={}", urlencode(hostile)))
            .cookie(&token)
            .send()
            .await;
        assert!(
            r.status.as_u16() == 200 || r.body["code"] == "ERR_VALIDATION",
            "{hostile}: {}",
            r.body
        );
        let r = t
            .get(&format!("/v1/users/profile/{}", urlencode(hostile)))
            .cookie(&token)
            .send()
            .await;
        assert_eq!(r.status.as_u16(), 404, "{hostile}: {}", r.body);
        let r = t
            .post("/v1/users/me/update")
            .cookie(&token)
            .json(json!({"username": hostile}))
            .send()
            .await;
        assert!(
            r.assert_ok()["errors"]["username"]
                .as_str()
                .unwrap()
                .starts_with("username "),
            "{hostile}"
        );
        let r = t
            .post("/v1/authentication/bot/login-code")
            .key(&bot)
            .json(json!({"platform": "discord", "platform_user_id": "99", "platform_username": hostile}))
            .send()
            .await;
        assert!(
            r.status.as_u16() == 200 || r.body["code"] == "ERR_VALIDATION",
            "{hostile}: {}",
            r.body
        );
        let r = t
            .post("/v1/authentication/request")
            .json(json!({"platform": "discord", "platform_user_id": hostile}))
            .send()
            .await;
        r.assert_error(400, "ERR_VALIDATION");
    }
    let me = t.get("/v1/users/me").cookie(&token).send().await;
    assert_eq!(me.assert_ok()["username"], "u99");
    let mut conn = t.conn().await;
    let (users,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(users, 2);
});

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
