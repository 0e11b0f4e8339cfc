//! The chat pages in real browsers: people in one private chat exchanging end-to-end-encrypted
//! messages (and the store holding only ciphertext), a kick that rotates the key away from the
//! kicked person, a stranger without an account matched with a member, and joining by an invite
//! link. Every browser is one person with their own cookie, device key and IndexedDB.

use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;

use super::{browser_test, Site};
use crate::common::browser::Browser;
use crate::common::TestApp;

/// Creates a private chat named `name` through the chat list; its id, with its room open.
pub(super) async fn create_chat(browser: &Browser, name: &str) -> i64 {
    browser.goto("/#/chats").await;
    // Typing starts once the page has drawn its list: the front then moves the focus to the
    // heading, which would take keystrokes away from a field typed into earlier.
    browser.wait_for_text("#owned-count", "You own").await;
    browser.type_into("input[name=name]", name).await;
    browser.press("Create chat").await;
    browser.wait_for_text("h1", name).await;
    let hash = browser.hash().await;
    hash.trim_start_matches("#/chats/")
        .parse()
        .unwrap_or_else(|_| panic!("a chat address: {hash}"))
}

/// The owner makes an invite of chat `chat_id` in the chat list and copies its link; the link's
/// path after the origin (`/#/invite/…`).
pub(super) async fn invite_link(owner: &Browser, chat_id: i64) -> String {
    owner.goto("/#/chats").await;
    let row = format!("li[data-chat-id=\"{chat_id}\"]");
    owner.press_within(&row, "Invites").await;
    owner.press_within(&row, "Create invite").await;
    owner.wait_for_text(&row, "Invite created").await;
    owner.press_within(&format!("{row} li[data-code]"), "Copy link").await;
    let link = owner.value_of(&format!("{row} li[data-code] input.invite-link")).await;
    assert!(link.starts_with(&owner.origin), "{link}");
    link[owner.origin.len()..].to_owned()
}

/// Opens the invite link and joins; ends in the chat's room.
pub(super) async fn join_by_link(browser: &Browser, link: &str, chat_name: &str) {
    assert!(link.starts_with("/#/invite/"), "{link}");
    browser.goto(link).await;
    browser.wait_for_text("h1", "You are invited to a chat").await;
    browser.press("Join the chat").await;
    browser
        .wait_for_text("#invite-result", &format!("You joined {chat_name}"))
        .await;
    browser.click("#open-joined-chat").await;
    browser.wait_for_text("h1", chat_name).await;
}

/// Waits until the room says this device holds the chat key.
pub(super) async fn key_ready(browser: &Browser) {
    browser.wait_for_text("#room-status", "end-to-end encrypted").await;
}

async fn send(browser: &Browser, text: &str) {
    browser.type_into("#message-input", text).await;
    browser.press("Send").await;
    browser.wait_for_text("#messages", text).await;
}

/// The page is no wider than the window.
pub(super) async fn assert_fits(browser: &Browser) {
    let widths = browser
        .run(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            serde_json::json!([]),
        )
        .await;
    assert!(
        widths[0].as_i64() <= widths[1].as_i64(),
        "{widths} on {}",
        browser.hash().await
    );
}

/// The stored `(kind, content)` of every message of the chat.
async fn stored(t: &TestApp, chat_id: i64) -> Vec<(String, String)> {
    let mut conn = t.conn().await;
    sqlx::query_as("SELECT kind, content FROM chat_messages WHERE chat_id = $1 ORDER BY id_ms, id_seq")
        .bind(chat_id)
        .fetch_all(&mut *conn)
        .await
        .unwrap()
}

/// A version-2 bundle of the web front: `{"v":2,"epoch":E,"ct":…}` whose `ct` is a 12-byte nonce,
/// the plaintext padded to 32-byte blocks, and the 16-byte tag.
fn assert_web_bundle(content: &str) {
    let bundle: Value = serde_json::from_str(content).unwrap_or_else(|_| panic!("not JSON: {content}"));
    let keys: Vec<&String> = bundle.as_object().expect("an object").keys().collect();
    assert_eq!(keys.len(), 3, "{content}");
    assert_eq!(bundle["v"], 2, "{content}");
    assert!(bundle["epoch"].as_i64().is_some_and(|e| e >= 1), "{content}");
    let ct = base64::engine::general_purpose::STANDARD
        .decode(bundle["ct"].as_str().expect("ct"))
        .expect("base64 ct");
    assert!(
        ct.len() >= 60 && (ct.len() - 12 - 16).is_multiple_of(32),
        "ct of {} bytes",
        ct.len()
    );
}

