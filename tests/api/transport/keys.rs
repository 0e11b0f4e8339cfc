//! Device keys (§3): registration, its answers and validation, and their end with the session.

use super::*;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;

const KEYS: &str = "/v1/portal/keys";

const BAD_KEY: &str = "public_key must be base64 of exactly 32 bytes";

both_backends!(
    registration_answers_registered_unchanged_and_replaced,
    |t: TestApp| async move {
        let p = People::new(&t).await;
        let (_, token) = p.at("alice", 0).await;
        let suffix = token[token.len() - 6..].to_owned();
        let key: Vec<u8> = (0u8..32).map(|i| i.wrapping_mul(7).wrapping_add(0xf9)).collect();

        let r = t.post_as(&token, KEYS, json!({"public_key": b64(&key)})).await;
        assert_eq!(r.assert_ok(), &json!({"status": "registered", "device_id": suffix}));
        // The same bytes again, in any accepted form of base64, change nothing.
        for form in [
            b64(&key),
            STANDARD_NO_PAD.encode(&key),
            URL_SAFE.encode(&key),
            URL_SAFE_NO_PAD.encode(&key),
        ] {
            let r = t.post_as(&token, KEYS, json!({"public_key": form})).await;
            assert_eq!(
                r.assert_ok(),
                &json!({"status": "unchanged", "device_id": suffix}),
                "{form}"
            );
        }
        // Other bytes replace the key.
        let other: Vec<u8> = key.iter().map(|b| b ^ 0x55).collect();
        let r = t.post_as(&token, KEYS, json!({"public_key": b64(&other)})).await;
        assert_eq!(r.assert_ok(), &json!({"status": "registered", "device_id": suffix}));
        let r = t.post_as(&token, KEYS, json!({"public_key": b64(&key)})).await;
        assert_eq!(r.assert_ok()["status"], "registered");

        // Another session of the same user is another device, with its own key.
        let second = t.login(&p.bot, "alice").await;
        let r = t.post_as(&second, KEYS, json!({"public_key": b64(&key)})).await;
        assert_eq!(
            r.assert_ok(),
            &json!({"status": "registered", "device_id": &second[second.len() - 6..]})
        );
        assert_ne!(&second[second.len() - 6..], suffix);

        // A timed-out user may still register: it concerns only their own session.
        let carol_id = t.user("carol", 0).await.id;
        let carol = t.login(&p.bot, "carol").await;
        t.time_out(carol_id, 3600).await;
        let r = t.post_as(&carol, KEYS, json!({"public_key": b64(&other)})).await;
        assert_eq!(r.assert_ok()["status"], "registered");
    }
);

both_backends!(registration_validation_and_credentials, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (_, token) = p.at("alice", 0).await;
    let key = [9u8; 32];

    let r = t.post(KEYS).json(json!({"public_key": b64(&key)})).send().await;
    r.assert_error(401, "ERR_AUTH_REQUIRED");

    let r = t.post_as(&token, KEYS, json!({})).await;
    assert_validation(&r, "public_key", "public_key is required");
    let r = t.post_as(&token, KEYS, json!({"public_key": null})).await;
    assert_validation(&r, "public_key", "public_key is required");
    let r = t.post_as(&token, KEYS, json!({"public_key": 42})).await;
    assert_validation(&r, "public_key", "public_key must be a string");

    let mut mixed = URL_SAFE_NO_PAD.encode([0xfbu8; 32]); // '-' and '_' …
    mixed.replace_range(0..1, "+"); // … and '+' in one string
    for bad in [
        String::new(),
        "not base64 at all!".to_owned(),
        b64(&[1u8; 31]),
        b64(&[1u8; 33]),
        b64(&[1u8; 64]),
        format!("{} ", b64(&key)),
        format!("{}\n{}", &b64(&key)[..20], &b64(&key)[20..]),
        mixed,
    ] {
        let r = t.post_as(&token, KEYS, json!({"public_key": bad})).await;
        assert_validation(&r, "public_key", BAD_KEY);
    }
    // Only the form is judged: 32 zero bytes are accepted.
    let r = t.post_as(&token, KEYS, json!({"public_key": b64(&[0u8; 32])})).await;
    assert_eq!(r.assert_ok()["status"], "registered");
});

// §3.2: a key lives as long as its session; ending the session deletes it in the same
// transaction, and a later session starts with none.
both_backends!(a_key_ends_with_its_session, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (_, token) = p.at("alice", 0).await;
    let r = t.post_as(&token, KEYS, json!({"public_key": b64(&[5u8; 32])})).await;
    assert_eq!(r.assert_ok()["status"], "registered");
    assert_eq!(stored_keys(&t).await, 1);
    t.post_as(&token, "/v1/authentication/logout", json!({}))
        .await
        .assert_ok();
    assert_eq!(stored_keys(&t).await, 0);
    let again = t.login(&p.bot, "alice").await;
    let r = t.post_as(&again, KEYS, json!({"public_key": b64(&[5u8; 32])})).await;
    assert_eq!(r.assert_ok()["status"], "registered");
});

async fn stored_keys(t: &TestApp) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM device_keys")
        .fetch_one(&mut *t.conn().await)
        .await
        .unwrap();
    n
}

// §4.5: the caller's blob at the current epoch, for whoever may see the chat and is not banned
// from it; before any hand-over there is none.
both_backends!(
    keys_me_answers_by_the_rules_of_seeing_the_chat,
    |t: TestApp| async move {
        let p = People::new(&t).await;
        let (_, admin) = p.at("admin", 2).await;
        let (_, other_admin) = p.at("other", 2).await;
        let (alice_id, alice) = p.at("alice", 0).await;
        let lobby = create_official(&t, &admin, "Lobby", "lobby").await;
        let hidden = create_private(&t, &other_admin, "hidden").await["id"].as_i64().unwrap();
        let path = |chat_id: i64| format!("/v1/portal/chats/{chat_id}/keys/me");

        let r = t.get(&path(lobby)).cookie(&alice).send().await;
        assert_eq!(
            r.assert_ok(),
            &json!({"chat_id": lobby, "epoch": 1, "device_id": &alice[alice.len() - 6..], "key": null})
        );
        t.get(&path(lobby)).send().await.assert_error(401, "ERR_AUTH_REQUIRED");
        let r = t.get("/v1/portal/chats/abc/keys/me").cookie(&alice).send().await;
        assert_validation(&r, "chat_id", "chat_id must be a positive integer");
        let r = t.get(&path(hidden)).cookie(&alice).send().await;
        r.assert_error(404, "ERR_CHAT_NOT_FOUND");
        let r = t.get(&path(hidden + 1000)).cookie(&alice).send().await;
        r.assert_error(404, "ERR_CHAT_NOT_FOUND");

        let ban = json!({"user_id": alice_id, "duration": 0, "reason": "spam"});
        t.post_as(&admin, &format!("/v1/portal/chats/{lobby}/ban"), ban)
            .await
            .assert_ok();
        let r = t.get(&path(lobby)).cookie(&alice).send().await;
        r.assert_error(403, "ERR_CHAT_BANNED");
    }
);
