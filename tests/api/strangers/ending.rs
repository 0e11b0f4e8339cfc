//! A stranger's realtime connection (91-matchmaking §2.3), the end of its session (§2.4) and its
//! deletion by the clean-up.

use super::{enqueue_directly, new_stranger, queued, BECOME};
use crate::common::process::cli;
use crate::common::ws::{closed_with, event, nothing_pending, open, open_with_snapshot, presence_ids, try_open};
use crate::common::{Kind, People, TestApp};
use portal::domain::strangers;
use serde_json::json;

both_backends!(
    a_stranger_connects_unseen_and_hears_nothing_meant_for_everyone,
    |t: TestApp| async move {
        let people = People::new(&t).await;
        let (alice_id, alice) = people.at("alice", 0).await;
        let (_, admin) = people.at("admin", 2).await;
        let (stranger_id, stranger) = new_stranger(&t).await;
        let addr = t.listen().await;
        let (mut a, _) = open_with_snapshot(addr, &alice).await;

        // No snapshot: the first thing a stranger's connection hears is the answer to its ping.
        let mut s = open(addr, &stranger).await;
        nothing_pending(&mut s).await;
        nothing_pending(&mut a).await;
        let status = t.get("/v1/portal/status").cookie(&alice).send().await;
        assert_eq!(status.assert_ok()["online"], 1);
        assert_eq!(presence_ids(&status.body["users"]), [alice_id]);

        // Broadcasts, hard mutes and presence changes reach everyone else only.
        t.post_as(&admin, "/v1/admin/notifications", json!({"title": "t", "body": "b"}))
            .await
            .assert_ok();
        assert_eq!(event(&mut a).await["event"], "notification:new");
        t.post_as(&admin, "/v1/portal/hard-mute", json!({"user_id": stranger_id}))
            .await
            .assert_ok();
        assert_eq!(event(&mut a).await["event"], "user:hard_muted");
        let (_, bob) = people.at("bob", 0).await;
        let (_b, _) = open_with_snapshot(addr, &bob).await;
        assert_eq!(event(&mut a).await["event"], "user:joined");
        nothing_pending(&mut s).await;

        // Its connection closes with its session like anyone's.
        t.post("/v1/authentication/logout")
            .cookie(&stranger)
            .send()
            .await
            .assert_ok();
        assert_eq!(closed_with(&mut s).await, 4001);
        nothing_pending(&mut a).await;
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_has_the_per_user_connection_limit() {
    let t = TestApp::new(Kind::Sqlite, |config| config.presence.max_connections_per_user = 1)
        .await
        .unwrap();
    let (_, stranger) = new_stranger(&t).await;
    let addr = t.listen().await;
    let _first = open(addr, &stranger).await;
    let (status, body) = try_open(addr, Some(&stranger), &[]).await.err().unwrap();
    assert_eq!((status, body["code"].as_str()), (429, Some("ERR_TOO_MANY_CONNECTIONS")));
}

both_backends!(a_logout_ends_the_strangers_matchmaking, |t: TestApp| async move {
    let (stranger_id, stranger) = new_stranger(&t).await;
    enqueue_directly(&t, stranger_id).await;
    let out = t.post("/v1/authentication/logout").cookie(&stranger).send().await;
    out.assert_ok();
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert!(!queued(&t, stranger_id).await);
    t.get("/v1/users/me")
        .cookie(&stranger)
        .send()
        .await
        .assert_error(401, "ERR_AUTH_REQUIRED");
    // A registered user's logout leaves their queue entry to matchmaking's own rules.
    let people = People::new(&t).await;
    let (alice_id, alice) = people.at("alice", 0).await;
    enqueue_directly(&t, alice_id).await;
    t.post("/v1/authentication/logout")
        .cookie(&alice)
        .send()
        .await
        .assert_ok();
    assert!(queued(&t, alice_id).await);
});

both_backends!(signing_in_ends_the_stranger, |t: TestApp| async move {
    let people = People::new(&t).await;
    let (stranger_id, stranger) = new_stranger(&t).await;
    enqueue_directly(&t, stranger_id).await;
    let report = json!({"platform": "discord", "platform_user_id": "777", "platform_username": "carol",
                        "platform_avatar_url": null});
    let code = t.web_code(&people.bot, report).await;
    let verified = t
        .post("/v1/authentication/verify")
        .cookie(&stranger)
        .json(json!({"code": code}))
        .send()
        .await;
    assert_eq!(verified.assert_ok()["kind"], "registered");
    assert!(!queued(&t, stranger_id).await);
    let ended: (Option<String>,) = sqlx::query_as("SELECT end_reason FROM sessions WHERE user_id = $1")
        .bind(stranger_id)
        .fetch_one(&mut *t.conn().await)
        .await
        .unwrap();
    assert_eq!(ended.0.as_deref(), Some("logout"));
    // Nothing of the stranger moved to the account: it is still a stranger row.
    assert_eq!(
        t.count(&format!(
            "SELECT COUNT(*) FROM users WHERE id = {stranger_id} AND kind = 'stranger'"
        ))
        .await,
        1
    );
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_whose_session_expires_while_connected_is_ended_at_its_expiry() {
    let t = TestApp::new(Kind::Sqlite, |config| config.stranger.session_ttl_s = 2)
        .await
        .unwrap();
    let created = t.post(BECOME).send().await;
    assert!(created.header("set-cookie").unwrap().contains("Max-Age=2;"));
    let stranger_id = created.body["id"].as_i64().unwrap();
    let stranger = created.session_cookie().unwrap();
    enqueue_directly(&t, stranger_id).await;
    let mut ws = open(t.listen().await, &stranger).await;
    assert_eq!(closed_with(&mut ws).await, 4001);
    assert!(!queued(&t, stranger_id).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_revoked_from_the_command_line_is_ended() {
    let t = TestApp::new(Kind::Sqlite, |_| {}).await.unwrap();
    let (stranger_id, stranger) = new_stranger(&t).await;
    enqueue_directly(&t, stranger_id).await;
    let name = t.get("/v1/users/me").cookie(&stranger).send().await.body["username"]
        .as_str()
        .unwrap()
        .to_owned();
    let (revoked, _) = cli(&t.app.config.effective_database_url(), &["session", "revoke", &name]);
    assert_eq!(revoked["revoked"], 1);
    assert!(!queued(&t, stranger_id).await);
}

both_backends!(
    the_clean_up_deletes_an_ended_stranger_after_its_retention,
    |t: TestApp| async move {
        let people = People::new(&t).await;
        let (_, admin) = people.at("admin", 2).await;
        let (gone_id, gone) = new_stranger(&t).await;
        let (kept_id, kept) = new_stranger(&t).await;
        let (live_id, _) = new_stranger(&t).await;
        t.post_as(
            &admin,
            &format!("/v1/admin/users/{gone_id}/warn"),
            json!({"reason": "rude"}),
        )
        .await
        .assert_ok();
        // What names the stranger by plain number stays; a pair block naming it goes.
        let now = t.app.now();
        t.exec(&format!(
            "INSERT INTO stranger_blocks (user_id, username, address_group, reason, issued_by_id, created_at) \
             VALUES ({gone_id}, 'x-y-0000', '198.51.100.1', 'spam', 1, {now})"
        ))
        .await;
        t.exec(&format!(
            "INSERT INTO pair_blocks (low_user_id, high_user_id, created_at) VALUES ({gone_id}, {kept_id}, {now})"
        ))
        .await;
        // `kept` took part in a direct chat that still exists.
        t.exec(&format!(
            "INSERT INTO chats (name, chat_type, owner_id, visibility, created_at, updated_at, last_activity_at) \
             VALUES ('quiet-otter', 'direct', NULL, 'direct', {now}, {now}, {now})"
        ))
        .await;
        t.exec(&format!(
            "INSERT INTO direct_participants (chat_id, user_id, position, token, username, is_stranger) \
             SELECT id, {kept_id}, 0, 'token-of-kept', 'kept', 1 FROM chats WHERE name = 'quiet-otter'"
        ))
        .await;
        for token in [&gone, &kept] {
            t.post("/v1/authentication/logout")
                .cookie(token)
                .send()
                .await
                .assert_ok();
        }
        let config = &t.app.config;
        let kept_for = config.stranger.retention_s + config.matching.archive_ttl_s;

        t.clock.advance_secs(kept_for - 1);
        assert_eq!(strangers::clean_up(&t.app).await.unwrap(), 0);
        t.clock.advance_secs(1);
        assert_eq!(strangers::clean_up(&t.app).await.unwrap(), 1);
        let remaining = |id: i64| format!("SELECT COUNT(*) FROM users WHERE id = {id}");
        assert_eq!(t.count(&remaining(gone_id)).await, 0);
        assert_eq!(t.count(&remaining(kept_id)).await, 1);
        // `live` never logged out: its session expired a day after its creation, and its retention
        // runs from then.
        assert_eq!(t.count(&remaining(live_id)).await, 1);
        assert_eq!(t.count("SELECT COUNT(*) FROM stranger_blocks").await, 1);
        assert_eq!(t.count("SELECT COUNT(*) FROM pair_blocks").await, 0);
        assert_eq!(
            t.count(&format!(
                "SELECT COUNT(*) FROM moderation_actions WHERE user_id = {gone_id}"
            ))
            .await,
            0
        );
        assert_eq!(
            t.count("SELECT COUNT(*) FROM audit_log WHERE event_type = 'USER_DELETE'")
                .await,
            0
        );
        t.clock.advance_secs(86_400);
        assert_eq!(strangers::clean_up(&t.app).await.unwrap(), 1);
        assert_eq!(t.count(&remaining(live_id)).await, 0);
    }
);
