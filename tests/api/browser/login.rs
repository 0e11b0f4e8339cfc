//! Logging in through the page: the bot flow, the code the bot sent first, a code printed by the
//! command-line tool, and the words for a refused code.

use super::{browser_test, Site};
use crate::common::TestApp;

browser_test!(a_member_logs_in_through_the_bot_flow, |site: Site| async move {
    site.member("alice", "1001", "0");
    let browser = site.browser().await;
    browser.goto("/").await;
    // Signed out, the front sends a person to the login page, its heading focused.
    browser.wait_for_text("h1", "Log in").await;
    assert!(browser.hash().await.starts_with("#/login"));
    assert_eq!(browser.focused().await, ("h1".to_owned(), "Log in".to_owned()));

    site.log_in(&browser, "alice", "1001").await;
    assert_eq!(browser.hash().await, "#/");
    let header = browser.text_of("header").await.unwrap();
    assert!(header.contains("Signed in as alice"), "{header}");
    assert!(header.contains("Log out"), "{header}");

    // A reload keeps the session: the cookie is the browser's, the page asks who it is.
    browser.goto("/#/").await;
    browser.wait_for_text("#whoami", "alice").await;
});

browser_test!(
    a_wrong_code_is_refused_in_words_next_to_the_field,
    |site: Site| async move {
        let browser = site.browser().await;
        browser.goto("/#/login").await;
        browser.press("I already have a code").await;
        browser.type_into("input[name=code]", "WRONG123").await;
        browser.press("Log in").await;
        let words = browser
            .wait_for_text("[data-error-for=code]", "That code is not valid")
            .await;
        assert!(words.contains("capitals matter"), "{words}");
        let invalid = browser
            .run(
                "return document.querySelector('input[name=code]').getAttribute('aria-invalid');",
                serde_json::json!([]),
            )
            .await;
        assert_eq!(invalid, "true");
        assert!(browser.hash().await.starts_with("#/login"));
    }
);
