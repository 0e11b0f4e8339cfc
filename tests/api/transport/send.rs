//! Sending (§5.2): every refusal, in the order of the error table, and the bundle rules of §1.4.

use super::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

both_backends!(send_refusals_follow_the_order_of_checks, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (chat_id, (alice_id, alice_token), (bob_id, bob_token)) = alice_and_bob(&p).await;
    let (_, carol_token) = p.at("carol", 0).await;
    let (admin_id, admin_token) = p.at("admin", 2).await;
    let (dave_id, dave_token) = p.at("dave", 0).await;
    let code = crate::common::chats::new_invite(&t, &alice_token, chat_id, json!({})).await;
    t.post(&format!("/v1/portal/resolve/{code}"))
        .cookie(&dave_token)
        .send()
        .await
        .assert_ok();
    let addr = t.listen().await;
    let path = chat_path(chat_id, "messages");
    let good = bundle_of(1, &noise(64));

    let mut alice = Device::ready(&t, addr, alice_id, &alice_token).await;
    alice.join(chat_id).await;
    alice.serve_key_request().await;

    // Credentials first.
    let r = t.post(&path).json(json!({"content": good})).send().await;
    r.assert_error(401, "ERR_AUTH_REQUIRED");

    // A timed-out member is refused before anything about the request is read.
    let mut dave = Device::ready(&t, addr, dave_id, &dave_token).await;
    dave.join(chat_id).await;
    let until = t.time_out(dave_id, 600).await;
    let r = dave.post(&path, json!({"content": 42})).await;
    assert_error_fields(&r, 403, "ERR_ACCOUNT_TIMED_OUT", &["expires_at"]);
    assert_eq!(r.body["expires_at"], crate::common::rfc3339(until));

    // Validation, before existence: even an outsider learns only that the request is malformed.
    let bob = Device::ready(&t, addr, bob_id, &bob_token).await;
    for bad_path in [
        "/v1/portal/chats/abc/messages",
        "/v1/portal/chats/0/messages",
        "/v1/portal/chats/-3/messages",
    ] {
        let r = bob.post(bad_path, json!({"content": good})).await;
        assert_validation(&r, "chat_id", "chat_id must be a positive integer");
    }
    let r = bob.post(&path, json!({})).await;
    assert_validation(&r, "content", "content is required");
    let r = bob.post(&path, json!({"content": null})).await;
    assert_validation(&r, "content", "content is required");
    let r = bob.post(&path, json!({"content": 42})).await;
    assert_validation(&r, "content", "content must be a string");
    let r = bob.post(&path, json!({"content": {"v": 2}})).await;
    assert_validation(&r, "content", "content must be a string");
    let too_long = format!("{good}{}", " ".repeat(4097 - good.len()));
    assert_eq!(too_long.chars().count(), 4097);
    let r = bob.send_content(chat_id, &too_long).await;
    assert_validation(&r, "content", "content must be at most 4096 characters");
    let r = t.post_as(&carol_token, &path, json!({"content": too_long})).await;
    assert_validation(&r, "content", "content must be at most 4096 characters");

    // Existence and visibility.
    let r = t.post_as(&carol_token, &path, json!({"content": good})).await;
    assert_error_fields(&r, 404, "ERR_CHAT_NOT_FOUND", &[]);
    let r = bob.send_content(999_999, &good).await;
    assert_error_fields(&r, 404, "ERR_CHAT_NOT_FOUND", &[]);

    // Not joined: refused before the bundle is looked at.
    for content in [good.clone(), "not a bundle".to_owned(), bundle_of(7, &noise(64))] {
        let r = bob.send_content(chat_id, &content).await;
        assert_error_fields(&r, 403, "ERR_ROOM_NOT_JOINED", &[]);
        assert_eq!(r.body["error"], "Join the chat's room first");
    }

    // A staff visitor of a private chat reads but does not post, whatever the content.
    let mut admin = Device::ready(&t, addr, admin_id, &admin_token).await;
    let joined = admin.join(chat_id).await;
    let visitor = joined["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"]["id"] == admin_id)
        .unwrap()
        .clone();
    assert_eq!(visitor["membership"], "visitor");
    for content in [good.clone(), "not a bundle".to_owned(), bundle_of(7, &noise(64))] {
        let r = admin.send_content(chat_id, &content).await;
        assert_error_fields(&r, 403, "ERR_FORBIDDEN", &[]);
        assert_eq!(r.body["error"], "Only members can post in a private chat");
    }
    // … though the length limit is validation, and comes first.
    let r = admin.send_content(chat_id, &too_long).await;
    assert_validation(&r, "content", "content must be at most 4096 characters");

    // Joined, without a key: the bundle is judged, then the epoch, then the key.
    let mut bob = bob;
    bob.join(chat_id).await;
    let r = bob.send_content(chat_id, "not a bundle").await;
    assert_error_fields(&r, 422, "ERR_INVALID_BUNDLE", &[]);
    let r = bob.send_content(chat_id, &bundle_of(2, &noise(64))).await;
    assert_error_fields(&r, 403, "ERR_EPOCH_MISMATCH", &["epoch"]);
    assert_eq!(r.body["epoch"], 1);
    assert_eq!(r.body["error"], "The chat key has changed");
    let r = bob.send_content(chat_id, &good).await;
    assert_error_fields(&r, 403, "ERR_NO_ROOM_KEY", &[]);
    assert_eq!(r.body["error"], "You have no key for the current epoch");

    // Handed the key, Bob sends; a bundle padded to exactly 4096 characters is fine.
    loop {
        let request = alice.next("room:key_request").await;
        let wanted_bob = request["devices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["device_id"] == bob.device_id.as_str());
        alice.answer(&request).await.assert_ok();
        if wanted_bob {
            break;
        }
    }
    bob.next("room:key").await;
    let id = bob.send(chat_id, "through").await;
    assert_eq!(alice.next_message(chat_id).await["id"], id.as_str());
    let sealed = bob.bundle(chat_id, 1, "padded");
    let padded = format!("{sealed}{}", " ".repeat(4096 - sealed.len()));
    let r = bob.send_content(chat_id, &padded).await;
    let id = r.assert_ok()["id"].as_str().unwrap().to_owned();
    let message = alice.next_message(chat_id).await;
    assert_eq!(message["id"], id.as_str());
    assert_eq!(
        message["content"],
        padded.as_str(),
        "the content is kept exactly as sent"
    );
    assert_eq!(alice.decrypt(&message), "padded");
    // The sender's connections get the message too.
    bob.reads(chat_id, &["through", "padded"]).await;
    // A wrong epoch is still refused for a holder.
    let r = bob.send_content(chat_id, &bundle_of(0, &noise(64))).await;
    assert_error_fields(&r, 422, "ERR_INVALID_BUNDLE", &[]);
    let r = bob.send_content(chat_id, &bundle_of(3, &noise(64))).await;
    assert_error_fields(&r, 403, "ERR_EPOCH_MISMATCH", &["epoch"]);
    assert_eq!(r.body["epoch"], 1);
});

