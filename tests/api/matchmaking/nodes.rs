//! Matchmaking on two nodes sharing PostgreSQL and Redis: a pairing made on one node reaches a
//! caller connected to the other, and the direct chat lives across them. Needs Redis at
//! 127.0.0.1:6379 (skips loudly without it, fails under CI).

use std::time::Duration;

use super::*;
use crate::common::process::ServerProcess;
use crate::common::{redis_url, Kind};

#[tokio::test]
async fn a_pair_made_on_one_node_reaches_the_caller_on_the_other() {
    let Some(url) = redis_url().await else { return };
    let Some(a) = TestApp::new(Kind::Postgres, |c| c.redis_url = Some(url)).await else {
        return;
    };
    let b = a.second_node().await;
    assert!(a.app.ephemeral.wait_connected(Duration::from_secs(2)).await);
    assert!(b.app.ephemeral.wait_connected(Duration::from_secs(2)).await);
    let p = People::new(&a).await;
    let (alice_id, alice_token) = p.at("alice", 0).await;
    let (bob_id, bob_token) = p.at("bob", 0).await;
    let mut alice = Device::ready(&a, a.listen().await, alice_id, &alice_token).await;
    let mut bob = Device::ready(&b, b.listen().await, bob_id, &bob_token).await;

    // Alice's connection is on A; node B counts her as reachable when she enqueues through it.
    assert_eq!(
        enqueue(&b, &alice_token, json!(["music"])).await.assert_ok()["state"],
        "searching"
    );
    let r = enqueue(&b, &bob_token, json!(["music", "art"])).await;
    let chat_id = only_chat(r.assert_ok())["chat_id"].as_i64().unwrap();
    let found = alice.next("match:found").await;
    assert_eq!(found["chat_id"], chat_id);
    assert_eq!(found["peer"]["username"], "ubob");
    assert_eq!(found["matched_on"], json!(["music"]));

    // They talk across the nodes, end to end encrypted.
    alice.join(chat_id).await;
    alice.serve_key_request().await;
    bob.join(chat_id).await;
    alice.serve_key_request().await;
    bob.next("room:key").await;
    alice.send(chat_id, "hello from a").await;
    bob.reads(chat_id, &["hello from a"]).await;

    // Bob leaves through node B; Alice hears the end on A.
    bob.post("/v1/portal/match/leave", json!({})).await.assert_ok();
    assert_eq!(alice.next("room:ended").await["reason"], "left");
    assert_eq!(status(&a, &alice_token).await["state"], "idle");
}

#[tokio::test]
async fn the_participant_of_a_node_that_died_is_recorded_away() {
    let Some(a) = TestApp::beating_node().await else { return };
    let p = People::new(&a).await;
    let (alice_id, alice_token) = p.at("alice", 0).await;
    let (bob_id, bob_token) = p.at("bob", 0).await;
    let mut alice = Device::ready(&a, a.listen().await, alice_id, &alice_token).await;

    // Bob's connection is on a real server process of the same deployment.
    let mut node = ServerProcess::node_of(&a, &[]).await;
    let _bob = Device::ready(&a, node.addr, bob_id, &bob_token).await;
    enqueue(&a, &alice_token, json!(["music"])).await.assert_ok();
    let r = enqueue(&a, &bob_token, json!(["music"])).await;
    let chat_id = only_chat(r.assert_ok())["chat_id"].as_i64().unwrap();
    alice.next("match:found").await;
    let away = |user_id: i64| {
        let a = &a;
        async move {
            a.count(&format!(
                "SELECT COUNT(*) FROM direct_participants WHERE chat_id = {chat_id} AND user_id = {user_id} \
                 AND away_since IS NOT NULL"
            ))
            .await
                == 1
        }
    };
    // While Bob's node lives, his connection there counts.
    liveness::record_uncounted_closes(&a.app).await.unwrap();
    assert!(!away(bob_id).await && !away(alice_id).await);

    // Killed without a goodbye: once the living node's beats have taken Bob offline, the close
    // nobody counted is recorded, and his reconnect grace runs as after any close.
    node.kill();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !away(bob_id).await {
        assert!(tokio::time::Instant::now() < deadline, "Bob was never recorded away");
        tokio::time::sleep(Duration::from_millis(200)).await;
        liveness::record_uncounted_closes(&a.app).await.unwrap();
    }
    assert!(!away(alice_id).await);
    a.clock.advance_secs(6);
    sweep(&a).await;
    assert!(alice.next("room:peer_left").await["grace_until_ms"].as_i64().unwrap() > 0);
}

#[tokio::test]
async fn after_a_restart_the_participants_without_a_connection_are_recorded_away() {
    let t = TestApp::new(Kind::Sqlite, |_| {}).await.unwrap();
    let p = People::new(&t).await;
    let (alice_id, alice_token) = p.at("alice", 0).await;
    let (bob_id, _) = p.at("bob", 0).await;
    // The database says both are connected, as it did when the node stopped; only Alice opened a
    // connection since.
    let chat_id = direct_chat(
        &t,
        [alice_id, bob_id],
        DirectChat {
            expires_in_s: 3600,
            ended: None,
            away_s_ago: [None, None],
        },
    )
    .await;
    let _alice = crate::common::ws::open(t.listen().await, &alice_token).await;
    liveness::record_uncounted_closes(&t.app).await.unwrap();
    let away = t
        .count(&format!(
            "SELECT COUNT(*) FROM direct_participants WHERE chat_id = {chat_id} AND away_since IS NOT NULL"
        ))
        .await;
    let bob_away = t
        .count(&format!(
            "SELECT COUNT(*) FROM direct_participants WHERE chat_id = {chat_id} AND user_id = {bob_id} \
             AND away_since IS NOT NULL"
        ))
        .await;
    assert_eq!((away, bob_away), (1, 1));
}
