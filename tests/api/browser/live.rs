//! What arrives without a reload, over the realtime connection: people coming online and leaving,
//! notifications, the hard mute, and the end of a session ended from another browser.

use serde_json::json;

use super::{browser_test, Site};
use crate::common::TestApp;

browser_test!(people_see_each_other_come_online_and_leave, |site: Site| async move {
    site.member("alice", "1001", "0");
    site.member("bob", "1002", "1");
    let alice = site.browser().await;
    site.log_in(&alice, "alice", "1001").await;
    alice.wait_for_text("#online-count", "1 person is online").await;
    alice.wait_for_text("#online", "alice").await;

    let bob = site.browser().await;
    site.log_in(&bob, "bob", "1002").await;
    // Bob's own page lists both; Alice's page hears of Bob without a reload.
    bob.wait_for_text("#online-count", "2 people are online").await;
    let listed = alice.wait_for_text("#online", "bob").await;
    assert!(listed.contains("Moderator"), "the rank the API sent is shown: {listed}");
    alice.wait_for_text("#online-count", "2 people are online").await;

    // Bob logs out: the header forgets him, and Alice sees him leave.
    bob.press("Log out").await;
    bob.wait_for_text("h1", "Log in").await;
    assert!(!bob.text_of("header").await.unwrap().contains("Signed in"));
    alice.wait_until_gone("#online", "bob").await;
    alice.wait_for_text("#online-count", "1 person is online").await;
});

browser_test!(notifications_arrive_live_and_are_marked_read, |site: Site| async move {
    let alice_id = site.member("alice", "1001", "0");
    let alice = site.browser().await;
    site.log_in(&alice, "alice", "1001").await;
    alice.wait_for_text("#unread-count", "No unread notifications").await;
    // The page is live before anything is sent.
    alice.wait_for_text("#online", "alice").await;

    // Someone moving through the header with the keyboard keeps their place when it is redrawn.
    alice
        .run("document.querySelector('nav a[href=\"#/users\"]').focus();", json!([]))
        .await;
    let owner = site.owner_session().await;
    for title in ["Maintenance tonight", "Welcome aboard"] {
        let body = json!({"user_id": alice_id, "title": title, "body": format!("{title}: details."), "type": "info"});
        site.post_as(&owner, "/v1/admin/notifications", body).await;
    }
    alice.wait_for_text("#notifications", "Maintenance tonight").await;
    alice.wait_for_text("#notifications", "Welcome aboard: details.").await;
    alice.wait_for_text("#unread-count", "2 unread notifications").await;
    alice.wait_for_text("#unread-badge", "2").await;
    assert_eq!(alice.focused().await, ("a".to_owned(), "People".to_owned()));

    alice.press("Mark read").await;
    alice.wait_for_text("#unread-count", "1 unread notification.").await;
    alice.press("Mark all read").await;
    alice.wait_for_text("#unread-count", "No unread notifications").await;
    alice.wait_for_page_text("1 notification marked read.").await;
    assert!(
        alice.text_of("#unread-badge").await.is_none(),
        "no badge with nothing unread"
    );

    // A reload asks the server: the marks were kept.
    alice.reload().await;
    alice.wait_for_text("#notifications", "Maintenance tonight").await;
    alice.wait_for_text("#unread-count", "No unread notifications").await;
});

browser_test!(the_hard_mute_banner_comes_and_goes_live, |site: Site| async move {
    let alice_id = site.member("alice", "1001", "0");
    let alice = site.browser().await;
    site.log_in(&alice, "alice", "1001").await;
    alice.wait_for_text("#online", "alice").await;
    assert!(alice.text_of("#mute-banner").await.unwrap().is_empty());

    let owner = site.owner_session().await;
    site.post_as(
        &owner,
        "/v1/portal/hard-mute",
        json!({"user_id": alice_id, "duration": 0}),
    )
    .await;
    alice
        .wait_for_text(
            "#mute-banner",
            "You are muted in every chat until a staff member lifts it",
        )
        .await;
    // It is part of the state a fresh page reads too.
    alice.goto("/#/sessions").await;
    alice.goto("/#/").await;
    alice.wait_for_text("#mute-banner", "muted in every chat").await;

    site.post_as(&owner, "/v1/portal/hard-unmute", json!({"user_id": alice_id}))
        .await;
    alice.wait_until_gone("#mute-banner", "muted").await;
});

