//! The error contract, health, the OpenAPI document and the schema of both backends.

use crate::common::{Kind, TestApp};
use axum::body::Body;
use axum::http::{Method, Request};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use tower::ServiceExt;

both_backends!(health_reports_a_healthy_database, |t: TestApp| async move {
    let r = t.get("/health").send().await;
    let body = r.assert_ok();
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["database"], true);
    assert_eq!(body["cache"], true);
    assert_eq!(body["errors"], json!([]));
    assert!(body["started_at"].as_str().unwrap().ends_with('Z'));
    assert!(r.header("x-correlation-id").is_some());
    // Credentials are not read on /health, so an unknown key is no error there.
    t.get("/health").key("nonsense").send().await.assert_ok();
});

both_backends!(correlation_ids_are_echoed_or_made, |t: TestApp| async move {
    let given = "0F8FAD5B-D9CB-469F-A165-70867728950E";
    let r = t.get("/nope").header("x-correlation-id", given).send().await;
    r.assert_error(404, "ERR_NOT_FOUND");
    assert_eq!(r.header("x-correlation-id"), Some(given.to_lowercase().as_str()));
    let r = t.get("/nope").header("x-request-id", "not-a-uuid").send().await;
    let made = r.header("x-correlation-id").unwrap();
    assert_eq!(made.len(), 36);
    assert_ne!(made, "not-a-uuid");
});