browser_test!(
    two_members_exchange_encrypted_messages_the_store_never_sees,
    |site: Site| async move {
        site.member("alice", "1001", "2");
        site.member("bob", "1002", "0");
        let alice = site.browser().await;
        let bob = site.browser().await;
        site.log_in(&alice, "alice", "1001").await;
        site.log_in(&bob, "bob", "1002").await;

        let chat_id = create_chat(&alice, "book-club").await;
        key_ready(&alice).await;
        let link = invite_link(&alice, chat_id).await;
        alice.goto(&format!("/#/chats/{chat_id}")).await;
        key_ready(&alice).await;
        join_by_link(&bob, &link, "book-club").await;
        key_ready(&bob).await;
        // Each sees the other in the room's member list.
        alice.wait_for_text("#room-members", "bob").await;
        bob.wait_for_text("#room-members", "bob (you)").await;

        let from_alice = "Meet at the library at six, bring the green book";
        let from_bob = "I will be there — with the green book ✓";
        send(&alice, from_alice).await;
        bob.wait_for_text("#messages", from_alice).await;
        send(&bob, from_bob).await;
        alice.wait_for_text("#messages", from_bob).await;
        let seen = bob.text_of("#messages").await.unwrap();
        assert!(seen.contains("alice"), "the sender is named: {seen}");
        alice.screenshot_for_docs("chat-room").await;

        // A reload reads the history again with the key kept in the browser.
        bob.reload().await;
        bob.wait_for_text("#messages", from_alice).await;
        bob.wait_for_text("#messages", from_bob).await;

        let rows = stored(&site.t, chat_id).await;
        let user_rows: Vec<&String> = rows.iter().filter(|(kind, _)| kind == "user").map(|(_, c)| c).collect();
        assert_eq!(user_rows.len(), 2, "{rows:?}");
        for (_, content) in &rows {
            for secret in [from_alice, from_bob, "library", "green book"] {
                assert!(!content.contains(secret), "plaintext stored: {content}");
            }
        }
        for content in user_rows {
            assert_web_bundle(content);
        }
    }
);

browser_test!(
    a_kick_rotates_the_key_away_from_the_kicked_member,
    |site: Site| async move {
        site.member("alice", "1001", "2");
        let bob_id = site.member("bob", "1002", "0");
        site.member("carol", "1003", "0");
        let alice = site.browser().await;
        let bob = site.browser().await;
        let carol = site.browser().await;
        site.log_in(&alice, "alice", "1001").await;
        site.log_in(&bob, "bob", "1002").await;
        site.log_in(&carol, "carol", "1003").await;

        let chat_id = create_chat(&alice, "night-owls").await;
        let link = invite_link(&alice, chat_id).await;
        alice.goto(&format!("/#/chats/{chat_id}")).await;
        key_ready(&alice).await;
        join_by_link(&bob, &link, "night-owls").await;
        join_by_link(&carol, &link, "night-owls").await;
        key_ready(&bob).await;
        key_ready(&carol).await;
        send(&alice, "Before the kick, everyone reads this").await;
        bob.wait_for_text("#messages", "Before the kick").await;
        carol.wait_for_text("#messages", "Before the kick").await;

        // The owner kicks bob from the member list.
        let bob_row = format!("#room-members li[data-user-id=\"{bob_id}\"]");
        alice.wait_for_text(&bob_row, "bob").await;
        alice.press_within(&bob_row, "Kick").await;
        bob.wait_for_text("#room-status", "You were removed from this chat")
            .await;
        carol.wait_for_text("#messages", "bob was kicked from the chat").await;
        alice.wait_for_text("#messages", "bob was kicked from the chat").await;
        let members = alice.text_of("#room-members").await.unwrap();
        assert!(!members.contains("bob"), "{members}");

        // After the rotation alice and carol hold the new key; bob does not.
        let after = "After the kick: the plan for friday is the old mill";
        send(&alice, after).await;
        carol.wait_for_text("#messages", after).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let bob_sees = bob.page_text().await;
        assert!(!bob_sees.contains("old mill"), "{bob_sees}");
        assert!(bob_sees.contains("Before the kick, everyone reads this"), "{bob_sees}");
        // A reload does not bring it back: the room refuses a kicked member of a private chat.
        bob.reload().await;
        bob.wait_for_text("#room-status", "cannot enter this chat").await;
        assert!(!bob.page_text().await.contains("old mill"));
    }
);

