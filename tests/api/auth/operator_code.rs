//! `portal user login-code <user>`: a one-time code for the web login, printed to the operator,
//! used through the real verify of the real server.

use crate::common::process::{cli, cli_refused, user_create_args, ServerProcess};
use crate::common::{audits, TestApp};
use serde_json::json;

both_backends!(an_operator_code_logs_in_once, |t: TestApp| async move {
    let url = t.app.config.effective_database_url();
    let (alice, _) = cli(&url, &user_create_args("alice", "1001", "0"));
    let alice_id = alice["id"].as_i64().unwrap();
    let before = chrono::Utc::now().timestamp();
    let (printed, stderr) = cli(&url, &["user", "login-code", "alice"]);
    let code = printed["code"].as_str().expect("a code").to_owned();
    assert_eq!(code.len(), 8);
    assert!(code.bytes().all(|b| b.is_ascii_alphanumeric()), "{code}");
    assert_eq!(printed["user_id"], alice_id);
    assert_eq!(printed["username"], "alice");
    assert_eq!(printed["platform"], "discord");
    assert_eq!(printed["platform_user_id"], "1001");
    // The normal lifetime of a code (login_code.ttl_s, 600 s).
    let expires_at = chrono::DateTime::parse_from_rfc3339(printed["expires_at"].as_str().unwrap())
        .unwrap()
        .timestamp();
    assert!((before + 595..=before + 605).contains(&expires_at), "{printed}");
    assert!(!stderr.contains(&code), "the code is printed once, on stdout only");

    // Asked again while it is pending: the same code, not a second one.
    let (again, _) = cli(&url, &["user", "login-code", &alice_id.to_string()]);
    assert_eq!(again["code"], code.as_str());

    let server = ServerProcess::start(&url, &[]).await;
    let verify = |code: String| {
        let server = &server;
        async move {
            server
                .send("POST", "/v1/authentication/verify", &[], Some(&json!({ "code": code })))
                .await
                .unwrap()
        }
    };
    let r = verify(code.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["username"], "alice");
    assert_eq!(r.json()["user_created"], false);
    assert!(r.session_cookie().is_some());
    // Usable once.
    let r = verify(code.clone()).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["code"], "ERR_INVALID_CODE");
    assert!(!server.log().contains(&code), "the code never reaches the log");

    // Audited as an act of the command-line tool, once per printed code request, without the code.
    let rows = audits(&t, "LOGIN_CODE_CREATE").await;
    assert_eq!(rows.len(), 2);
    let (actor, target_type, target_id, metadata) = &rows[0];
    assert_eq!(*actor, None);
    assert_eq!(target_type, "user");
    assert_eq!(*target_id, Some(alice_id));
    assert_eq!(metadata["platform"], "discord");
    assert_eq!(metadata["platform_user_id"], "1001");
    assert_eq!(metadata["expires_at"], printed["expires_at"]);
    assert!(!metadata.to_string().contains(&code));
});

both_backends!(no_code_for_a_banned_or_unknown_user, |t: TestApp| async move {
    let url = t.app.config.effective_database_url();
    let (mallory, _) = cli(&url, &user_create_args("mallory", "666", "0"));
    t.put_in_force(
        mallory["id"].as_i64().unwrap(),
        portal::action_type::ActionType::PlatformBan,
        None,
    )
    .await;
    let refused = cli_refused(&url, &["user", "login-code", "mallory"]);
    assert!(refused.contains("banned"), "{refused}");
    let refused = cli_refused(&url, &["user", "login-code", "nobody"]);
    assert!(refused.contains("not found"), "{refused}");
    assert!(audits(&t, "LOGIN_CODE_CREATE").await.is_empty());
    let mut conn = t.conn().await;
    let (pending,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM login_codes")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(pending, 0);
});
