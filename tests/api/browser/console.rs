//! The staff console in the page: what each rank is shown, acts with their audit rows, the end of
//! a banned person's session in their own browser, Owner-only controls, and screenshots of the
//! main pages (written to `docs/screenshots/` when `PORTAL_SCREENSHOTS` is set).

use std::path::PathBuf;

use serde_json::json;

use super::{browser_test, Site};
use crate::common::browser::Browser;
use crate::common::TestApp;

/// Whether an element matching `css` is on the page now.
async fn present(browser: &Browser, css: &str) -> bool {
    browser
        .run("return document.querySelector(arguments[0]) !== null;", json!([css]))
        .await
        == true
}

/// Clicks the first link into the console whose text contains `words` (the test reaches pages as
/// a person does), waiting for it: the page before may still show other links with those words.
async fn follow(browser: &Browser, words: &str) {
    let deadline = std::time::Instant::now() + crate::common::browser::PATIENCE;
    loop {
        let clicked = browser
            .run(
                "const a = [...document.querySelectorAll('main a[href^=\"#/console/\"]')].find(a => a.textContent.includes(arguments[0]));
                 if (a) { a.click(); return true; } return false;",
                json!([words]),
            )
            .await;
        if clicked == true {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no console link with \"{words}\"; the page shows:\n{}",
            browser.page_text().await
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

browser_test!(
    an_admin_bans_a_user_the_audit_log_shows_it_and_their_session_ends,
    |site: Site| async move {
        site.member("admin", "2001", "2");
        let alice = site.member("alice", "2002", "0");
        let hers = site.browser().await;
        site.log_in(&hers, "alice", "2002").await;
        // A member has no console entry, and the console refuses them in words.
        assert!(!hers.text_of("header nav").await.unwrap().contains("Console"));
        hers.goto("/#/console").await;
        hers.wait_for_text("#console-refused", "for staff").await;
        hers.goto("/#/").await;
        hers.wait_for_text("h1", "Home").await;

        let staff = site.browser().await;
        site.log_in(&staff, "admin", "2001").await;
        staff.wait_for_text("header nav", "Console").await;
        staff.goto("/#/console/users?q=ali").await;
        staff.wait_for_text("h1", "Users").await;
        follow(&staff, "alice").await;
        staff.wait_for_text("h1", "User alice").await;
        staff.wait_for_text("#user-state", "Active").await;

        // A refusal is said next to the field that caused it; nothing was done.
        staff.press("Ban").await;
        staff
            .wait_for_text("[data-act=Ban] [data-error-for=reason]", "Reason must be")
            .await;
        staff
            .type_into("[data-act=Ban] input[name=reason]", "Ban evasion")
            .await;
        staff.press("Ban").await;
        staff.wait_for_text("#action-result", "banned").await;
        staff.wait_for_text("#user-state", "Banned").await;
        let row = staff.wait_for_text("#user-audit tbody tr", "User ban").await;
        assert!(row.contains("admin") && row.contains("Ban evasion"), "{row}");
        assert_eq!(staff.focused().await.0, "p", "focus moves to the result");

        // The audit log lists it, filtered by the ban's event and linking to both people.
        staff.goto("/#/console/audit?event_type=USER_BAN").await;
        let log = staff.wait_for_text("main table", "User ban").await;
        assert!(log.contains("Ban evasion"), "{log}");
        assert!(present(&staff, &format!("main table a[href='#/console/users/{alice}']")).await);

        // Her browser learns at once that her session is over.
        hers.wait_for_text("h1", "Log in").await;
        hers.wait_for_text("#session-ended", "Your session has ended").await;
    }
);

browser_test!(
    a_moderator_is_shown_only_the_acts_of_their_rank,
    |site: Site| async move {
        site.member("mod", "3001", "1");
        let bob = site.member("bob", "3002", "0");
        let browser = site.browser().await;
        site.log_in(&browser, "mod", "3001").await;
        browser.goto(&format!("/#/console/users/{bob}")).await;
        browser.wait_for_text("h1", "User bob").await;
        browser.find("[data-act=Warn]").await;
        assert!(present(&browser, "[data-act='Time out']").await);
        for admin_only in [
            "Ban",
            "Set level",
            "Delete user",
            "Grant subscription",
            "Mute everywhere",
        ] {
            assert!(
                !present(&browser, &format!("[data-act='{admin_only}']")).await,
                "{admin_only} is shown to a Moderator"
            );
        }
        let nav = browser.text_of(".console-nav").await.unwrap();
        assert!(
            nav.contains("Audit log") && !nav.contains("Bots") && !nav.contains("Chats"),
            "{nav}"
        );

        // What the Moderator may do works, and its audit row shows.
        browser
            .type_into("[data-act=Warn] input[name=reason]", "Mind the rules")
            .await;
        browser.press("Warn").await;
        browser.wait_for_text("#action-result", "warned").await;
        browser.wait_for_text("#user-audit", "Mind the rules").await;

        // The page follows the API: the Admin-only bot list refuses this rank in the page.
        browser.goto("/#/console/bots").await;
        browser.wait_for_text("#console-refused", "higher rank").await;
    }
);

browser_test!(
    an_admin_cannot_open_the_official_bot_controls,
    |site: Site| async move {
        site.member("admin", "4001", "2");
        let browser = site.browser().await;
        site.log_in(&browser, "admin", "4001").await;
        browser.goto("/#/console/bots").await;
        follow(&browser, "Portal Login").await;
        browser.wait_for_text("#bot-type", "Official").await;
        browser
            .wait_for_text("#bot-controls-refused", "only Owners manage them")
            .await;
        assert!(!present(&browser, "[name=bot_type]").await);
        let text = browser.page_text().await;
        assert!(
            !text.contains("Regenerate key") && !text.contains("Delete bot"),
            "{text}"
        );

        // The Owner gets the controls of the same bot.
        let owner = site.browser().await;
        site.log_in(&owner, "owner", "1").await;
        owner.goto(&browser.hash().await.replacen('#', "/#", 1)).await;
        owner.wait_for_text("#bot-type", "Official").await;
        owner.wait_for_text("main", "Regenerate key").await;
    }
);

browser_test!(an_owner_creates_and_transfers_a_chat, |site: Site| async move {
    let admin_id = site.member("admin", "5001", "2");
    let browser = site.browser().await;
    site.log_in(&browser, "owner", "1").await;
    browser.goto("/#/console/chats").await;
    browser.type_into("input[name=name]", "Town square").await;
    browser.type_into("input[name=slug]", "town-square").await;
    browser.press("Create official chat").await;
    browser.wait_for_text("main .result", "Town square created").await;
    follow(&browser, "Town square").await;
    browser.wait_for_text("h1", "Chat Town square").await;
    browser.wait_for_text("#chat-owner", "owner").await;

    browser
        .type_into("input[name=new_owner_id]", &admin_id.to_string())
        .await;
    browser.press("Transfer chat").await;
    browser.wait_for_text("#action-result", "transferred").await;
    browser.wait_for_text("#chat-owner", "admin").await;

    browser.goto("/#/console/audit?event_type=CHAT_TRANSFER").await;
    let log = browser.wait_for_text("main table", "Chat transfer").await;
    assert!(log.contains(&format!("new owner id: {admin_id}")), "{log}");
});

browser_test!(
    the_console_pages_draw_without_errors_on_a_phone_and_a_wide_screen,
    |site: Site| async move {
        site.member("carol", "6001", "0");
        let folder = std::env::var_os("PORTAL_SCREENSHOTS").map(PathBuf::from);
        for (width, height, suffix) in [(1280, 900, "wide"), (360, 740, "phone")] {
            let browser = Browser::open_sized(site.server.addr, width, height).await.unwrap();
            site.log_in(&browser, "owner", "1").await;
            let pages = [
                ("/#/console", "Console", "#health-status", "dashboard"),
                ("/#/console/users", "Users", "#user-results table", "users"),
                ("/#/console/users/2", "User", "#user-state", "user"),
                ("/#/console/audit", "Audit log", "main table", "audit"),
                (
                    "/#/console/moderation",
                    "Moderation records",
                    "main .paged",
                    "moderation",
                ),
                ("/#/console/bots", "Bots", "main table", "bots"),
                ("/#/console/chats", "Chats", "main .paged", "chats"),
                (
                    "/#/console/matchmaking",
                    "Matchmaking",
                    "#match-stats dl",
                    "matchmaking",
                ),
                (
                    "/#/console/notifications",
                    "Notifications",
                    "#notification-preview",
                    "notifications",
                ),
            ];
            for (path, heading, ready, name) in pages {
                browser.goto(path).await;
                browser.wait_for_text("h1", heading).await;
                browser.find(ready).await;
                let errors = browser
                    .run(
                        "return [...document.querySelectorAll('main .error, main [role=alert]')].map(e => e.textContent);",
                        json!([]),
                    )
                    .await;
                assert_eq!(errors, json!([]), "{path}");
                // Nothing is wider than the window.
                let overflow = browser
                    .run(
                        "return document.documentElement.scrollWidth > window.innerWidth;",
                        json!([]),
                    )
                    .await;
                assert_eq!(overflow, false, "{path} is wider than {width} px");
                if let Some(folder) = &folder {
                    browser
                        .screenshot(&folder.join(format!("console-{name}-{suffix}.png")))
                        .await;
                }
            }
        }
    }
);
