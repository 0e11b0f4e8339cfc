//! Device keys (§3): registration, its answers and validation, and what a new key does in rooms.

use super::*;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;

const KEYS: &str = "/v1/portal/keys";

/// The test client's own cryptography, without a server: a sealed chat key opens with the
/// recipient's secret only, and a bundle opens with its chat key only.
#[test]
fn the_client_cryptography_round_trips() {
    use crate::common::e2e::{encrypt, key_pair, open_bundle, seal};
    let (secret, public) = key_pair();
    let (other, _) = key_pair();
    assert_eq!(public.len(), 44);
    let chat_key = [42u8; 32];
    let blob = seal(&public, &chat_key);
    assert!(blob.len() <= 256);
    let sealed = base64::engine::general_purpose::STANDARD.decode(&blob).unwrap();
    assert_eq!(secret.unseal(&sealed).unwrap(), chat_key);
    assert!(other.unseal(&sealed).is_err());
    let content = encrypt(&chat_key, 3, "secret words");
    let bundle: Value = serde_json::from_str(&content).unwrap();
    assert_eq!(keys(&bundle), ["ct", "epoch", "v"]);
    assert_eq!((bundle["v"].clone(), bundle["epoch"].clone()), (json!(2), json!(3)));
    assert!(!content.contains("secret words"));
    assert_eq!(open_bundle(&chat_key, &content).as_deref(), Some("secret words"));
    assert_eq!(open_bundle(&[1u8; 32], &content), None);
    assert_eq!(open_bundle(&chat_key, &encrypt(&chat_key, 1, "")).as_deref(), Some(""));
}
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

both_backends!(
    keys_are_shown_in_canonical_form_and_a_new_key_is_served,
    |t: TestApp| async move {
        let p = People::new(&t).await;
        let (chat_id, (alice_id, alice_token), (bob_id, bob_token)) = alice_and_bob(&p).await;
        let addr = t.listen().await;
        let mut alice = Device::ready(&t, addr, alice_id, &alice_token).await;
        alice.join(chat_id).await;
        alice.serve_key_request().await;

        // Bob joins before his portal has registered a key: he is listed without one, gets no blob,
        // and nobody is asked for him.
        let mut bob = Device::new(&t, addr, bob_id, &bob_token).await;
        let joined = bob.join(chat_id).await;
        assert_eq!(
            joined["members"][1]["devices"],
            json!([{"device_id": bob.device_id, "public_key": null}])
        );
        assert_eq!(joined["key"], Value::Null);
        alice.next("room:members").await;
        alice.no_pending(&["room:key_request"]).await;

        // He registers it in the URL-safe alphabet without padding: the room hears of it in the
        // standard form, and Alice is asked to serve him as if he had just joined.
        let raw = STANDARD_NO_PAD.decode(bob.public_key.trim_end_matches('=')).unwrap();
        let r = bob
            .post(KEYS, json!({"public_key": URL_SAFE_NO_PAD.encode(&raw)}))
            .await;
        assert_eq!(r.assert_ok()["status"], "registered");
        let added = alice.next("portal:key_added").await;
        assert_eq!(
            added,
            json!({"chat_id": chat_id, "user_id": bob_id, "device_id": bob.device_id, "public_key": bob.public_key})
        );
        assert_eq!(bob.next("portal:key_added").await, added);
        let request = alice.serve_key_request().await;
        assert_eq!(request["devices"], json!([bob.named()]));
        bob.next("room:key").await;
        let r = bob.keys_me(chat_id).await;
        assert_eq!(r.assert_ok()["key"]["epoch"], 1);

        // Registering the same key again sends nothing.
        assert_eq!(bob.register_key().await.assert_ok()["status"], "unchanged");
        alice.no_pending(&["portal:key_added", "room:key_request"]).await;

        // A replaced key drops the device's blobs (made for the old key); it gets a fresh one.
        assert_eq!(bob.replace_key().await.assert_ok()["status"], "registered");
        let r = bob.keys_me(chat_id).await;
        assert_eq!(r.assert_ok()["key"], Value::Null);
        let added = alice.next("portal:key_added").await;
        assert_eq!(added["public_key"], bob.public_key.as_str());
        let request = alice.serve_key_request().await;
        assert_eq!(request["epoch"], 1);
        assert_eq!(request["devices"], json!([bob.named()]));
        let blob = bob.next("room:key").await;
        assert_eq!(blob["epoch"], 1);
        // Nothing rotated.
        alice.no_pending(&["room:epoch_changed"]).await;
        alice.send(chat_id, "still epoch 1").await;
        bob.reads(chat_id, &["still epoch 1"]).await;
    }
);
