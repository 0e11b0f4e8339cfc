//! What happens to rooms when a person changes outside the chat (§8.5, §8.7): a user deleted by
//! staff, and a staff visitor of a private chat who loses the level that let them in.

use super::*;

both_backends!(
    a_deleted_member_leaves_no_messages_and_no_key,
    |t: TestApp| async move {
        let p = People::new(&t).await;
        let (chat_id, (alice_id, alice_token), (bob_id, bob_token)) = alice_and_bob(&p).await;
        let (_, owner_token) = p.at("owner", 3).await;
        let addr = t.listen().await;
        let mut alice = Device::ready(&t, addr, alice_id, &alice_token).await;
        alice.join(chat_id).await;
        alice.serve_key_request().await;
        let mut bob = Device::ready(&t, addr, bob_id, &bob_token).await;
        bob.join(chat_id).await;
        alice.serve_key_request().await;
        bob.next("room:key").await;
        let first = bob.send(chat_id, "one").await;
        let second = bob.send(chat_id, "two").await;
        alice.reads(chat_id, &["one", "two"]).await;
        alice.drain().await;

        // Staff delete Bob: his messages go with him, and the private chat rotates away from his key.
        let r = t
            .post_as(
                &owner_token,
                &format!("/v1/admin/users/{bob_id}/delete"),
                json!({"reason": "test"}),
            )
            .await;
        r.assert_ok();
        let deleted = alice.next("message:bulk_deleted").await;
        assert_eq!(deleted, json!({"chat_id": chat_id, "ids": [first, second]}));
        let rotated = alice.next("room:epoch_changed").await;
        assert_eq!(
            rotated,
            json!({"chat_id": chat_id, "epoch": 2, "reason": "access_lost"})
        );
        let request = alice.next("room:key_request").await;
        assert_eq!(request["generate"], true);
        assert_eq!(request["devices"], json!([alice.named()]));
        let r = alice.history(chat_id, "").await;
        let left: Vec<Value> = r.assert_ok()["messages"].as_array().unwrap().clone();
        assert!(left.iter().all(|m| m["type"] == "system"), "{left:?}");
    }
);

both_backends!(
    a_visitor_who_loses_admin_leaves_a_private_room,
    |t: TestApp| async move {
        let p = People::new(&t).await;
        let (chat_id, (alice_id, alice_token), _) = alice_and_bob(&p).await;
        let (_, owner_token) = p.at("owner", 3).await;
        let (admin_id, admin_token) = p.at("admin", 2).await;
        let addr = t.listen().await;
        let mut alice = Device::ready(&t, addr, alice_id, &alice_token).await;
        alice.join(chat_id).await;
        alice.serve_key_request().await;
        let mut admin = Device::ready(&t, addr, admin_id, &admin_token).await;
        let joined = admin.join(chat_id).await;
        assert_eq!(joined["members"][1]["membership"], "visitor");
        alice.serve_key_request().await;
        admin.next("room:key").await;
        alice.drain().await;
        admin.drain().await;

        // Demoted to Moderator, the admin may no longer see the private chat: out of its room, and
        // the key moves on without them.
        let r = t
            .post_as(
                &owner_token,
                &format!("/v1/admin/users/{admin_id}/permission"),
                json!({"level": 1, "reason": "test"}),
            )
            .await;
        r.assert_ok();
        assert_eq!(
            admin.next("room:kicked").await,
            json!({"chat_id": chat_id, "reason": "access_lost"})
        );
        let events = alice
            .expect_sequence(&["portal:key_removed", "room:members", "room:epoch_changed"])
            .await;
        assert_eq!(events[0]["user_id"], admin_id);
        assert_eq!(
            roster(&events[1]["members"]),
            json!([entry(alice_id, "owner", &[&alice])])
        );
        assert_eq!(events[2]["reason"], "access_lost");
    }
);