// Every malformed request gets the JSON error with the right status and code.
both_backends!(malformed_requests_get_the_json_error, |t: TestApp| async move {
    let owner = t.user("owner-1", 3).await;
    let bot_key = t.bot(&owner, "Inactive", "discord", 3).await;
    let mut conn = t.conn().await;
    sqlx::query("UPDATE bots SET is_active = 0")
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    let huge = "x".repeat(70 * 1024);
    let cases: Vec<(&str, crate::common::RequestBuilder<'_>, u16, &str)> = vec![
        ("unknown route", t.get("/v1/nope"), 404, "ERR_NOT_FOUND"),
        ("trailing slash", t.get("/health/"), 404, "ERR_NOT_FOUND"),
        ("wrong method", t.post("/health"), 405, "ERR_METHOD_NOT_ALLOWED"),
        (
            "delete method",
            t.req(axum::http::Method::DELETE, "/v1/authentication/verify"),
            405,
            "ERR_METHOD_NOT_ALLOWED",
        ),
        (
            "bad json",
            t.post("/v1/authentication/lookup")
                .raw(Some("application/json"), "{\"username\":"),
            400,
            "ERR_INVALID_JSON",
        ),
        (
            "trailing garbage",
            t.post("/v1/authentication/lookup")
                .raw(Some("application/json"), "{} {}"),
            400,
            "ERR_INVALID_JSON",
        ),
        (
            "duplicate key",
            t.post("/v1/authentication/lookup")
                .raw(Some("application/json"), r#"{"username":"abc","username":"abd"}"#),
            400,
            "ERR_INVALID_JSON",
        ),
        (
            "array body",
            t.post("/v1/authentication/lookup").json(json!(["username"])),
            400,
            "ERR_VALIDATION",
        ),
        (
            "string body",
            t.post("/v1/authentication/lookup").json(json!("hello")),
            400,
            "ERR_VALIDATION",
        ),
        (
            "wrong type",
            t.post("/v1/authentication/lookup").json(json!({"username": 42})),
            400,
            "ERR_VALIDATION",
        ),
        (
            "missing field",
            t.post("/v1/authentication/lookup").json(json!({})),
            400,
            "ERR_VALIDATION",
        ),
        (
            "null field",
            t.post("/v1/authentication/request").json(json!({"platform": null})),
            400,
            "ERR_VALIDATION",
        ),
        (
            "bad platform",
            t.post("/v1/authentication/request")
                .json(json!({"platform": "myspace", "platform_user_id": "1"})),
            400,
            "ERR_VALIDATION",
        ),
        (
            "empty id",
            t.post("/v1/authentication/request")
                .json(json!({"platform": "discord", "platform_user_id": ""})),
            400,
            "ERR_VALIDATION",
        ),
        (
            "long id",
            t.post("/v1/authentication/request")
                .json(json!({"platform": "discord", "platform_user_id": "9".repeat(65)})),
            400,
            "ERR_VALIDATION",
        ),
        (
            "huge body",
            t.post("/v1/authentication/lookup")
                .raw(Some("application/json"), format!("{{\"username\":\"{huge}\"}}")),
            413,
            "ERR_PAYLOAD_TOO_LARGE",
        ),
        (
            "not json media type",
            t.post("/v1/authentication/lookup").raw(Some("text/plain"), "{}"),
            415,
            "ERR_UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            "no media type",
            t.post("/v1/authentication/lookup").raw(None, "{}"),
            415,
            "ERR_UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            "unknown public key",
            t.post("/v1/authentication/lookup")
                .key("who-knows")
                .json(json!({"username": "abc"})),
            401,
            "ERR_INVALID_API_KEY",
        ),
        (
            "malformed bot key",
            t.post("/v1/authentication/lookup")
                .key("hbot_short")
                .json(json!({"username": "abc"})),
            401,
            "ERR_INVALID_API_KEY",
        ),
        (
            "unknown bot key",
            t.post("/v1/authentication/lookup")
                .key(&format!("hbot_{}", "A".repeat(40)))
                .json(json!({"username": "abc"})),
            401,
            "ERR_INVALID_API_KEY",
        ),
        (
            "inactive bot",
            t.post("/v1/authentication/lookup")
                .key(&bot_key)
                .json(json!({"username": "abc"})),
            403,
            "ERR_BOT_INACTIVE",
        ),
        (
            "repeated key header",
            t.post("/v1/authentication/lookup")
                .key("a")
                .key("b")
                .json(json!({"username": "abc"})),
            401,
            "ERR_INVALID_API_KEY",
        ),
        ("no session", t.get("/v1/users/me"), 401, "ERR_AUTH_REQUIRED"),
        (
            "unknown session",
            t.get("/v1/users/me").cookie(&"A".repeat(43)),
            401,
            "ERR_AUTH_REQUIRED",
        ),
        (
            "malformed session",
            t.get("/v1/users/me").cookie("short"),
            401,
            "ERR_AUTH_REQUIRED",
        ),
        (
            "path id not a number",
            t.get("/v1/users/abc").key(&bot_key),
            403,
            "ERR_BOT_INACTIVE",
        ),
        (
            "profile without credential",
            t.get("/v1/users/abc"),
            401,
            "ERR_AUTH_REQUIRED",
        ),
        (
            "bot endpoint without key",
            t.post("/v1/authentication/bot/login-code").json(json!({})),
            401,
            "ERR_AUTH_REQUIRED",
        ),
        (
            "admin without session",
            t.get("/v1/admin/health"),
            401,
            "ERR_AUTH_REQUIRED",
        ),
    ];
    assert!(cases.len() >= 20);
    for (name, request, status, code) in cases {
        let r = request.send().await;
        assert_eq!(r.status.as_u16(), status, "{name}: {}", r.body);
        r.assert_error(status, code);
        let keys = crate::common::keys(&r.body);
        for required in ["code", "correlation_id", "error"] {
            assert!(keys.contains(&required.to_string()), "{name}: {keys:?}");
        }
    }
    // Nothing was written by any of them.
    let mut conn = t.conn().await;
    let (codes,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM login_codes")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(codes, 0);
});

both_backends!(validation_errors_name_the_field, |t: TestApp| async move {
    let r = t
        .post("/v1/authentication/lookup")
        .json(json!({"username": 42}))
        .send()
        .await;
    r.assert_error(400, "ERR_VALIDATION");
    assert_eq!(r.body["field"], "username");
    assert_eq!(r.body["error"], "username must be a string");
    let r = t.post("/v1/authentication/lookup").json(json!([1])).send().await;
    assert_eq!(r.body["field"], json!(null));
    assert_eq!(r.body["error"], "body must be a JSON object");
    let r = t
        .post("/v1/authentication/lookup")
        .json(json!({"username": "ab"}))
        .send()
        .await;
    assert_eq!(r.body["error"], "username must be at least 3 characters");
});

both_backends!(head_answers_like_get_without_a_body, |t: TestApp| async move {
    let r = t.req(axum::http::Method::HEAD, "/health").send().await;
    assert_eq!(r.status.as_u16(), 200);
    assert_eq!(r.body, serde_json::Value::Null);
});

both_backends!(openapi_and_docs_are_served, |t: TestApp| async move {
    let doc = t.get("/openapi.json").send().await;
    let body = doc.assert_ok();
    assert!(body["paths"]["/health"]["get"].is_object());
    let docs = t.get("/docs/").send_raw().await;
    assert_eq!(docs.0.as_u16(), 200);
    assert!(docs.1.contains("swagger"), "the docs page is Swagger UI");
});

#[tokio::test]
async fn openapi_document_matches_its_snapshot() {
    let t = TestApp::new(Kind::Sqlite, |_| {}).await.unwrap();
    let doc = t.get("/openapi.json").send().await;
    insta::assert_json_snapshot!("openapi", doc.body);
}

// Both migration sets produce the same tables with the same columns.
#[tokio::test]
async fn sqlite_and_postgres_schemas_match() {
    let sqlite = TestApp::new(Kind::Sqlite, |_| {}).await.unwrap();
    let Some(postgres) = TestApp::new(Kind::Postgres, |_| {}).await else {
        return;
    };
    let mut conn = sqlite.conn().await;
    let tables: Vec<(String,)> = sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name")
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    let mut sqlite_columns = Vec::new();
    for (table,) in &tables {
        let cols: Vec<(String,)> =
            sqlx::query_as(&format!("SELECT name FROM pragma_table_info('{table}') ORDER BY name"))
                .fetch_all(&mut *conn)
                .await
                .unwrap();
        for (col,) in cols {
            sqlite_columns.push(format!("{table}.{col}"));
        }
    }
    let mut pg = postgres.conn().await;
    let pg_columns: Vec<(String,)> = sqlx::query_as(
        "SELECT table_name || '.' || column_name FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations' ORDER BY 1",
    )
    .fetch_all(&mut *pg)
    .await
    .unwrap();
    let mut pg_columns: Vec<String> = pg_columns.into_iter().map(|(c,)| c).collect();
    pg_columns.sort();
    sqlite_columns.sort();
    assert!(sqlite_columns.len() > 100, "the whole schema is there");
    assert_eq!(sqlite_columns, pg_columns);
}

async fn boom() -> &'static str {
    panic!("a handler's bug")
}

/// A handler that panics answers the contract's 500 with its correlation id, on a read and on a
/// write (which SQLite runs on its write thread), and the server goes on answering.
#[tokio::test]
async fn a_panicking_handler_answers_500_and_the_server_goes_on() {
    let t = TestApp::new(Kind::Sqlite, |_| {}).await.unwrap();
    let routes = Router::new()
        .route("/boom", get(boom))
        .route("/boom", post(boom))
        .route("/fine", get(|| async { "fine" }));
    let router = portal::http::behind_edge(t.app.clone(), routes);
    for method in [Method::GET, Method::POST] {
        let request = Request::builder()
            .method(method)
            .uri("/boom")
            .body(Body::empty())
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), 500);
        let id = response.headers()["x-correlation-id"].to_str().unwrap().to_owned();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["code"], "ERR_INTERNAL");
        assert_eq!(body["correlation_id"], id.as_str());
    }
    let fine = router
        .oneshot(Request::get("/fine").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(fine.status(), 200);
}