browser_test!(
    a_session_ended_from_another_browser_notices_at_once,
    |site: Site| async move {
        site.member("alice", "1001", "0");
        let laptop = site.browser().await;
        site.log_in(&laptop, "alice", "1001").await;
        laptop.wait_for_text("#online", "alice").await;
        let phone = site.browser().await;
        site.log_in(&phone, "alice", "1001").await;

        phone.goto("/#/sessions").await;
        phone.wait_for_text("h2", "Active sessions (2)").await;
        phone.wait_for_text("#active-sessions", "This device").await;
        let listed = phone.text_of("#active-sessions").await.unwrap();
        assert_eq!(listed.matches("This device").count(), 1, "{listed}");
        assert!(listed.contains("Chrome on Linux"), "{listed}");
        assert!(listed.contains("Address 127.0.0.1"), "{listed}");
        phone.press("End this session").await;
        phone.wait_for_page_text("The session was ended.").await;
        phone.wait_for_text("h2", "Active sessions (1)").await;
        phone.wait_for_text("#past-sessions", "Ended from another device").await;

        // The laptop's socket is closed with 4001: it says so and asks for a login.
        laptop.wait_for_text("#session-ended", "Your session has ended").await;
        laptop.wait_for_text("h1", "Log in").await;
        assert!(!laptop.text_of("header").await.unwrap().contains("Signed in"));
    }
);

browser_test!(ending_every_other_session_keeps_this_one, |site: Site| async move {
    site.member("alice", "1001", "0");
    let first = site.browser().await;
    site.log_in(&first, "alice", "1001").await;
    let second = site.browser().await;
    site.log_in(&second, "alice", "1001").await;
    let third = site.browser().await;
    site.log_in(&third, "alice", "1001").await;

    third.goto("/#/sessions").await;
    third.wait_for_text("h2", "Active sessions (3)").await;
    third.press("End all 2 other sessions").await;
    third.wait_for_page_text("2 sessions ended.").await;
    third.wait_for_text("h2", "Active sessions (1)").await;
    for ended in [&first, &second] {
        ended.wait_for_text("#session-ended", "Your session has ended").await;
    }
    third.goto("/#/").await;
    third.wait_for_text("#whoami", "alice").await;
});

browser_test!(
    the_page_says_when_live_updates_are_lost_and_comes_back,
    |site: Site| async move {
        let alice_id = site.member("alice", "1001", "0");
        let mut site = site;
        let alice = site.browser().await;
        site.log_in(&alice, "alice", "1001").await;
        alice.wait_for_text("#online", "alice").await;
        assert_eq!(alice.text_of("#connection-status").await.unwrap(), "");

        site.server.kill();
        alice
            .wait_for_text("#connection-status", "Live updates lost — reconnecting…")
            .await;
        alice.wait_for_text("#online-note", "Live updates are paused").await;
        // A page that needs the server says so in words, and the rest keeps working.
        alice.goto("/#/sessions").await;
        alice
            .wait_for_text(
                "main",
                "The server cannot be reached. Check your connection and try again.",
            )
            .await;

        site.server.restart().await;
        alice.goto("/#/").await;
        alice.wait_until_gone("#connection-status", "reconnecting").await;
        alice.wait_for_text("#online", "alice").await;
        assert!(alice.text_of("#online-note").await.unwrap().is_empty());
        // Events flow on the new connection.
        let owner = site.owner_session().await;
        let body =
            json!({"user_id": alice_id, "title": "Back online", "body": "The server restarted.", "type": "info"});
        site.post_as(&owner, "/v1/admin/notifications", body).await;
        alice.wait_for_text("#notifications", "Back online").await;
    }
);
