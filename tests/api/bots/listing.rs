//! The public bot listing, search and lookup, and the bots in a user's elevated view.

use super::*;

both_backends!(public_listing_search_and_lookup, |t: TestApp| async move {
    let login_key = t.login_bot().await;
    let owner = staff(&t, &login_key, "owner-1", 3).await;
    let member = staff(&t, &login_key, "member", 0).await;
    let alpha = t.bot(&owner.user, "Alpha Bot", "discord", 2).await;
    let beta = t.bot(&member.user, "Beta_Bot", "telegram", 3).await;
    t.bot(&owner.user, "Gamma", "discord", 3).await;
    t.exec("UPDATE bots SET is_active = 0 WHERE name = 'Gamma'").await;
    let alpha_id = t.bot_id_of(&alpha).await;

    // The public list: active bots only, public view, by id.
    let r = t.get("/v1/bots").send().await;
    let list = r.assert_ok().as_array().unwrap().clone();
    assert_eq!(r.header("x-total-count"), Some("3"));
    let names: Vec<&str> = list.iter().map(|b| b["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Login Bot", "Alpha Bot", "Beta_Bot"]);
    assert!(list.iter().all(|b| keys(b) == sorted(&PUBLIC_FIELDS)));
    let r = t.get("/v1/bots?limit=1&offset=1").cookie(&owner.token).send().await;
    assert_eq!(r.assert_ok().as_array().unwrap().len(), 1);
    assert_eq!(
        keys(&r.body[0]),
        sorted(&PUBLIC_FIELDS),
        "the list is public even for staff"
    );
    refused(
        &t.get("/v1/bots?limit=101").send().await,
        "limit",
        "limit must be between 1 and 100",
    );
    refused(
        &t.get("/v1/bots/0").send().await,
        "bot_id",
        "bot_id must be a positive integer",
    );

    // Search: a member sees active bots in the public view.
    let search = |path: &str, token: &str| t.get(path).cookie(token).send();
    let r = search("/v1/bots/search?q=BOT", &member.token).await;
    let body = r.assert_ok();
    assert_eq!(body["total"], 3);
    assert_eq!(body["limit"], 25);
    assert!(body["bots"]
        .as_array()
        .unwrap()
        .iter()
        .all(|b| keys(b) == sorted(&PUBLIC_FIELDS)));
    let r = search("/v1/bots/search?q=_", &member.token).await;
    assert_eq!(r.assert_ok()["total"], 1, "_ is an ordinary character");
    let r = search("/v1/bots/search?q=gamma", &member.token).await;
    assert_eq!(r.assert_ok()["total"], 0);
    let r = search(&format!("/v1/bots/search?q={alpha_id}"), &member.token).await;
    assert_eq!(r.assert_ok()["bots"][0]["id"], alpha_id);
    let r = search("/v1/bots/search?bot_type=verified", &member.token).await;
    assert_eq!(r.assert_ok()["total"], 1);
    search(&format!("/v1/bots/search?owner={}", owner.user.id), &member.token)
        .await
        .assert_error(403, "ERR_INSUFFICIENT_PERMISSION");
    refused(
        &search(&format!("/v1/bots/search?q={}", "q".repeat(51)), &member.token).await,
        "q",
        "q must be at most 50 characters",
    );
    refused(
        &search("/v1/bots/search?bot_type=gold", &member.token).await,
        "bot_type",
        "bot_type must be one of: official, verified, community, 1, 2, 3",
    );
    t.get("/v1/bots/search")
        .send()
        .await
        .assert_error(401, "ERR_AUTH_REQUIRED");
    // Staff: inactive bots too, private view, owner filter.
    let r = search(&format!("/v1/bots/search?owner={}", owner.user.id), &owner.token).await;
    let body = r.assert_ok();
    assert_eq!(body["total"], 2);
    assert!(body["bots"]
        .as_array()
        .unwrap()
        .iter()
        .all(|b| keys(b) == sorted(&PRIVATE_FIELDS)));

    // Lookup by platform identity, on the bot's own platform only.
    let r = t.get("/v1/bot/users/member").key(&alpha).send().await;
    let found = r.assert_ok();
    assert_eq!(found["id"], member.user.id);
    assert_eq!(found["state"], 0);
    assert_eq!(found["permission_level"], 0);
    assert_eq!(
        keys(found),
        sorted(&[
            "avatar_url",
            "created_at",
            "id",
            "last_activity_at",
            "permission_level",
            "state",
            "subscription_tier",
            "updated_at",
            "username"
        ])
    );
    t.get("/v1/bot/users/member")
        .key(&beta)
        .send()
        .await
        .assert_error(404, "ERR_USER_NOT_FOUND");
    t.get("/v1/bot/users/nobody")
        .key(&alpha)
        .send()
        .await
        .assert_error(404, "ERR_USER_NOT_FOUND");
    refused(
        &t.get("/v1/bot/users/bad$id").key(&alpha).send().await,
        "platform_user_id",
        "platform_user_id contains invalid characters",
    );

    // Bot endpoints need a bot key: a session or nothing is not enough.
    let r = t.get("/v1/bot/me").cookie(&owner.token).send().await;
    r.assert_error(401, "ERR_AUTH_REQUIRED");
    assert_eq!(r.body["error"], "Bot API key required");
    t.get("/v1/bot/me")
        .key("hbot_short")
        .send()
        .await
        .assert_error(401, "ERR_INVALID_API_KEY");
});

both_backends!(an_elevated_user_view_lists_the_bots, |t: TestApp| async move {
    let login_key = t.login_bot().await;
    let owner = staff(&t, &login_key, "owner-1", 3).await;
    let maker = t.user("maker", 0).await;
    let first = t.bot(&maker, "First", "discord", 3).await;
    t.bot(&maker, "Second", "telegram", 1).await;
    t.exec("UPDATE bots SET is_active = 0 WHERE name = 'Second'").await;

    let r = t
        .get(&format!("/v1/users/{}", maker.id))
        .cookie(&owner.token)
        .send()
        .await;
    let bots = r.assert_ok()["bots"].as_array().unwrap().clone();
    let mut names: Vec<&str> = bots.iter().map(|b| b["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["First", "Second"]);
    assert!(bots.iter().all(|b| keys(b) == sorted(&PRIVATE_FIELDS)));
    assert!(bots.iter().all(|b| b["owner_id"] == maker.id));

    // Anyone else gets the public card, without bots.
    let r = t.get(&format!("/v1/users/{}", maker.id)).key(&first).send().await;
    assert!(r.assert_ok().get("bots").is_none());
});
