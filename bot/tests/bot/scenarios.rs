//! What a login command does (10-auth §2), played through either platform's bot: each test of
//! `telegram.rs` and `discord.rs` runs these against its fake platform.

use portal_bot::config::BotConfig;
use portal_bot::login::Outcome;
use portal_bot::{texts, Platform};
use serde_json::Value;

use crate::common::portal::PortalServer;
use crate::common::{code_in, eventually};

/// Every scenario below, as tests of one platform's front on both backends: a scenario added here
/// runs on every platform.
#[macro_export]
macro_rules! every_scenario {
    ($front:ty) => {
        $crate::both_backends!(flow_a_web_login, $crate::scenarios::flow_a::<$front>);
        $crate::both_backends!(flow_b_sign_up, $crate::scenarios::flow_b::<$front>);
        $crate::both_backends!(
            flow_c_quick_logins_until_the_website_is_required,
            $crate::scenarios::flow_c::<$front>
        );
        $crate::both_backends!(
            banned_user_is_told_until_when,
            $crate::scenarios::banned::<$front>
        );
        $crate::both_backends!(
            cooldown_between_two_commands,
            $crate::scenarios::cooldown::<$front>
        );
        $crate::both_backends!(
            portal_down_then_back,
            $crate::scenarios::portal_down_then_back::<$front>
        );
        $crate::both_backends!(regenerated_key, $crate::scenarios::regenerated_key::<$front>);
        $crate::both_backends!(
            heartbeat_and_command_reports,
            $crate::scenarios::reports::<$front>
        );
        $crate::both_backends!(
            a_stopped_bot_sends_its_last_report,
            $crate::scenarios::last_report::<$front>
        );
    };
}

/// A platform's bot in front of a portal, seen from a user of that platform.
pub(crate) trait Front: Sized {
    const PLATFORM: Platform;

    /// The bot, registered in `portal` as an Official bot of its platform, connected to a fake of
    /// the platform and running.
    async fn start(portal: &PortalServer, configure: impl FnOnce(&mut BotConfig)) -> Self;

    /// The user `user_id` runs the login command where a code may be shown; returns what the bot
    /// told them there.
    async fn login(&self, user_id: u64) -> String;

    fn api_key(&self) -> &str;

    fn bot_id(&self) -> i64;

    /// Stops the bot as SIGTERM does and waits until it has.
    async fn stop(self);
}

fn said(outcome: Outcome, platform: Platform) -> String {
    texts::outcome(&outcome, platform)
}

