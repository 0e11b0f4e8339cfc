//! The member pages: a user's page as the API shows it to each audience, my account, and a tour of
//! every page from a 360-px phone to a wide screen (which also takes the README's screenshots when
//! `PORTAL_SCREENSHOTS=1`).

use std::path::PathBuf;

use serde_json::json;

use super::{browser_test, Site};
use crate::common::browser::Browser;
use crate::common::TestApp;

browser_test!(
    a_users_page_shows_each_viewer_what_the_api_gives_them,
    |site: Site| async move {
        let alice_id = site.member("alice", "1001", "0");
        site.member("ada", "2001", "2");
        let alice = site.browser().await;
        site.log_in(&alice, "alice", "1001").await;
        // An ended session for the Owner's view.
        alice.press("Log out").await;
        alice.wait_for_text("h1", "Log in").await;
        site.log_in(&alice, "alice", "1001").await;
        let owner = site.owner_session().await;
        site.post_as(
            &owner,
            &format!("/v1/admin/users/{alice_id}/warn"),
            json!({"reason": "Spamming in chat"}),
        )
        .await;

        // A User sees the public card of anyone.
        alice.goto("/#/users/1").await;
        alice.wait_for_text("h1", "owner").await;
        let page = alice.wait_for_text("main", "Plan: Basic").await;
        for staff_only in ["Moderation history", "Linked platforms", "Rank", "Past sessions"] {
            assert!(!page.contains(staff_only), "a User sees {staff_only}:\n{page}");
        }

        // An Admin sees the elevated view of a User, without sessions.
        let ada = site.browser().await;
        site.log_in(&ada, "ada", "2001").await;
        ada.goto(&format!("/#/users/{alice_id}")).await;
        ada.wait_for_text("h1", "alice").await;
        let page = ada.wait_for_text("main", "Moderation history").await;
        assert!(page.contains("Spamming in chat"), "{page}");
        assert!(page.contains("Warning"), "{page}");
        assert!(page.contains("id 1001"), "{page}");
        assert!(!page.contains("Past sessions"), "{page}");
        // …and only the public card of the Owner above them.
        ada.goto("/#/users/1").await;
        ada.wait_for_text("h1", "owner").await;
        let page = ada.wait_for_text("main", "Plan: Basic").await;
        assert!(!page.contains("Moderation history"), "{page}");

        // The Owner also sees where and how the user's sessions ended.
        let boss = site.browser().await;
        site.log_in(&boss, "owner", "1").await;
        boss.goto(&format!("/#/users/{alice_id}")).await;
        let page = boss.wait_for_text("main", "Past sessions").await;
        assert!(page.contains("Logged out"), "{page}");
        assert!(page.contains("127.0.0.1"), "{page}");

        // A user who does not exist: the API's words.
        alice.goto("/#/users/999").await;
        alice.wait_for_text("main", "No user has that name.").await;
    }
);

browser_test!(my_account_shows_and_changes_my_profile, |site: Site| async move {
    let alice_id = site.member("alice", "1001", "0");
    site.member("bob", "1002", "0");
    let alice = site.browser().await;
    site.log_in(&alice, "alice", "1001").await;
    site.t
        .put_in_force(alice_id, portal::action_type::ActionType::PlatformWarning, None)
        .await;

    alice.goto("/#/account").await;
    alice.wait_for_text("#account-username", "alice").await;
    let page = alice.wait_for_text("main", "Discord — member-1001").await;
    assert!(page.contains("Id 1001"), "{page}");
    alice.wait_for_text("main", "Plan\nBasic").await;
    alice.wait_for_text("#punishments", "Warning — recorded").await;
    alice.wait_for_text("main", "You own no chats.").await;

    // A name that is taken is refused next to the field, in words.
    alice.type_into("input[name=username]", "BOB").await;
    alice.press("Save").await;
    alice
        .wait_for_text("[data-error-for=username]", "Username is already taken.")
        .await;
    alice.type_into("input[name=username]", "alice_2").await;
    alice.press("Save").await;
    alice.wait_for_page_text("Your profile was saved.").await;
    alice.wait_for_text("#account-username", "alice_2").await;
    alice.wait_for_text("#whoami", "alice_2").await;
});

/// Where the README's screenshots go when `PORTAL_SCREENSHOTS=1` asks for them.
fn screenshot_path(name: &str) -> Option<PathBuf> {
    std::env::var("PORTAL_SCREENSHOTS").ok().filter(|v| v == "1")?;
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
    std::fs::create_dir_all(&folder).expect("docs/screenshots");
    Some(folder.join(format!("{name}.png")))
}

