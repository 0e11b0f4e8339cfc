//! Device keys in rooms (§3): what a new key does there (registration itself is tested in
//! tests/api/transport/keys.rs), and a check of the test client's own cryptography.

use super::*;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
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
