//! The transport on two nodes sharing PostgreSQL and Redis (§9): rooms, key hand-over, messages,
//! removals and the auto-wipe across nodes, and each node serving its own connections while Redis
//! is gone. Needs Redis at 127.0.0.1:6379 (skips loudly without it, fails under CI).

use std::time::Duration;

use super::*;
use crate::common::private_redis::PrivateRedis;
use crate::common::process::ServerProcess;
use crate::common::{redis_url, Kind};
use portal::domain::transport::deletion::wipe_due;

/// Two nodes on one PostgreSQL database and the Redis at `url`.
async fn nodes_on(url: String) -> Option<(TestApp, TestApp)> {
    let a = TestApp::new(Kind::Postgres, |c| c.redis_url = Some(url)).await?;
    let b = a.second_node().await;
    assert!(a.app.ephemeral.wait_connected(Duration::from_secs(2)).await);
    assert!(b.app.ephemeral.wait_connected(Duration::from_secs(2)).await);
    Some((a, b))
}

async fn two_nodes() -> Option<(TestApp, TestApp)> {
    nodes_on(redis_url().await?).await
}

/// Alice on node A holding the key of her private chat, Bob on node B handed it by her across the
/// nodes, both with their set-up events read. Returns (chat, alice, bob).
async fn alice_on_a_bob_on_b<'a>(a: &'a TestApp, b: &'a TestApp, p: &People<'a>) -> (i64, Device<'a>, Device<'a>) {
    let (chat_id, (alice_id, alice_token), (bob_id, bob_token)) = alice_and_bob(p).await;
    let (on_a, on_b) = (a.listen().await, b.listen().await);
    let mut alice = Device::ready(a, on_a, alice_id, &alice_token).await;
    alice.join(chat_id).await;
    alice.serve_key_request().await;
    let mut bob = Device::ready(b, on_b, bob_id, &bob_token).await;
    let joined = bob.join(chat_id).await;
    // Bob's node sees Alice, joined on the other node.
    assert_eq!(
        roster(&joined["members"]),
        json!([entry(alice_id, "owner", &[&alice]), entry(bob_id, "member", &[&bob])])
    );
    // Alice, on A, is asked to hand the key to Bob's device on B, which gets it from her.
    let request = alice.serve_key_request().await;
    assert_eq!(request["devices"], json!([bob.named()]));
    assert_eq!(bob.next("room:key").await["from"], alice.named());
    alice.drain().await;
    bob.drain().await;
    (chat_id, alice, bob)
}

#[tokio::test]
async fn members_on_two_nodes_talk_in_order() {
    let Some((a, b)) = two_nodes().await else { return };
    let p = People::new(&a).await;
    let (chat_id, mut alice, mut bob) = alice_on_a_bob_on_b(&a, &b, &p).await;

    // Sends through either node reach both, in the order of their ids, and decrypt.
    let mut sent = Vec::new();
    for i in 0..6 {
        let (from, text) = if i % 2 == 0 {
            (&alice, format!("from a {i}"))
        } else {
            (&bob, format!("from b {i}"))
        };
        sent.push((from.send(chat_id, &text).await, text));
    }
    for device in [&mut alice, &mut bob] {
        for (id, text) in &sent {
            let message = device.next_message(chat_id).await;
            assert_eq!(message["id"], id.as_str());
            assert_eq!(&device.decrypt(&message), text);
        }
    }
    // Sending needs a joined connection on any node: Bob's is on B, he sends through A.
    let r = a
        .post_as(
            &bob.token,
            &chat_path(chat_id, "messages"),
            json!({"content": bob.bundle(chat_id, 1, "through a")}),
        )
        .await;
    r.assert_ok();
    let message = alice.next_message(chat_id).await;
    assert_eq!(alice.decrypt(&message), "through a");

    // Bob leaves on B: Alice, on A, sees the room without him.
    bob.leave(chat_id).await;
    let members = alice.next("room:members").await;
    assert_eq!(
        roster(&members["members"]),
        json!([entry(alice.user_id, "owner", &[&alice])])
    );
    let r = a
        .post_as(
            &bob.token,
            &chat_path(chat_id, "messages"),
            json!({"content": bob.bundle(chat_id, 1, "gone")}),
        )
        .await;
    r.assert_error(403, "ERR_ROOM_NOT_JOINED");
}

#[tokio::test]
async fn a_kick_on_one_node_takes_the_user_out_on_the_other() {
    let Some((a, b)) = two_nodes().await else { return };
    let p = People::new(&a).await;
    let (chat_id, mut alice, mut bob) = alice_on_a_bob_on_b(&a, &b, &p).await;

    // Alice kicks Bob through node A; his connection is on B.
    let r = alice
        .post(&chat_path(chat_id, "kick"), json!({"user_id": bob.user_id}))
        .await;
    r.assert_ok();
    assert_eq!(
        bob.next("room:kicked").await,
        json!({"chat_id": chat_id, "reason": "kick"})
    );
    let events = alice
        .expect_sequence(&[
            "portal:key_removed",
            "room:members",
            "room:epoch_changed",
            "message:new",
            "room:key_request",
        ])
        .await;
    assert_eq!(events[2], json!({"chat_id": chat_id, "epoch": 2, "reason": "kick"}));
    assert_system(&events[3], chat_id, "ubob was kicked from the chat");
    alice.answer(&events[4]).await.assert_ok();
    alice.next("room:key").await;

    // What Alice says now Bob neither receives nor could open.
    alice.send(chat_id, "after the kick").await;
    alice.reads(chat_id, &["after the kick"]).await;
    bob.no_pending(&["message:new", "room:key", "room:epoch_changed"]).await;
    assert!(!bob.holds_key(chat_id, 2));
    let r = b
        .post_as(
            &bob.token,
            &chat_path(chat_id, "messages"),
            json!({"content": bob.bundle(chat_id, 1, "still here?")}),
        )
        .await;
    // The kick ended his membership of the private chat: it no longer exists for him.
    r.assert_error(404, "ERR_CHAT_NOT_FOUND");
}

