//! History (§5.3): pages from the newest end or after an id, oldest first, and its validation.

use super::*;

both_backends!(history_pages_before_and_after, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (chat_id, (alice_id, alice_token), (bob_id, bob_token)) = alice_and_bob(&p).await;
    let addr = t.listen().await;
    let mut alice = Device::ready(&t, addr, alice_id, &alice_token).await;
    alice.join(chat_id).await;
    alice.serve_key_request().await;
    let mut bob = Device::ready(&t, addr, bob_id, &bob_token).await;
    bob.join(chat_id).await;
    alice.serve_key_request().await;
    bob.next("room:key").await;
    let texts: Vec<String> = (1..=6).map(|i| format!("message {i}")).collect();
    let mut sent = Vec::new();
    for text in &texts {
        sent.push(alice.send(chat_id, text).await);
    }

    let r = bob.history(chat_id, "").await;
    assert_eq!(r.assert_ok()["has_more"], false);
    let all = ids(&r.body["messages"]);
    assert_eq!(all.len(), 8);
    assert_eq!(&all[2..], &sent[..]);
    let pattern_ok = |id: &str| {
        let (ms, seq) = id.split_once('-').unwrap();
        [ms, seq]
            .iter()
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && (n.len() == 1 || !n.starts_with('0')))
    };
    assert!(all.iter().all(|id| pattern_ok(id)), "{all:?}");
    assert!(all.windows(2).all(|w| id_key(&w[0]) < id_key(&w[1])), "{all:?}");
    let messages = r.body["messages"].as_array().unwrap();
    for (message, text) in messages[2..].iter().zip(&texts) {
        assert_eq!(keys(message), CHAT_MESSAGE_FIELDS);
        assert_eq!(bob.decrypt(message), *text);
    }

    // From the newest end.
    assert_eq!(page(&bob, chat_id, "limit=3".into()).await, (all[5..8].to_vec(), true));
    assert_eq!(
        page(&bob, chat_id, format!("before={}&limit=3", all[5])).await,
        (all[2..5].to_vec(), true)
    );
    assert_eq!(
        page(&bob, chat_id, format!("before={}&limit=3", all[2])).await,
        (all[0..2].to_vec(), false)
    );
    assert_eq!(
        page(&bob, chat_id, format!("before={}", all[7])).await,
        (all[0..7].to_vec(), false)
    );
    assert_eq!(page(&bob, chat_id, format!("before={}", all[0])).await, (vec![], false));
    // After an id, from the oldest end.
    assert_eq!(
        page(&bob, chat_id, format!("after={}&limit=3", all[1])).await,
        (all[2..5].to_vec(), true)
    );
    assert_eq!(
        page(&bob, chat_id, format!("after={}&limit=3", all[4])).await,
        (all[5..8].to_vec(), false)
    );
    assert_eq!(page(&bob, chat_id, format!("after={}", all[7])).await, (vec![], false));
    assert_eq!(
        page(&bob, chat_id, "after=0-0&limit=1".into()).await,
        (all[0..1].to_vec(), true)
    );
    assert_eq!(page(&bob, chat_id, "limit=100".into()).await, (all.clone(), false));
    // Ids that name no message work as bounds.
    assert_eq!(page(&bob, chat_id, "before=1-0".into()).await, (vec![], false));
    assert_eq!(
        page(
            &bob,
            chat_id,
            "before=9223372036854775807-9223372036854775807&limit=2".into()
        )
        .await,
        (all[6..8].to_vec(), true)
    );
    let (ms, seq) = all[4].split_once('-').unwrap();
    let between = format!("{ms}-{}", seq.parse::<u64>().unwrap() + 1);
    if !all.contains(&between) {
        let (got, _) = page(&bob, chat_id, format!("before={between}&limit=1")).await;
        assert_eq!(got, [all[4].clone()]);
    }

    // No joined room is needed to read, and a timed-out member may read.
    bob.leave(chat_id).await;
    t.time_out(bob_id, 600).await;
    assert_eq!(page(&bob, chat_id, "limit=2".into()).await, (all[6..8].to_vec(), true));
});

/// One page of history as (ids, has_more).
async fn page(device: &Device<'_>, chat_id: i64, query: String) -> (Vec<String>, bool) {
    let r = device.history(chat_id, &query).await;
    r.assert_ok();
    (ids(&r.body["messages"]), r.body["has_more"].as_bool().unwrap())
}

both_backends!(history_validation_and_access, |t: TestApp| async move {
    let p = People::new(&t).await;
    let (chat_id, _, (_, bob_token)) = alice_and_bob(&p).await;
    let (_, carol_token) = p.at("carol", 0).await;
    let path = chat_path(chat_id, "history");
    let get = |token: &str, query: &str| {
        let request = t.get(&format!("{path}?{query}")).cookie(token);
        request.send()
    };

    t.get(&path).send().await.assert_error(401, "ERR_AUTH_REQUIRED");
    let r = t.get("/v1/portal/chats/x/history").cookie(&bob_token).send().await;
    assert_validation(&r, "chat_id", "chat_id must be a positive integer");

    let r = get(&bob_token, "before=1-0&after=0-0").await;
    assert_validation(&r, "after", "after cannot be combined with before");
    for bad in [
        "abc",
        "1",
        "1-",
        "-1-0",
        "01-0",
        "1-01",
        "1-2-3",
        "1.5-0",
        "+1-0",
        "9223372036854775808-0",
        "1-9223372036854775808",
    ] {
        let r = get(&bob_token, &format!("before={bad}")).await;
        assert_validation(&r, "before", "before must be a message id");
        let r = get(&bob_token, &format!("after={bad}")).await;
        assert_validation(&r, "after", "after must be a message id");
    }
    for bad in ["0", "101", "-1"] {
        let r = get(&bob_token, &format!("limit={bad}")).await;
        assert_validation(&r, "limit", "limit must be between 1 and 100");
    }
    let r = get(&bob_token, "limit=x").await;
    r.assert_error(400, "ERR_VALIDATION");
    assert_eq!(r.body["field"], "limit");

    // Validation comes before visibility; a chat Carol may not see does not exist for her.
    let r = get(&carol_token, "before=abc").await;
    assert_validation(&r, "before", "before must be a message id");
    let r = get(&carol_token, "").await;
    assert_error_fields(&r, 404, "ERR_CHAT_NOT_FOUND", &[]);
    let r = t.get("/v1/portal/chats/999999/history").cookie(&bob_token).send().await;
    assert_error_fields(&r, 404, "ERR_CHAT_NOT_FOUND", &[]);

    // A member who never joined the room reads the (empty) history.
    let r = get(&bob_token, "").await;
    assert_eq!(r.assert_ok(), &json!({"messages": [], "has_more": false}));
});
