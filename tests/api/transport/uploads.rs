//! Key blob uploads (§4.4) and `keys/me` (§4.5): refusals, rejected items, the generator rule.

use super::*;

both_backends!(upload_validation_comes_first, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (chat_id, _, (_, bob_token)) = alice_and_bob(&p).await;
    let path = chat_path(chat_id, "keys");
    let blob = b64(&noise(80));
    let item = json!({"user_id": 1, "device_id": "aA1_bc", "blob": blob});

    let r = t.post(&path).json(json!({"epoch": 1, "blobs": [item]})).send().await;
    r.assert_error(401, "ERR_AUTH_REQUIRED");

    let r = t
        .post_as(
            &bob_token,
            "/v1/portal/chats/abc/keys",
            json!({"epoch": 1, "blobs": [item]}),
        )
        .await;
    assert_validation(&r, "chat_id", "chat_id must be a positive integer");
    let cases: Vec<(Value, &str, Option<&str>)> = vec![
        (json!({"blobs": [item]}), "epoch", Some("epoch is required")),
        (
            json!({"epoch": 0, "blobs": [item]}),
            "epoch",
            Some("epoch must be at least 1"),
        ),
        (
            json!({"epoch": "1", "blobs": [item]}),
            "epoch",
            Some("epoch must be an integer"),
        ),
        (json!({"epoch": 1}), "blobs", Some("blobs is required")),
        (
            json!({"epoch": 1, "blobs": "x"}),
            "blobs",
            Some("blobs must be an array"),
        ),
        (json!({"epoch": 1, "blobs": []}), "blobs", None),
        (
            json!({"epoch": 1, "blobs": vec![item.clone(); 501]}),
            "blobs",
            Some("blobs must have at most 500 items"),
        ),
        (
            json!({"epoch": 1, "blobs": [5]}),
            "blobs[0]",
            Some("blobs[0] must be an object"),
        ),
        (
            json!({"epoch": 1, "blobs": [{"device_id": "aA1_bc", "blob": blob}]}),
            "blobs[0].user_id",
            Some("blobs[0].user_id is required"),
        ),
        (
            json!({"epoch": 1, "blobs": [{"user_id": 0, "device_id": "aA1_bc", "blob": blob}]}),
            "blobs[0].user_id",
            Some("blobs[0].user_id must be at least 1"),
        ),
        (
            json!({"epoch": 1, "blobs": [item, {"user_id": 1, "blob": blob}]}),
            "blobs[1].device_id",
            Some("blobs[1].device_id is required"),
        ),
        (
            json!({"epoch": 1, "blobs": [{"user_id": 1, "device_id": "aA1_b", "blob": blob}]}),
            "blobs[0].device_id",
            None,
        ),
        (
            json!({"epoch": 1, "blobs": [{"user_id": 1, "device_id": "aA1.bc", "blob": blob}]}),
            "blobs[0].device_id",
            None,
        ),
        (
            json!({"epoch": 1, "blobs": [{"user_id": 1, "device_id": "aA1_bc"}]}),
            "blobs[0].blob",
            Some("blobs[0].blob is required"),
        ),
        (
            json!({"epoch": 1, "blobs": [{"user_id": 1, "device_id": "aA1_bc", "blob": ""}]}),
            "blobs[0].blob",
            None,
        ),
        (
            json!({"epoch": 1, "blobs": [{"user_id": 1, "device_id": "aA1_bc", "blob": "@@@@"}]}),
            "blobs[0].blob",
            None,
        ),
        (
            json!({"epoch": 1, "blobs": [{"user_id": 1, "device_id": "aA1_bc", "blob": "A".repeat(260)}]}),
            "blobs[0].blob",
            Some("blobs[0].blob must be at most 256 characters"),
        ),
        (
            json!({"epoch": 1, "blobs": [{"user_id": 1, "device_id": "aA1_bc", "blob": blob, "public_key": "abcd"}]}),
            "blobs[0].public_key",
            Some("blobs[0].public_key must be base64 of exactly 32 bytes"),
        ),
        (
            json!({"epoch": 1, "blobs": [item, {"user_id": 2, "device_id": "aA1_bc", "blob": blob}, item]}),
            "blobs[2]",
            Some("blobs[2] repeats a device"),
        ),
    ];
    for (body, field, message) in cases {
        let r = t.post_as(&bob_token, &path, body.clone()).await;
        r.assert_error(400, "ERR_VALIDATION");
        assert_eq!(r.body["field"], field, "{body}: {}", r.body);
        if let Some(message) = message {
            assert_eq!(r.body["error"], message, "{body}");
        }
    }
    // `public_key: null` is the default, not an error; the request then fails on the room.
    let body = json!({"epoch": 1, "blobs": [{"user_id": 1, "device_id": "aA1_bc", "blob": blob, "public_key": null}]});
    let r = t.post_as(&bob_token, &path, body).await;
    assert_error_fields(&r, 403, "ERR_ROOM_NOT_JOINED", &[]);
});

