//! Chats in the page: the list (official first), creating a private chat when the API allows it,
//! invites made, copied and revoked, joining by an invite link (through the login page when
//! signed out), and leaving.

use serde_json::json;

use super::{browser_test, Site};
use crate::common::TestApp;

browser_test!(
    a_private_chat_is_created_shared_by_invite_joined_and_left,
    |site: Site| async move {
        site.member("ada", "2001", "2");
        site.member("bob", "1002", "0");
        let owner = site.owner_session().await;
        site.post_as(&owner, "/v1/admin/chats", json!({"name": "General", "slug": "general"}))
            .await;

        // Bob may not start a private chat: the API says why, next to the form.
        let bob = site.browser().await;
        site.log_in(&bob, "bob", "1002").await;
        bob.goto("/#/chats").await;
        bob.wait_for_text("#chats", "General").await;
        bob.type_into("input[name=name]", "bobs-room").await;
        bob.press("Create chat").await;
        bob.wait_for_page_text("Starting a private chat needs an active subscription.")
            .await;

        // Ada (an Admin) may; her chat comes after the official one.
        let ada = site.browser().await;
        site.log_in(&ada, "ada", "2001").await;
        ada.goto("/#/chats").await;
        ada.type_into("input[name=name]", "Movie night").await;
        ada.press("Create chat").await;
        ada.wait_for_page_text("Chat \"Movie night\" created.").await;
        let listed = ada.wait_for_text("#chats", "Movie night").await;
        assert!(
            listed.find("General").unwrap() < listed.find("Movie night").unwrap(),
            "{listed}"
        );
        assert!(listed.contains("Private"), "{listed}");

        // An invite for two uses; its link is shown to be sent on.
        let chat = r#"[data-chat-id]:last-child"#;
        ada.run(
            "document.querySelectorAll('[data-chat-id]')[1].querySelector('button').click();",
            json!([]),
        )
        .await;
        ada.wait_for_text(chat, "No active invites.").await;
        ada.type_into("input[name=max_uses]", "2").await;
        ada.press("Create invite").await;
        let invite = ada.wait_for_text(".invite-list", "used 0 of 2 times").await;
        let link = invite
            .lines()
            .find(|l| l.contains("/#/invite/"))
            .expect("the link")
            .trim()
            .to_owned();
        assert!(
            link.starts_with(&format!("http://{}/#/invite/", site.server.addr)),
            "{link}"
        );
        ada.press("Copy link").await;
        // Copied, or (where the browser gives no clipboard) selected for copying by hand.
        let said = ada.wait_for_text(chat, "link").await;
        assert!(
            said.contains("Link copied.") || said.contains("The link is selected"),
            "{said}"
        );

        // A signed-out visitor follows the link: the login page, then back to the invite.
        site.member("carol", "1003", "0");
        let carol = site.browser().await;
        carol.goto(&link[link.find("/#/").unwrap()..]).await;
        carol.wait_for_text("h1", "Log in").await;
        assert!(
            carol.hash().await.contains("next=%2Finvite%2F"),
            "{}",
            carol.hash().await
        );
        let code = site.ask_for_code(&carol, "carol", "1003").await;
        carol.type_into("input[name=code]", &code).await;
        carol.press("Log in").await;
        carol.wait_for_text("h1", "Join a chat").await;
        carol.press("Join the chat").await;
        carol.wait_for_page_text("You joined Movie night.").await;
        carol.goto("/#/chats").await;
        carol.wait_for_text("#chats", "Movie night").await;
        ada.reload().await;
        ada.wait_for_text("#chats", "Movie night").await;
        ada.run(
            "document.querySelectorAll('[data-chat-id]')[1].querySelector('button').click();",
            json!([]),
        )
        .await;
        ada.wait_for_text(".invite-list", "used 1 of 2 times").await;

        // Carol leaves: the private chat is no longer hers to see.
        carol
            .run(
                "[...document.querySelectorAll('[data-chat-id]')].find(li => li.textContent.includes('Movie night'))
               .querySelectorAll('button')[1].click();",
                json!([]),
            )
            .await;
        carol.wait_until_gone("#chats", "Movie night").await;

        // Ada revokes the invite: the link now says it no longer works.
        ada.press("Revoke").await;
        ada.wait_for_text(chat, "No active invites.").await;
        bob.goto(&link[link.find("/#/").unwrap()..]).await;
        bob.press("Join the chat").await;
        bob.wait_for_page_text("This invite does not exist, has expired or has been used up.")
            .await;
    }
);
