//! Logging in through the page: the bot flow, the code the bot sent first, a code printed by the
//! command-line tool, and the words for a refused code.

use serde_json::json;

use super::{browser_test, Site};
use crate::common::process::cli;
use crate::common::{TestApp, HOUR};

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

browser_test!(
    an_operator_code_from_the_command_line_logs_in,
    |site: Site| async move {
        site.member("admin", "2001", "2");
        let (printed, _) = cli(&site.database_url, &["user", "login-code", "admin"]);
        let code = printed["code"].as_str().unwrap();
        let browser = site.browser().await;
        browser.goto("/#/login").await;
        browser.press("I already have a code").await;
        // From the keyboard alone: the code field has the focus; type the code, then Enter.
        assert_eq!(browser.focused().await.0, "input");
        browser.type_into("input[name=code]", &format!("{code}\u{E007}")).await;
        browser.wait_for_text("h1", "Home").await;
        browser.wait_for_text("#whoami", "admin").await;
        browser.wait_for_page_text("Signed in as admin (Admin).").await;

        // Used once: the same code in another browser is refused.
        let other = site.browser().await;
        other.goto("/#/login").await;
        other.press("I already have a code").await;
        other.type_into("input[name=code]", code).await;
        other.press("Log in").await;
        other
            .wait_for_text("[data-error-for=code]", "That code is not valid")
            .await;
    }
);

browser_test!(a_banned_account_is_told_when_its_ban_ends, |site: Site| async move {
    let alice_id = site.member("alice", "1001", "0");
    let browser = site.browser().await;
    browser.goto("/#/login").await;
    let code = site.ask_for_code(&browser, "alice", "1001").await;
    // A ban recorded while the code was on its way.
    site.t
        .put_in_force(alice_id, portal::action_type::ActionType::PlatformBan, Some(3 * HOUR))
        .await;
    browser.type_into("input[name=code]", &code).await;
    browser.press("Log in").await;
    let words = browser
        .wait_for_text("[data-error-for=code]", "This account is banned until")
        .await;
    assert!(words.contains(&chrono::Utc::now().format("%Y").to_string()), "{words}");
    assert!(browser.hash().await.starts_with("#/login"));
});

browser_test!(the_lockout_says_how_long_to_wait, |site: Site| async move {
    // Ten wrong guesses from this address (10-auth §3.5) — the browser's address too.
    for _ in 0..10 {
        let r = site
            .server
            .send(
                "POST",
                "/v1/authentication/verify",
                &[],
                Some(&json!({"code": "AAAAAAAA"})),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 400);
    }
    let browser = site.browser().await;
    browser.goto("/#/login").await;
    browser.press("I already have a code").await;
    browser.type_into("input[name=code]", "BBBBBBBB").await;
    browser.press("Log in").await;
    browser
        .wait_for_text(
            "[data-error-for=code]",
            "Too many wrong codes were tried from your network. Try again in 10 minutes.",
        )
        .await;
});

browser_test!(
    an_expired_code_is_called_expired,
    &[("PORTAL_LOGIN_CODE__TTL_S", "2")],
    |site: Site| async move {
        site.member("alice", "1001", "0");
        let browser = site.browser().await;
        browser.goto("/#/login").await;
        let code = site.ask_for_code(&browser, "alice", "1001").await;
        tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
        browser.type_into("input[name=code]", &code).await;
        browser.press("Log in").await;
        let words = browser
            .wait_for_text("[data-error-for=code]", "The code expired at")
            .await;
        assert!(words.contains("Ask for a new one."), "{words}");
    }
);

browser_test!(
    the_bot_flow_by_platform_id_signs_a_new_member_up,
    |site: Site| async move {
        let browser = site.browser().await;
        browser.goto("/#/login").await;
        browser.press("With my platform id").await;
        browser.type_into("input[name=platform_user_id]", "7777").await;
        browser.press("Send me a code").await;
        browser
            .wait_for_text("#code-sent", "Send the Portal bot on Discord its login command")
            .await;
        // No account yet: the bot falls back to login-code (10-auth §2.2).
        let r = site
            .server
            .send(
                "POST",
                "/v1/authentication/bot/login-code",
                &[("X-API-Key", &site.bot_key)],
                Some(&json!({"platform": "discord", "platform_user_id": "7777", "platform_username": "newcomer"})),
            )
            .await
            .unwrap();
        let code = r.json()["code"].as_str().expect("the page's code").to_owned();
        browser.type_into("input[name=code]", &code).await;
        browser.press("Log in").await;
        browser.wait_for_text("h1", "Home").await;
        browser.wait_for_text("#whoami", "user_").await;
        // The welcome notification of a new account.
        browser.wait_for_text("#notifications", "Welcome to Portal").await;
        browser.wait_for_text("#unread-count", "1 unread notification").await;
        // Invalid input is refused next to its field, in the server's words.
        browser.press("Log out").await;
        browser.wait_for_text("h1", "Log in").await;
        browser.press("With my platform id").await;
        browser.type_into("input[name=platform_user_id]", "has spaces").await;
        browser.press("Send me a code").await;
        browser
            .wait_for_text(
                "[data-error-for=platform_user_id]",
                "Your id on that platform contains invalid characters.",
            )
            .await;
    }
);
