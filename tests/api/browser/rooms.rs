//! The shared browser in real browsers (92-browser-rooms): the chat's owner starts its machine from
//! the chat page, a member's page draws the screen, the owner takes control and clicks a link on the
//! screen, the member sees the new page, and both panels say when it stopped; and an Admin starts
//! and stops a machine from the console. The machine is the process engine's Chromium, reaching
//! only a page server of the test's own.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::json;

use super::chats::{assert_fits, create_chat, invite_link, join_by_link, key_ready};
use super::Site;
use crate::common::browser::{self, Browser};
use crate::common::TestApp;
use crate::rooms_browser::serve_pages;

/// Starting Chromium for the machine takes a while beside two test browsers on a busy machine.
const SLOW: Duration = Duration::from_secs(60);

/// The server's settings for machines on the process engine (as root: no sandbox), with a small
/// viewport, and the page server the one inner site the machine may reach.
fn machine_env(pages: Option<SocketAddr>) -> Vec<(String, String)> {
    let (chromium, _) = browser::binaries().expect("checked by the caller");
    let mut env = vec![
        ("PORTAL_BROWSER__ENGINE".to_owned(), "process".to_owned()),
        (
            "PORTAL_BROWSER__CHROMIUM_PATH".to_owned(),
            chromium.display().to_string(),
        ),
        ("PORTAL_BROWSER__PROCESS__NO_SANDBOX".to_owned(), "true".to_owned()),
        ("PORTAL_BROWSER__VIEWPORT".to_owned(), "640x480".to_owned()),
    ];
    if let Some(pages) = pages {
        env.push(("PORTAL_BROWSER__EGRESS__ALLOW_HOSTS".to_owned(), pages.to_string()));
    }
    env
}

/// The site with machines enabled, or `None` when there is no browser (skipped as every browser
/// test is).
async fn site_with_machines(t: TestApp, pages: Option<SocketAddr>) -> Option<Site> {
    browser::binaries()?;
    let env = machine_env(pages);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Site::start(t, &env).await
}