async fn verified(portal: &PortalServer, text: &str) -> Value {
    let (status, body) = portal.verify(&code_in(text)).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Flow A: the website asks for a code, the user runs the command, the code opens a session.
pub async fn flow_a<F: Front>(portal: PortalServer) {
    let bot = F::start(&portal, |_| {}).await;
    let platform = F::PLATFORM.name();
    let user = portal.user(platform, "1001").await;
    portal.request_web_login(platform, "1001").await;
    let text = bot.login(1001).await;
    let session = verified(&portal, &text).await;
    assert_eq!(session["id"], user.id);
    assert_eq!(session["user_created"], false);
    // The name the bot sent replaced the one the account had.
    assert_eq!(session["linked_platforms"][0]["platform_username"], "ann");
}

/// Flow B: an unknown user is sent to the website first; once it asked, the code creates the
/// account with the name (and on Discord the avatar) the bot sent.
pub async fn flow_b<F: Front>(portal: PortalServer) {
    let bot = F::start(&portal, |_| {}).await;
    let platform = F::PLATFORM.name();
    assert_eq!(bot.login(2002).await, said(Outcome::StartOnWebsite, F::PLATFORM));
    portal.request_web_login(platform, "2002").await;
    let session = verified(&portal, &bot.login(2002).await).await;
    assert_eq!(session["user_created"], true);
    let link = &session["linked_platforms"][0];
    assert_eq!(
        (&link["platform"], &link["platform_user_id"]),
        (&Value::from(platform), &Value::from("2002"))
    );
    assert_eq!(link["platform_username"], "ann");
    match F::PLATFORM {
        Platform::Discord => assert_eq!(
            link["platform_avatar_url"],
            "https://cdn.discordapp.com/avatars/2002/0123456789abcdef0123456789abcdef.png"
        ),
        // Telegram's picture URLs carry the bot's token: none is sent.
        Platform::Telegram => assert!(link["platform_avatar_url"].is_null(), "{link}"),
    }
}

/// Flow C: five quick logins from the platform work; the sixth command sends the user to the
/// website; a web login there (through the same command) lets quick logins work again.
pub async fn flow_c<F: Front>(portal: PortalServer) {
    let bot = F::start(&portal, |_| {}).await;
    let platform = F::PLATFORM.name();
    let user = portal.user(platform, "3003").await;
    let mut codes = Vec::new();
    for _ in 0..5 {
        let text = bot.login(3003).await;
        codes.push(code_in(&text));
        assert_eq!(verified(&portal, &text).await["id"], user.id);
    }
    codes.dedup();
    assert_eq!(codes.len(), 5, "each quick login has a code of its own");
    assert_eq!(bot.login(3003).await, said(Outcome::WebLoginRequired, F::PLATFORM));
    portal.request_web_login(platform, "3003").await;
    verified(&portal, &bot.login(3003).await).await;
    verified(&portal, &bot.login(3003).await).await;
}

/// A banned user is told so, with the end of the ban, and gets no code.
pub async fn banned<F: Front>(portal: PortalServer) {
    let bot = F::start(&portal, |_| {}).await;
    let platform = F::PLATFORM.name();
    let for_a_day = portal.user(platform, "4004").await;
    let until = portal.ban(for_a_day.id, Some(86_400)).await;
    assert_eq!(bot.login(4004).await, said(Outcome::Banned { until }, F::PLATFORM));
    let for_good = portal.user(platform, "4005").await;
    portal.ban(for_good.id, None).await;
    assert_eq!(
        bot.login(4005).await,
        said(Outcome::Banned { until: None }, F::PLATFORM)
    );
}

/// A second command within the cooldown is answered without asking the portal.
pub async fn cooldown<F: Front>(portal: PortalServer) {
    let bot = F::start(&portal, |c| c.cooldown_s = 60).await;
    portal.user(F::PLATFORM.name(), "5005").await;
    code_in(&bot.login(5005).await);
    let wait = bot.login(5005).await;
    assert!(
        wait.starts_with("Please wait ") && wait.ends_with(" more seconds before asking for another code."),
        "{wait}"
    );
    // Another user is not held up by the first one's cooldown.
    portal.user(F::PLATFORM.name(), "5006").await;
    code_in(&bot.login(5006).await);
}

/// While the portal is down, users are told to come back in a minute; once it is back, logins
/// work, the heartbeat resumes and the command run during the outage is reported.
pub async fn portal_down_then_back<F: Front>(mut portal: PortalServer) {
    let bot = F::start(&portal, |_| {}).await;
    portal.user(F::PLATFORM.name(), "6006").await;
    last_heartbeat(&portal, &bot).await;
    portal.server.stop().await;
    assert_eq!(bot.login(6006).await, said(Outcome::PortalUnavailable, F::PLATFORM));
    portal.server.restart().await;
    let back = chrono::Utc::now();
    verified(&portal, &bot.login(6006).await).await;
    eventually("a heartbeat after the outage", || async {
        (last_heartbeat(&portal, &bot).await > back).then_some(())
    })
    .await;
    eventually("both commands reported", || async {
        (login_count(&portal, &bot).await == 2).then_some(())
    })
    .await;
}

/// Once the bot's key is regenerated, users are told logins are unavailable (the bot logs it).
pub async fn regenerated_key<F: Front>(portal: PortalServer) {
    let bot = F::start(&portal, |_| {}).await;
    portal.user(F::PLATFORM.name(), "7007").await;
    code_in(&bot.login(7007).await);
    let new_key = portal.regenerate_key(bot.bot_id()).await;
    assert_ne!(new_key, bot.api_key());
    assert_eq!(bot.login(7007).await, said(Outcome::BotNotAuthorized, F::PLATFORM));
}

/// The heartbeat's statistics and the command counts reach the portal.
pub async fn reports<F: Front>(portal: PortalServer) {
    let bot = F::start(&portal, |_| {}).await;
    portal.user(F::PLATFORM.name(), "8008").await;
    portal.user(F::PLATFORM.name(), "8009").await;
    code_in(&bot.login(8008).await);
    code_in(&bot.login(8009).await);
    code_in(&bot.login(8008).await);
    eventually("three logins reported", || async {
        (login_count(&portal, &bot).await == 3).then_some(())
    })
    .await;
    let me = eventually("a heartbeat with two users and a latency", || async {
        let (status, me) = portal.get("/v1/bot/me", bot.api_key()).await;
        assert_eq!(status, 200, "{me}");
        (me["users"] == 2 && me["latency_ms"].is_number()).then_some(me)
    })
    .await;
    assert!(me["last_activity_at"].is_string(), "{me}");
}

/// A bot stopped between two reports (as systemd stops it, with SIGTERM) reports the commands it
/// counted since the last one before it ends, instead of losing them.
pub async fn last_report<F: Front>(portal: PortalServer) {
    let bot = F::start(&portal, |config| config.report_interval_s = 3600).await;
    // The first report goes at start; the login comes after it, so only a last report can carry it.
    last_heartbeat(&portal, &bot).await;
    portal.user(F::PLATFORM.name(), "8010").await;
    code_in(&bot.login(8010).await);
    let api_key = bot.api_key().to_owned();
    assert_eq!(
        login_count_by_key(&portal, &api_key).await,
        0,
        "no report between the two"
    );
    bot.stop().await;
    assert_eq!(
        login_count_by_key(&portal, &api_key).await,
        1,
        "the login reported at the stop"
    );
}

async fn last_heartbeat<F: Front>(portal: &PortalServer, bot: &F) -> chrono::DateTime<chrono::Utc> {
    eventually("a heartbeat", || async {
        let (_, me) = portal.get("/v1/bot/me", bot.api_key()).await;
        let at = me["last_activity_at"].as_str()?;
        chrono::DateTime::parse_from_rfc3339(at).ok().map(|at| at.to_utc())
    })
    .await
}

/// `count` of the `login` command in the bot's statistics (50-bots §8.4).
pub async fn login_count<F: Front>(portal: &PortalServer, bot: &F) -> i64 {
    login_count_by_key(portal, bot.api_key()).await
}

/// The same for the bot whose key is `api_key`, which may have stopped.
async fn login_count_by_key(portal: &PortalServer, api_key: &str) -> i64 {
    let (status, commands) = portal.get("/v1/bot/me/commands", api_key).await;
    assert_eq!(status, 200, "{commands}");
    commands
        .as_array()
        .and_then(|all| all.iter().find(|c| c["command"] == "login"))
        .and_then(|c| c["count"].as_i64())
        .unwrap_or(0)
}