/// Opens `path`, waits for its heading, checks that nothing is wider than the window, and takes
/// the screenshot when asked.
async fn visit(browser: &Browser, path: &str, heading: &str, ready: &str, name: &str) {
    browser.goto(path).await;
    browser.wait_for_text("h1", heading).await;
    browser.wait_for_page_text(ready).await;
    let fits = browser
        .run(
            "return document.documentElement.scrollWidth <= window.innerWidth;",
            json!([]),
        )
        .await;
    assert_eq!(fits, true, "{path} is wider than the window");
    if let Some(file) = screenshot_path(name) {
        browser.screenshot(&file).await;
    }
}

browser_test!(every_page_fits_from_a_phone_to_a_wide_screen, |site: Site| async move {
    let alice_id = site.member("alice", "1001", "0");
    site.member("bob", "1002", "1");
    let owner = site.owner_session().await;
    let browser = site.browser().await;
    visit(&browser, "/#/login", "Log in", "I already have a code", "login").await;
    site.log_in(&browser, "alice", "1001").await;
    let bob = site.browser().await;
    site.log_in(&bob, "bob", "1002").await;
    site.post_as(
        &owner,
        "/v1/admin/notifications",
        json!({"user_id": alice_id, "title": "Movie night on Friday", "body": "The official chat watches a film together at 20:00.", "type": "info"}),
    )
    .await;
    site.post_as(
        &owner,
        &format!("/v1/admin/users/{alice_id}/warn"),
        json!({"reason": "Please keep the chat friendly"}),
    )
    .await;
    site.post_as(
        &owner,
        "/v1/admin/chats",
        json!({"name": "General", "slug": "general", "description": "Everything about the community."}),
    )
    .await;

    for (width, height, suffix) in [(1280, 900, ""), (360, 740, "-phone")] {
        browser.resize(width, height).await;
        visit(
            &browser,
            "/#/",
            "Home",
            "Movie night on Friday",
            &format!("home{suffix}"),
        )
        .await;
        browser.wait_for_text("#online", "bob").await;
        visit(
            &browser,
            "/#/sessions",
            "My sessions",
            "This device",
            &format!("sessions{suffix}"),
        )
        .await;
        visit(
            &browser,
            "/#/account",
            "My account",
            "Please keep the chat friendly",
            &format!("account{suffix}"),
        )
        .await;
        visit(
            &browser,
            "/#/chats",
            "Chats",
            "Everything about the community.",
            &format!("chats{suffix}"),
        )
        .await;
        visit(
            &browser,
            "/#/users",
            "People",
            "people found",
            &format!("people{suffix}"),
        )
        .await;
        visit(&browser, "/#/users/1", "owner", "Plan: Basic", &format!("user{suffix}")).await;
        // The keyboard lands on each page's heading.
        assert_eq!(browser.focused().await, ("h1".to_owned(), "owner".to_owned()));
    }
    let staff = site.browser().await;
    site.log_in(&staff, "owner", "1").await;
    visit(
        &staff,
        &format!("/#/users/{alice_id}"),
        "alice",
        "Moderation history",
        "user-staff-view",
    )
    .await;
});

browser_test!(the_place_chart_draws_each_place_once, |site: Site| async move {
    // Sessions here come from loopback, which has no place; the chart is given places directly.
    let browser = site.browser().await;
    browser.goto("/#/login").await;
    browser.wait_for_text("h1", "Log in").await;
    let drawn = browser
        .run_async(
            "import('/assets/js/place-chart.js').then(({ placeChart }) => {
               const berlin = { city: 'Berlin', country_code: 'DE', lat: 52.52, lon: 13.405 };
               const chart = placeChart([
                 { geo: berlin, is_current: true },
                 { geo: berlin },
                 { geo: { city: 'Lisbon', country_code: 'PT', lat: 38.72, lon: -9.14 } },
                 { geo: null },
               ]);
               const none = placeChart([{ geo: null }, { geo: { city: 'Nowhere', lat: null, lon: null } }]);
               done({
                 dots: chart.querySelectorAll('circle').length,
                 current: chart.querySelectorAll('circle.current').length,
                 label: chart.getAttribute('aria-label'),
                 berlin: [...chart.querySelectorAll('circle')].map(c => [c.getAttribute('cx'), c.getAttribute('cy')])[0],
                 none,
               });
             });",
        )
        .await;
    assert_eq!(drawn["dots"], 2, "{drawn}");
    assert_eq!(drawn["current"], 1, "{drawn}");
    assert_eq!(
        drawn["label"],
        "Sessions opened from 2 places: Berlin, DE (2 sessions); Lisbon, PT (1 session)"
    );
    // Longitude and latitude on the 360 × 180 grid: x = lon + 180, y = 90 − lat.
    assert_eq!(drawn["berlin"], json!(["193.4", "37.5"]));
    assert_eq!(drawn["none"], serde_json::Value::Null);
});