#[tokio::test]
async fn a_wipe_due_on_two_nodes_happens_once() {
    let Some((a, b)) = two_nodes().await else { return };
    let p = People::new(&a).await;
    let (chat_id, mut alice, mut bob) = alice_on_a_bob_on_b(&a, &b, &p).await;
    alice
        .post(&chat_path(chat_id, "config/update"), json!({"wipe_preset": "1m"}))
        .await
        .assert_ok();
    bob.send(chat_id, "wipe me").await;
    alice.reads(chat_id, &["wipe me"]).await;
    alice.drain().await;
    bob.drain().await;

    // Both nodes find the wipe due at once; one of them performs it.
    a.clock.advance_secs(61);
    b.clock.advance_secs(61);
    let (on_a, on_b) = tokio::join!(wipe_due(&a.app), wipe_due(&b.app));
    assert_eq!(on_a.unwrap() + on_b.unwrap(), 1);
    for device in [&mut alice, &mut bob] {
        let events = device
            .expect_sequence(&["portal:cleared", "room:epoch_changed", "message:new"])
            .await;
        // Two join messages, the preset's message and Bob's.
        assert_eq!(events[0]["cleared"], 4);
        assert_eq!(events[0]["reason"], "wipe");
        assert_system(&events[2], chat_id, "Messages were wiped automatically (every 1m)");
    }
    bob.no_pending(&["portal:cleared"]).await;
}

#[tokio::test]
async fn without_redis_each_node_serves_its_own_connections() {
    let Some(mut redis) = PrivateRedis::start().await else {
        return;
    };
    let Some((a, b)) = nodes_on(redis.url()).await else {
        return;
    };
    let p = People::new(&a).await;
    let (chat_id, mut alice, mut bob) = alice_on_a_bob_on_b(&a, &b, &p).await;

    redis.kill();
    // Each node still serves the connections it holds: Alice talks through A and reads herself;
    // Bob, whose connection is on B, can send through B but not through A (§9).
    alice.send(chat_id, "a alone").await;
    alice.reads(chat_id, &["a alone"]).await;
    bob.send(chat_id, "b alone").await;
    bob.reads(chat_id, &["b alone"]).await;
    let r = a
        .post_as(
            &bob.token,
            &chat_path(chat_id, "messages"),
            json!({"content": bob.bundle(chat_id, 1, "wrong node")}),
        )
        .await;
    r.assert_error(403, "ERR_ROOM_NOT_JOINED");
    // Both messages are in the history, which is how connections elsewhere catch up.
    let r = alice.history(chat_id, "").await;
    let texts: Vec<String> = r.assert_ok()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["type"] == "user")
        .map(|m| alice.decrypt(m))
        .collect();
    assert_eq!(texts, ["a alone", "b alone"]);

    // Back, empty: within a beat the nodes share their rooms again and talk across.
    redis.restart().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let r = a
            .post_as(
                &bob.token,
                &chat_path(chat_id, "messages"),
                json!({"content": bob.bundle(chat_id, 1, "across again")}),
            )
            .await;
        if r.status.as_u16() == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the nodes did not share their rooms again"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    alice.reads(chat_id, &["across again"]).await;
    bob.reads(chat_id, &["across again"]).await;
}

#[tokio::test]
async fn the_devices_of_a_node_that_died_leave_their_rooms() {
    let Some(a) = TestApp::beating_node().await else { return };
    let p = People::new(&a).await;
    let (chat_id, (alice_id, alice_token), (bob_id, bob_token)) = alice_and_bob(&p).await;
    let mut alice = Device::ready(&a, a.listen().await, alice_id, &alice_token).await;
    alice.join(chat_id).await;
    alice.serve_key_request().await;

    // Bob's connection is on a real server process of the same deployment, killed without a
    // goodbye once he holds the key.
    let mut node = ServerProcess::node_of(&a, &[]).await;
    let mut bob = Device::ready(&a, node.addr, bob_id, &bob_token).await;
    bob.join(chat_id).await;
    alice.serve_key_request().await;
    bob.next("room:key").await;
    alice.drain().await;
    node.kill();

    // Three beats of silence, then a living node's beat takes Bob's device out of the room.
    let members = alice.next_within("room:members", Duration::from_secs(10)).await;
    assert_eq!(
        roster(&members["members"]),
        json!([entry(alice_id, "owner", &[&alice])])
    );
    let r = a
        .post_as(
            &bob.token,
            &chat_path(chat_id, "messages"),
            json!({"content": bob.bundle(chat_id, 1, "from the dead node")}),
        )
        .await;
    r.assert_error(403, "ERR_ROOM_NOT_JOINED");
}