both_backends!(uploads_are_judged_item_by_item, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (chat_id, (alice_id, alice_token), (bob_id, bob_token)) = alice_and_bob(&p).await;
    let (carol_id, carol_token) = p.at("carol", 0).await;
    let (dave_id, dave_token) = p.at("dave", 0).await;
    let code = crate::common::chats::new_invite(&t, &alice_token, chat_id, json!({})).await;
    t.post(&format!("/v1/portal/resolve/{code}"))
        .cookie(&carol_token)
        .send()
        .await
        .assert_ok();
    let addr = t.listen().await;
    let mut alice = Device::ready(&t, addr, alice_id, &alice_token).await;
    let mut bob = Device::ready(&t, addr, bob_id, &bob_token).await;
    let dave = Device::ready(&t, addr, dave_id, &dave_token).await;

    // Existence and the room come before the epoch and the distributor rules.
    let item = json!([{"user_id": bob_id, "device_id": bob.device_id, "blob": b64(&noise(80))}]);
    let r = dave.upload(chat_id, 1, item.clone()).await;
    assert_error_fields(&r, 404, "ERR_CHAT_NOT_FOUND", &[]);
    let r = dave.upload(999_999, 1, item.clone()).await;
    assert_error_fields(&r, 404, "ERR_CHAT_NOT_FOUND", &[]);
    let r = bob.upload(chat_id, 7, item.clone()).await;
    assert_error_fields(&r, 403, "ERR_ROOM_NOT_JOINED", &[]);
    assert_eq!(r.body["error"], "Join the chat's room first");

    // The generator must name itself in the first upload of an epoch.
    alice.join(chat_id).await;
    let request = alice.next("room:key_request").await;
    assert_eq!(request["generate"], true);
    let r = alice.upload(chat_id, 2, item.clone()).await;
    assert_error_fields(&r, 403, "ERR_EPOCH_MISMATCH", &["epoch"]);
    assert_eq!(r.body["epoch"], 1);
    let r = alice.upload(chat_id, 1, item.clone()).await;
    assert_error_fields(&r, 403, "ERR_NOT_KEY_DISTRIBUTOR", &[]);
    assert_eq!(r.body["error"], "You may not upload keys for this epoch");
    let r = alice.answer(&request).await;
    assert_eq!(r.assert_ok(), &json!({"epoch": 1, "stored": 1, "rejected": []}));

    // Bob and Carol join; Carol's portal has not registered a key yet.
    bob.join(chat_id).await;
    let mut carol = Device::new(&t, addr, carol_id, &carol_token).await;
    carol.join(chat_id).await;
    let request = alice.next("room:key_request").await;
    assert_eq!(request["devices"], json!([bob.named()]));
    // A device without a blob is no distributor, even for itself.
    let own = json!([{"user_id": bob_id, "device_id": bob.device_id, "blob": b64(&noise(80))}]);
    let r = bob.upload(chat_id, 1, own).await;
    assert_error_fields(&r, 403, "ERR_NOT_KEY_DISTRIBUTOR", &[]);

    // One upload, every kind of rejection, in request order.
    let mut items = alice.blobs_for(chat_id, 1, &[bob.named()]).as_array().unwrap().clone();
    let sealed = b64(&noise(80));
    items.push(json!({"user_id": carol_id, "device_id": carol.device_id, "blob": sealed}));
    items.push(json!({"user_id": dave_id, "device_id": dave.device_id, "blob": sealed, "public_key": dave.public_key}));
    items.push(json!({"user_id": bob_id, "device_id": "zzzzzz", "blob": sealed}));
    items.push(json!({"user_id": carol_id, "device_id": bob.device_id, "blob": sealed}));
    items.push(alice.blobs_for(chat_id, 1, &[alice.named()])[0].clone());
    let r = alice.upload(chat_id, 1, Value::Array(items)).await;
    assert_eq!(
        r.assert_ok(),
        &json!({"epoch": 1, "stored": 1, "rejected": [
            {"user_id": carol_id, "device_id": carol.device_id, "reason": "no_public_key"},
            {"user_id": dave_id, "device_id": dave.device_id, "reason": "not_joined"},
            {"user_id": bob_id, "device_id": "zzzzzz", "reason": "not_joined"},
            {"user_id": carol_id, "device_id": bob.device_id, "reason": "not_joined"},
            {"user_id": alice_id, "device_id": alice.device_id, "reason": "exists"},
        ]})
    );
    bob.next("room:key").await;
    // Blobs are never overwritten.
    let r = alice
        .upload(chat_id, 1, alice.blobs_for(chat_id, 1, &[bob.named()]))
        .await;
    assert_eq!(
        r.assert_ok()["rejected"],
        json!([{"user_id": bob_id, "device_id": bob.device_id, "reason": "exists"}])
    );

    // Carol registers her key: a blob made for another key is stale; one for hers is stored, and
    // any holder may upload it, asked or not.
    assert_eq!(carol.register_key().await.assert_ok()["status"], "registered");
    let (_, other_key) = crate::common::e2e::key_pair();
    let mut stale = carol.named();
    stale["public_key"] = json!(other_key);
    let r = bob.upload(chat_id, 1, bob.blobs_for(chat_id, 1, &[stale])).await;
    assert_eq!(
        r.assert_ok(),
        &json!({"epoch": 1, "stored": 0, "rejected": [
            {"user_id": carol_id, "device_id": carol.device_id, "reason": "stale_public_key"}]})
    );
    let r = bob
        .upload(chat_id, 1, bob.blobs_for(chat_id, 1, &[carol.named()]))
        .await;
    assert_eq!(r.assert_ok(), &json!({"epoch": 1, "stored": 1, "rejected": []}));
    let blob = carol.next("room:key").await;
    assert_eq!(blob["from"], bob.named());
    assert_eq!(carol.chat_key(chat_id, 1), alice.chat_key(chat_id, 1));
});

