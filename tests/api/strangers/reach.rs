//! What a stranger may reach (91-matchmaking §2.2) and where strangers do not appear (§2.3).

use super::new_stranger;
use crate::common::chats::create_private;
use crate::common::{People, TestApp};
use axum::http::Method;
use serde_json::{json, Value};

/// The `session`-class endpoints open to strangers (§2.2), and matchmaking's own.
fn open_to_strangers(method: &str, path: &str) -> bool {
    path.starts_with("/v1/portal/match")
        || matches!(
            (method, path),
            ("post", "/v1/authentication/logout")
                | ("get", "/v1/users/me")
                | ("get", "/v1/portal/ws")
                | ("post", "/v1/portal/keys")
                | ("post", "/v1/portal/chats/{chat_id}/keys")
                | ("get", "/v1/portal/chats/{chat_id}/keys/me")
                | ("post", "/v1/portal/chats/{chat_id}/messages")
                | ("get", "/v1/portal/chats/{chat_id}/history")
                | ("post", "/v1/portal/chats/{chat_id}/messages/delete-mine")
        )
}

/// An operation of class `session` or `viewer`: a session is one of its credentials and it cannot
/// be called with none (the `public` class lists an empty alternative, the `bot` class no session).
fn takes_a_session(operation: &Value) -> bool {
    let alternatives: Vec<Vec<&String>> = operation["security"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|a| a.as_object().map(|o| o.keys().collect()).unwrap_or_default())
                .collect()
        })
        .unwrap_or_default();
    alternatives.iter().any(|a| a.len() == 1 && a[0] == "session") && !alternatives.iter().any(Vec::is_empty)
}

// The attack: a stranger's session, which anyone can get in one request, tried on every endpoint
// that takes a session. Each answers `ERR_SIGN_IN_REQUIRED` before any level, body or existence
// check, the admin endpoints included.
both_backends!(
    every_other_session_endpoint_refuses_a_stranger_first,
    |t: TestApp| async move {
        let (_, stranger) = new_stranger(&t).await;
        let doc = t.get("/openapi.json").send().await.body;
        let mut tried = 0;
        for (path, operations) in doc["paths"].as_object().unwrap() {
            for (method, operation) in operations.as_object().unwrap() {
                if !takes_a_session(operation) || open_to_strangers(method, path) {
                    continue;
                }
                let concrete = path
                    .replace("{username}", "somebody")
                    .replace("{code}", "abcdefgh")
                    .replace("{token_suffix}", "abcdef")
                    .split('/')
                    .map(|part| if part.starts_with('{') { "1" } else { part })
                    .collect::<Vec<_>>()
                    .join("/");
                let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let mut request = t.req(method.clone(), &concrete).cookie(&stranger);
                if method == Method::POST {
                    request = request.json(json!({}));
                }
                let answer = request.send().await;
                assert_eq!(answer.status.as_u16(), 403, "{method} {path}: {}", answer.body);
                assert_eq!(answer.body["code"], "ERR_SIGN_IN_REQUIRED", "{method} {path}");
                assert_eq!(answer.body["error"], "Sign in to use this feature");
                tried += 1;
            }
        }
        assert!(tried > 60, "only {tried} endpoints were tried");
        // The public endpoints stay open to a stranger's session.
        t.get("/v1/statistics/users").cookie(&stranger).send().await.assert_ok();
        t.get("/v1/bots").cookie(&stranger).send().await.assert_ok();
    }
);

