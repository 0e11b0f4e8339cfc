//! Key hand-over when the asked device goes away or stays silent (§4.3): the request fails and
//! another device is asked; a generator that lost its assignment may not key the epoch.

use std::time::Duration;

use super::*;
use portal::config::Config;

fn quick_requests(config: &mut Config) {
    config.chats.key_request_timeout_s = 1;
}

/// Alice, Bob and Carol, members of Alice's private chat; Alice and Bob joined and holding the
/// key of epoch 1. Returns (chat, alice, bob, (carol id, token)).
async fn two_holders<'a>(t: &'a TestApp, p: &People<'a>) -> (i64, Device<'a>, Device<'a>, (i64, String)) {
    let (chat_id, (alice_id, alice_token), (bob_id, bob_token)) = alice_and_bob(p).await;
    let carol = p.at("carol", 0).await;
    let code = crate::common::chats::new_invite(t, &alice_token, chat_id, json!({})).await;
    t.post(&format!("/v1/portal/resolve/{code}"))
        .cookie(&carol.1)
        .send()
        .await
        .assert_ok();
    let addr = t.listen().await;
    let mut alice = Device::ready(t, addr, alice_id, &alice_token).await;
    alice.join(chat_id).await;
    alice.serve_key_request().await;
    let mut bob = Device::ready(t, addr, bob_id, &bob_token).await;
    bob.join(chat_id).await;
    alice.serve_key_request().await;
    bob.next("room:key").await;
    (chat_id, alice, bob, carol)
}