both_backends!(each_bundle_rule_is_enforced, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (chat_id, _, (bob_id, bob_token)) = alice_and_bob(&p).await;
    let addr = t.listen().await;
    // Bob is joined and holds no key: a content that passes every bundle rule gets ERR_NO_ROOM_KEY.
    let mut bob = Device::ready(&t, addr, bob_id, &bob_token).await;
    bob.join(chat_id).await;
    let ct = b64(&noise(48));
    let ct39 = b64(&noise(39));
    let ct40 = b64(&noise(40));
    let mut mixed = URL_SAFE_NO_PAD.encode([0xfbu8; 48]);
    mixed.replace_range(0..1, "+");

    let invalid: Vec<String> = vec![
        // 1. JSON, with no key repeated.
        String::new(),
        "hello".into(),
        "{".into(),
        format!(r#"{{"v":2,"epoch":1,"ct":"{ct}"}} x"#),
        format!(r#"{{"v":2,"v":2,"epoch":1,"ct":"{ct}"}}"#),
        format!(r#"{{"v":2,"epoch":1,"epoch":1,"ct":"{ct}"}}"#),
        // 2. An object with exactly v, epoch and ct.
        "[]".into(),
        "null".into(),
        "2".into(),
        format!(r#""{ct}""#),
        r#"{"v":2,"epoch":1}"#.into(),
        format!(r#"{{"epoch":1,"ct":"{ct}"}}"#),
        format!(r#"{{"v":2,"ct":"{ct}"}}"#),
        format!(r#"{{"v":2,"epoch":1,"ct":"{ct}","sender":"bob"}}"#),
        // 3. v is the JSON integer 2.
        format!(r#"{{"v":1,"epoch":1,"ct":"{ct}"}}"#),
        format!(r#"{{"v":3,"epoch":1,"ct":"{ct}"}}"#),
        format!(r#"{{"v":"2","epoch":1,"ct":"{ct}"}}"#),
        format!(r#"{{"v":2.5,"epoch":1,"ct":"{ct}"}}"#),
        format!(r#"{{"v":null,"epoch":1,"ct":"{ct}"}}"#),
        // 4. epoch is a JSON integer ≥ 1.
        format!(r#"{{"v":2,"epoch":0,"ct":"{ct}"}}"#),
        format!(r#"{{"v":2,"epoch":-1,"ct":"{ct}"}}"#),
        format!(r#"{{"v":2,"epoch":"1","ct":"{ct}"}}"#),
        format!(r#"{{"v":2,"epoch":1.5,"ct":"{ct}"}}"#),
        format!(r#"{{"v":2,"epoch":null,"ct":"{ct}"}}"#),
        format!(r#"{{"v":2,"epoch":true,"ct":"{ct}"}}"#),
        // 5. ct is base64 of at least 40 bytes.
        r#"{"v":2,"epoch":1,"ct":5}"#.into(),
        r#"{"v":2,"epoch":1,"ct":null}"#.into(),
        r#"{"v":2,"epoch":1,"ct":""}"#.into(),
        r#"{"v":2,"epoch":1,"ct":"@@@@ not base64 @@@@ not base64 @@@@ not base64 @@@@ not base64"}"#.into(),
        format!(r#"{{"v":2,"epoch":1,"ct":"{}"}}"#, mixed),
        format!(r#"{{"v":2,"epoch":1,"ct":"{} {}"}}"#, &ct[..32], &ct[32..]),
        format!(r#"{{"v":2,"epoch":1,"ct":"{ct39}"}}"#),
        format!(r#"{{"v":2,"epoch":1,"ct":["{ct}"]}}"#),
    ];
    for content in &invalid {
        let r = bob.send_content(chat_id, content).await;
        assert_eq!(r.status.as_u16(), 422, "{content}: {}", r.body);
        assert_error_fields(&r, 422, "ERR_INVALID_BUNDLE", &[]);
    }
    // 4096 characters of two bytes each are within the length limit: the bundle rules answer.
    let r = bob.send_content(chat_id, &"é".repeat(4096)).await;
    assert_error_fields(&r, 422, "ERR_INVALID_BUNDLE", &[]);

    // Bundles that pass every rule, in any key order, white space and base64 alphabet.
    let valid: Vec<String> = vec![
        format!(r#"{{"v":2,"epoch":1,"ct":"{ct40}"}}"#),
        format!(r#"{{"ct":"{ct}","epoch":1,"v":2}}"#),
        format!(
            "{{ \"v\" : 2 ,\n \"epoch\" : 1 , \"ct\" : \"{}\" }}",
            URL_SAFE_NO_PAD.encode(noise(48))
        ),
        format!(r#"{{"v":2,"epoch":1,"ct":"{}"}}"#, ct.trim_end_matches('=')),
    ];
    for content in &valid {
        let r = bob.send_content(chat_id, content).await;
        assert_error_fields(&r, 403, "ERR_NO_ROOM_KEY", &[]);
    }
    // Nothing was stored.
    let r = bob.history(chat_id, "").await;
    assert!(r.assert_ok()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["type"] == "system"));
});