both_backends!(strangers_are_found_by_nobody_but_staff, |t: TestApp| async move {
    let people = People::new(&t).await;
    let (_, alice) = people.at("alice", 0).await;
    let (_, admin) = people.at("admin", 2).await;
    let users_before = t.get("/v1/statistics/users").send().await.body;
    let (stranger_id, _) = new_stranger(&t).await;
    let name = t
        .get(&format!("/v1/users/{stranger_id}"))
        .cookie(&admin)
        .send()
        .await
        .assert_ok()["username"]
        .as_str()
        .unwrap()
        .to_owned();

    for viewer in [&alice, &admin] {
        let found = t.get(&format!("/v1/users/search?q={name}")).cookie(viewer).send().await;
        assert_eq!(found.assert_ok()["users"], json!([]), "{}", found.body);
        let by_id = t
            .get(&format!("/v1/users/search?q={stranger_id}"))
            .cookie(viewer)
            .send()
            .await;
        assert!(by_id.assert_ok()["users"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["id"] != stranger_id));
    }
    t.get(&format!("/v1/users/{stranger_id}"))
        .cookie(&alice)
        .send()
        .await
        .assert_error(404, "ERR_USER_NOT_FOUND");
    t.get(&format!("/v1/users/profile/{name}"))
        .cookie(&alice)
        .send()
        .await
        .assert_error(404, "ERR_USER_NOT_FOUND");
    let elevated = t.get(&format!("/v1/users/profile/{name}")).cookie(&admin).send().await;
    assert_eq!(elevated.assert_ok()["kind"], "stranger");
    assert_eq!(elevated.body["id"], stranger_id);
    t.post("/v1/authentication/lookup")
        .json(json!({"username": name}))
        .send()
        .await
        .assert_error(404, "ERR_USER_NOT_FOUND");
    assert_eq!(t.get("/v1/statistics/users").send().await.body, users_before);
});

both_backends!(
    acts_that_are_not_moderation_treat_a_stranger_as_no_user,
    |t: TestApp| async move {
        let people = People::new(&t).await;
        let (_, owner) = people.at("owner", 3).await;
        let (stranger_id, _) = new_stranger(&t).await;
        let chat_id = create_private(&t, &owner, "den").await["id"].as_i64().unwrap();
        let refusals = [
            (
                "/v1/admin/subscriptions/grant".to_owned(),
                json!({"user_id": stranger_id, "tier": "trial"}),
            ),
            (
                "/v1/admin/subscriptions/revoke".to_owned(),
                json!({"user_id": stranger_id, "reason": "refund"}),
            ),
            (
                format!("/v1/admin/users/{stranger_id}/permission"),
                json!({"level": 1, "reason": "promotion"}),
            ),
            (
                format!("/v1/admin/chats/{chat_id}/transfer"),
                json!({"new_owner_id": stranger_id}),
            ),
            (
                format!("/v1/admin/chats/{chat_id}/kick"),
                json!({"user_id": stranger_id}),
            ),
            (
                format!("/v1/portal/chats/{chat_id}/warn"),
                json!({"user_id": stranger_id, "reason": "rude"}),
            ),
            (
                "/v1/admin/notifications".to_owned(),
                json!({"title": "hello", "body": "there", "user_id": stranger_id}),
            ),
            (
                "/v1/admin/bots".to_owned(),
                json!({"name": "Stranger Bot", "owner_id": stranger_id, "platform": "discord"}),
            ),
        ];
        for (path, body) in refusals {
            let answer = t.post_as(&owner, &path, body).await;
            assert_eq!(answer.status.as_u16(), 404, "{path}: {}", answer.body);
            assert_eq!(answer.body["code"], "ERR_USER_NOT_FOUND", "{path}");
        }
        assert_eq!(t.count("SELECT COUNT(*) FROM notifications").await, 0);

        // A broadcast counts registered users only.
        let sent = t
            .post_as(&owner, "/v1/admin/notifications", json!({"title": "hi", "body": "all"}))
            .await;
        let registered = t.count("SELECT COUNT(*) FROM users WHERE kind = 'registered'").await;
        assert_eq!(sent.assert_ok()["recipients"], registered);

        // Staff still act on a stranger as on any level-0 user (§2.5).
        t.post_as(
            &owner,
            &format!("/v1/admin/users/{stranger_id}/warn"),
            json!({"reason": "rude"}),
        )
        .await
        .assert_ok();
        t.post_as(&owner, "/v1/portal/hard-mute", json!({"user_id": stranger_id}))
            .await
            .assert_ok();
        t.post_as(
            &owner,
            &format!("/v1/admin/users/{stranger_id}/timeout"),
            json!({"duration": 600, "reason": "cool down"}),
        )
        .await
        .assert_ok();
    }
);