browser_test!(
    a_stranger_without_an_account_is_matched_with_a_member,
    |site: Site| async move {
        site.member("alice", "1001", "0");
        let alice = site.browser().await;
        site.log_in(&alice, "alice", "1001").await;
        alice.goto("/#/strangers").await;
        alice.click("input[name=interest][value=music]").await;
        alice.press("Find someone").await;
        alice
            .wait_for_text("#match-status", "Searching for someone who likes music")
            .await;

        let stranger = site.browser().await;
        stranger.goto("/#/strangers").await;
        stranger.press("Continue without an account").await;
        stranger.click("input[name=interest][value=music]").await;
        stranger.click("input[name=interest][value=books]").await;
        stranger.press("Find someone").await;
        stranger.wait_for_text("#match-status", "Matched with alice").await;
        let matched = alice.wait_for_text("#match-status", "(no account)").await;
        assert!(matched.contains("on music"), "{matched}");
        key_ready(&stranger).await;
        key_ready(&alice).await;

        send(&stranger, "hi from nowhere, what are you listening to").await;
        alice.wait_for_text("#messages", "hi from nowhere").await;
        send(&alice, "old vinyl, mostly jazz").await;
        stranger.wait_for_text("#messages", "mostly jazz").await;
        stranger.screenshot_for_docs("strangers").await;

        stranger.press("Leave chat").await;
        stranger
            .wait_for_text("#match-status", "The chat has ended. You left it.")
            .await;
        let ended = alice.wait_for_text("#match-status", "The chat has ended").await;
        assert!(ended.contains("left it"), "{ended}");
        alice.wait_for_text("#room-status", "The chat has ended").await;
        alice.find("#message-input:disabled").await;
    }
);

browser_test!(
    an_invite_link_joins_a_chat_and_it_appears_in_the_list,
    |site: Site| async move {
        site.member("alice", "1001", "2");
        site.member("bob", "1002", "0");
        let alice = site.browser().await;
        // Bob has a phone: the pages fit 360 px without scrolling sideways.
        let bob = Browser::open_sized(site.server.addr, 360, 780).await.unwrap();
        site.log_in(&alice, "alice", "1001").await;
        site.log_in(&bob, "bob", "1002").await;
        let chat_id = create_chat(&alice, "garden-club").await;
        let link = invite_link(&alice, chat_id).await;
        alice.screenshot_for_docs("chat-list").await;

        bob.goto("/#/chats").await;
        bob.wait_for_text("#chat-list", "You are in no chat yet").await;
        join_by_link(&bob, &link, "garden-club").await;
        key_ready(&bob).await;
        assert_fits(&bob).await;
        bob.goto("/#/chats").await;
        let row = format!("li[data-chat-id=\"{chat_id}\"]");
        let listed = bob.wait_for_text(&row, "garden-club").await;
        assert!(listed.contains("Owned by alice"), "{listed}");
        assert_fits(&bob).await;
        // The invite counts its use in the owner's list.
        alice.reload().await;
        alice.press_within(&row, "Invites").await;
        alice.wait_for_text(&format!("{row} li[data-code]"), "Uses: 1").await;
        // A member who is not the owner may leave; the chat is gone from their list.
        bob.press_within(&row, "Leave").await;
        bob.press_within(&row, "Yes, leave").await;
        bob.wait_for_text("#chat-list", "You are in no chat yet").await;
    }
);