both_backends!(keys_me_gives_the_callers_blob, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (chat_id, (alice_id, alice_token), (bob_id, bob_token)) = alice_and_bob(&p).await;
    let (dave_id, dave_token) = p.at("dave", 0).await;
    let addr = t.listen().await;
    let mut alice = Device::ready(&t, addr, alice_id, &alice_token).await;
    let mut bob = Device::ready(&t, addr, bob_id, &bob_token).await;
    let dave = Device::ready(&t, addr, dave_id, &dave_token).await;
    let path = chat_path(chat_id, "keys/me");

    t.get(&path).send().await.assert_error(401, "ERR_AUTH_REQUIRED");
    let r = bob.get("/v1/portal/chats/0/keys/me").await;
    assert_validation(&r, "chat_id", "chat_id must be a positive integer");
    assert_error_fields(&dave.keys_me(chat_id).await, 404, "ERR_CHAT_NOT_FOUND", &[]);
    assert_error_fields(&bob.keys_me(999_999).await, 404, "ERR_CHAT_NOT_FOUND", &[]);

    // No joined room is needed to ask; before any key there is none.
    let r = bob.keys_me(chat_id).await;
    assert_eq!(
        r.assert_ok(),
        &json!({"chat_id": chat_id, "epoch": 1, "device_id": bob.device_id, "key": null})
    );

    alice.join(chat_id).await;
    alice.serve_key_request().await;
    bob.join(chat_id).await;
    alice.serve_key_request().await;
    let pushed = bob.next("room:key").await;
    let r = bob.keys_me(chat_id).await;
    assert_eq!(keys(r.assert_ok()), ["chat_id", "device_id", "epoch", "key"]);
    assert_eq!(keys(&r.body["key"]), ROOM_KEY_BLOB_FIELDS);
    assert_eq!(r.body["key"], pushed);
    assert_eq!(r.body["key"]["from"], alice.named());

    // Still there after leaving the room, and for a timed-out user (a read).
    bob.leave(chat_id).await;
    t.time_out(bob_id, 600).await;
    assert_eq!(bob.keys_me(chat_id).await.assert_ok()["key"], pushed);
    // A timed-out user may not upload.
    let r = alice
        .upload(chat_id, 1, alice.blobs_for(chat_id, 1, &[alice.named()]))
        .await;
    assert_eq!(r.assert_ok()["rejected"][0]["reason"], "exists");
    let r = bob
        .upload(chat_id, 1, bob.blobs_for(chat_id, 1, &[alice.named()]))
        .await;
    assert_error_fields(&r, 403, "ERR_ACCOUNT_TIMED_OUT", &["expires_at"]);
});
