//! Matchmaking on two nodes sharing PostgreSQL and Redis: a pairing made on one node reaches a
//! caller connected to the other, and the direct chat lives across them. Needs Redis at
//! 127.0.0.1:6379 (skips loudly without it, fails under CI).

use std::time::Duration;

use super::*;
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