/// Waits up to `SLOW` until the element matching `css` shows `needle`.
async fn wait_long(browser: &Browser, css: &str, needle: &str) {
    let deadline = Instant::now() + SLOW;
    loop {
        if browser.text_of(css).await.is_some_and(|text| text.contains(needle)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{css} never showed \"{needle}\"; the page shows:\n{}",
            browser.page_text().await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the screen's canvas holds a drawn frame that is not one flat colour; its number.
async fn screen_drawn(browser: &Browser) -> u64 {
    let deadline = Instant::now() + SLOW;
    loop {
        let seen = browser
            .run(
                "const c = document.querySelector('#browser-screen');
                 if (!c || !c.dataset.frame) return null;
                 const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                 let low = 255, high = 0;
                 for (let i = 0; i < d.length; i += 4 * 37) { low = Math.min(low, d[i], d[i + 1], d[i + 2]); high = Math.max(high, d[i], d[i + 1], d[i + 2]); }
                 return {frame: Number(c.dataset.frame), spread: high - low, width: c.width, height: c.height};",
                json!([]),
            )
            .await;
        if let Some(frame) = seen["frame"].as_u64() {
            if seen["spread"].as_u64().unwrap_or(0) > 40 {
                assert_eq!(
                    (seen["width"].as_u64(), seen["height"].as_u64()),
                    (Some(640), Some(480)),
                    "{seen}"
                );
                return frame;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the screen was never drawn ({seen}); the page shows:\n{}",
            browser.page_text().await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

both_backends!(
    the_owner_starts_a_shared_browser_drives_it_and_a_member_watches,
    |t: TestApp| async move {
        let pages = serve_pages().await;
        let Some(site) = site_with_machines(t, Some(pages)).await else {
            return;
        };
        site.member("alice", "1001", "2");
        site.member("bob", "1002", "0");
        let alice = site.browser().await;
        let bob = site.browser().await;
        site.log_in(&alice, "alice", "1001").await;
        site.log_in(&bob, "bob", "1002").await;

        let chat_id = create_chat(&alice, "Cobrowsing").await;
        let owner = site.owner_session().await;
        site.post_as(
            &owner,
            &format!("/v1/admin/chats/{chat_id}/update"),
            json!({"browser_config": {"browser": "chromium", "start_url": format!("http://{pages}/one"), "kiosk": false}}),
        )
        .await;
        let link = invite_link(&alice, chat_id).await;
        join_by_link(&bob, &link, "Cobrowsing").await;
        key_ready(&bob).await;
        alice.goto(&format!("/#/chats/{chat_id}")).await;
        key_ready(&alice).await;

        // Only the owner is offered the switch; both see that nothing runs.
        for person in [&alice, &bob] {
            person
                .wait_for_text("#browser-status", "The shared browser is not running")
                .await;
        }
        assert!(bob
            .text_of("main .browser-switches")
            .await
            .unwrap_or_default()
            .is_empty());

        alice.press("Start the browser").await;
        for person in [&alice, &bob] {
            wait_long(person, "#browser-status", "The shared browser is running").await;
        }
        let first = screen_drawn(&bob).await;
        assert!(first >= 1);
        wait_long(&bob, "#browser-title", "One").await;
        wait_long(&bob, "#browser-viewers", "alice").await;
        assert!(bob.value_of("#browser-address").await.ends_with("/one"));

        // Before taking control the owner is told that the room is not end-to-end encrypted.
        alice.press("Take control").await;
        alice.wait_for_text("#browser-notice", "not end-to-end encrypted").await;
        alice.press("I understand").await;
        alice.wait_for_text("#browser-control", "You control the browser").await;
        bob.wait_for_text("#browser-control", "alice controls the browser")
            .await;
        wait_long(&alice, "#browser-title", "One").await;

        // A click in the middle of the screen lands on the page's link to the second page.
        alice.click("#browser-screen").await;
        wait_long(&bob, "#browser-title", "Two").await;
        assert!(bob.value_of("#browser-address").await.ends_with("/two"));
        assert!(screen_drawn(&bob).await > first);

        // On a phone the panel sits above the chat and fits the width.
        bob.resize(390, 844).await;
        assert_fits(&bob).await;
        bob.screenshot_for_docs("chat-browser-phone").await;
        alice
            .run(
                "document.querySelector('#browser-viewers').scrollIntoView({block: 'end'});",
                json!([]),
            )
            .await;
        alice.screenshot_for_docs("chat-browser").await;

        alice.press("Stop the browser").await;
        for person in [&alice, &bob] {
            wait_long(person, "#browser-status", "The shared browser stopped").await;
        }
        bob.wait_for_text("#browser-status", "alice stopped it").await;
        // The chat goes on beside it.
        bob.wait_for_text("#room-status", "end-to-end encrypted").await;
    }
);

both_backends!(
    an_admin_starts_and_stops_a_machine_from_the_console,
    |t: TestApp| async move {
        let Some(site) = site_with_machines(t, None).await else {
            return;
        };
        site.member("admin", "5001", "2");
        let browser = site.browser().await;
        site.log_in(&browser, "admin", "5001").await;
        browser.goto("/#/console/chats").await;
        browser.type_into("input[name=name]", "Watch party").await;
        browser.type_into("input[name=slug]", "watch-party").await;
        browser.press("Create official chat").await;
        browser.wait_for_text("main .result", "Watch party created").await;
        browser.goto("/#/console/chats").await;
        let deadline = Instant::now() + browser::PATIENCE;
        loop {
            let clicked = browser
            .run(
                "const a = [...document.querySelectorAll('main a[href^=\"#/console/chats/\"]')].find(a => a.textContent.includes('Watch party'));
                 if (a) { a.click(); return true; } return false;",
                json!([]),
            )
            .await;
            if clicked == true {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no link to the chat:\n{}",
                browser.page_text().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        browser.wait_for_text("h1", "Chat Watch party").await;
        browser
            .wait_for_text("#chat-machine", "The browser is not running")
            .await;

        browser.press("Start the browser").await;
        wait_long(&browser, "#action-result", "Chat 'Watch party' started").await;
        let machine = browser.wait_for_text("#chat-machine", "Running since").await;
        assert!(machine.contains("process"), "{machine}");
        assert!(machine.contains("the console (admin route)"), "{machine}");

        browser.press("Stop the browser").await;
        wait_long(&browser, "#action-result", "Chat 'Watch party' stopped").await;
        browser
            .wait_for_text("#chat-machine", "The browser is not running")
            .await;
    }
);