both_backends!(
    a_distributor_that_disconnects_is_replaced_at_once,
    |t: TestApp| async move {
        let p = People::new(&t).await;
        let (chat_id, mut alice, mut bob, (carol_id, carol_token)) = two_holders(&t, &p).await;
        bob.send(chat_id, "before carol").await;
        alice.reads(chat_id, &["before carol"]).await;
        bob.reads(chat_id, &["before carol"]).await;

        // Carol joins; Alice, the earliest-joined holder, is asked, and closes her tab instead.
        let mut carol = Device::ready(&t, bob.addr, carol_id, &carol_token).await;
        carol.join(chat_id).await;
        let request = alice.next("room:key_request").await;
        assert_eq!(request["generate"], false);
        assert_eq!(request["devices"], json!([carol.named()]));
        bob.no_pending(&["room:key_request"]).await;
        alice.close().await;

        // Her request fails when her connection leaves; Bob, the other holder, is asked without
        // waiting for the timeout.
        let handed = bob.next_within("room:key_request", Duration::from_secs(3)).await;
        assert_eq!(handed["epoch"], 1);
        assert_eq!(handed["generate"], false);
        assert_eq!(handed["devices"], json!([carol.named()]));
        assert_ne!(handed["request_id"], request["request_id"]);
        let r = bob.answer(&handed).await;
        assert_eq!(r.assert_ok(), &json!({"epoch": 1, "stored": 1, "rejected": []}));
        let blob = carol.next("room:key").await;
        assert_eq!(blob["from"], bob.named());

        // Carol reads what was said before she came, and what follows; nothing rotated.
        let r = carol.history(chat_id, "").await;
        let said: Vec<String> = r.assert_ok()["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["type"] == "user")
            .map(|m| carol.decrypt(m))
            .collect();
        assert_eq!(said, ["before carol"]);
        carol.send(chat_id, "hi all").await;
        bob.reads(chat_id, &["hi all"]).await;
        carol.reads(chat_id, &["hi all"]).await;
        bob.no_pending(&["room:epoch_changed"]).await;
    }
);

both_backends!(
    a_silent_distributor_is_replaced_after_the_timeout,
    quick_requests,
    |t: TestApp| async move {
        let p = People::new(&t).await;
        let (chat_id, mut alice, mut bob, (carol_id, carol_token)) = two_holders(&t, &p).await;
        let mut carol = Device::ready(&t, bob.addr, carol_id, &carol_token).await;
        carol.join(chat_id).await;
        let request = alice.next("room:key_request").await;
        assert_eq!(request["devices"], json!([carol.named()]));

        // Alice stays connected and says nothing: after `chats.key_request_timeout_s` Bob is asked.
        let handed = bob.next_within("room:key_request", Duration::from_secs(4)).await;
        assert_eq!(handed["devices"], json!([carol.named()]));
        bob.answer(&handed).await.assert_ok();
        assert_eq!(carol.next("room:key").await["from"], bob.named());

        // Alice's late answer finds Carol served: blobs are never overwritten.
        let r = alice.answer(&request).await;
        assert_eq!(
            r.assert_ok(),
            &json!({"epoch": 1, "stored": 0, "rejected": [
                {"user_id": carol_id, "device_id": carol.device_id, "reason": "exists"}]})
        );
        assert_eq!(carol.chat_key(chat_id, 1), alice.chat_key(chat_id, 1));
    }
);

both_backends!(
    a_silent_generator_loses_the_epoch_to_the_next_device,
    quick_requests,
    |t: TestApp| async move {
        let p = People::new(&t).await;
        let (chat_id, (alice_id, alice_token), (bob_id, bob_token)) = alice_and_bob(&p).await;
        let addr = t.listen().await;
        let mut alice = Device::ready(&t, addr, alice_id, &alice_token).await;
        alice.join(chat_id).await;
        let first = alice.next("room:key_request").await;
        assert_eq!(first["generate"], true);
        let mut bob = Device::ready(&t, addr, bob_id, &bob_token).await;
        bob.join(chat_id).await;
        // While the generate request is outstanding, Bob's need waits.
        alice.no_pending(&["room:key_request"]).await;

        // Alice never answers; the assignment passes to Bob, who is asked to key the epoch for both.
        let second = bob.next_within("room:key_request", Duration::from_secs(4)).await;
        assert_eq!(second["epoch"], 1);
        assert_eq!(second["generate"], true);
        assert_eq!(
            sorted_devices(&second["devices"]),
            sorted_devices(&json!([alice.named(), bob.named()]))
        );

        // Alice's late first upload is refused: she is no longer the generator.
        let late_key = [7u8; 32];
        let late = json!([{"user_id": alice_id, "device_id": alice.device_id,
                           "blob": Device::seal_for(&alice.public_key, &late_key)}]);
        let r = alice.upload(chat_id, 1, late).await;
        assert_error_fields(&r, 403, "ERR_NOT_KEY_DISTRIBUTOR", &[]);

        let r = bob.answer(&second).await;
        assert_eq!(r.assert_ok(), &json!({"epoch": 1, "stored": 2, "rejected": []}));
        assert_eq!(alice.next("room:key").await["from"], bob.named());
        assert_eq!(alice.chat_key(chat_id, 1), bob.chat_key(chat_id, 1));
        alice.send(chat_id, "one key for the epoch").await;
        bob.reads(chat_id, &["one key for the epoch"]).await;
    }
);

both_backends!(
    a_generator_that_leaves_the_room_is_replaced_at_once,
    |t: TestApp| async move {
        let p = People::new(&t).await;
        let (chat_id, (alice_id, alice_token), (bob_id, bob_token)) = alice_and_bob(&p).await;
        let addr = t.listen().await;
        let mut alice = Device::ready(&t, addr, alice_id, &alice_token).await;
        alice.join(chat_id).await;
        assert_eq!(alice.next("room:key_request").await["generate"], true);
        let mut bob = Device::ready(&t, addr, bob_id, &bob_token).await;
        bob.join(chat_id).await;
        alice.leave(chat_id).await;

        let request = bob.next_within("room:key_request", Duration::from_secs(3)).await;
        assert_eq!(request["epoch"], 1);
        assert_eq!(request["generate"], true);
        assert_eq!(request["devices"], json!([bob.named()]));
        bob.answer(&request).await.assert_ok();
        bob.next("room:key").await;

        // Alice comes back: Bob hands her the key he made.
        alice.join(chat_id).await;
        let request = bob.serve_key_request().await;
        assert_eq!(request["devices"], json!([alice.named()]));
        assert_eq!(alice.next("room:key").await["from"], bob.named());
        bob.send(chat_id, "made by bob").await;
        alice.reads(chat_id, &["made by bob"]).await;
    }
);
