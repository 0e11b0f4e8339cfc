//! The Discord bot against a fake of Discord's REST API and gateway, and the real portal.

use std::time::Duration;

use portal_bot::config::BotConfig;
use portal_bot::{texts, Platform};

use crate::common::discord::{Call, DiscordUser, FakeDiscord, TOKEN};
use crate::common::portal::PortalServer;
use crate::common::{bot_config, code_in, eventually, RunningBot};
use crate::scenarios::Front;
use crate::{both_backends, every_scenario};

/// Discord drops an interaction that is not acknowledged within this time.
const ACKNOWLEDGE_WITHIN: Duration = Duration::from_secs(3);

struct DiscordFront {
    discord: FakeDiscord,
    bot_id: i64,
    api_key: String,
    bot: RunningBot,
}

fn ann(id: u64) -> DiscordUser {
    DiscordUser {
        id,
        username: "ann",
        avatar: Some("0123456789abcdef0123456789abcdef"),
    }
}

impl DiscordFront {
    /// Runs `/login` in the community's server and checks the interaction was acknowledged in
    /// time, privately; returns the final answer.
    async fn run_login(&self, user: DiscordUser) -> String {
        let (token, dispatched) = self.discord.login(user, true);
        let answer = self.discord.answer(&token).await;
        let acknowledged = self.discord.calls().into_iter().find_map(|call| match call {
            Call::Callback(t, body, at) if t == token && body["data"]["flags"] == 64 && body["type"] == 5 => Some(at),
            _ => None,
        });
        let at = acknowledged.expect("a deferred ephemeral answer");
        assert!(at.duration_since(dispatched) < ACKNOWLEDGE_WITHIN);
        answer
    }
}

impl Front for DiscordFront {
    const PLATFORM: Platform = Platform::Discord;

    async fn start(portal: &PortalServer, configure: impl FnOnce(&mut BotConfig)) -> Self {
        let discord = FakeDiscord::start().await;
        let (bot_id, api_key) = portal.official_bot("discord").await;
        let mut config = bot_config(&portal.url(), &api_key);
        config.discord.token = Some(TOKEN.into());
        config.discord.rest_proxy = Some(discord.rest_proxy());
        config.discord.gateway_url = Some(discord.gateway_url.clone());
        configure(&mut config);
        let bot = RunningBot::start(Platform::Discord, config);
        discord.identified(1).await;
        DiscordFront {
            discord,
            bot_id,
            api_key,
            bot,
        }
    }

    async fn login(&self, user_id: u64) -> String {
        let user = ann(user_id);
        let before = self.discord.direct_messages(user).len();
        let answer = self.run_login(user).await;
        if answer != texts::code_sent_privately() {
            assert_eq!(
                self.discord.direct_messages(user).len(),
                before,
                "only codes go by direct message"
            );
            return answer;
        }
        let messages = self.discord.direct_messages(user);
        assert_eq!(messages.len(), before + 1);
        messages[before].clone()
    }

    fn api_key(&self) -> &str {
        &self.api_key
    }

    fn bot_id(&self) -> i64 {
        self.bot_id
    }

    async fn stop(self) {
        self.bot.stop().await.expect("a bot stopped cleanly");
    }
}

every_scenario!(DiscordFront);

both_backends!(
    login_command_is_registered_at_start,
    |portal: PortalServer| async move {
        let bot = DiscordFront::start(&portal, |_| {}).await;
        let commands = eventually("the commands registered", || async {
            bot.discord.calls().into_iter().find_map(|call| match call {
                Call::Commands(commands) => Some(commands),
                _ => None,
            })
        })
        .await;
        assert_eq!(commands.as_array().map(Vec::len), Some(1), "{commands}");
        assert_eq!(
            (&commands[0]["name"], &commands[0]["type"]),
            (&"login".into(), &1.into())
        );
        // The server the bot is in (from READY) counts among its groups.
        eventually("the server in the heartbeat", || async {
            let (_, me) = portal.get("/v1/bot/me", bot.api_key()).await;
            (me["groups"] == 1).then_some(())
        })
        .await;
    }
);

both_backends!(
    closed_direct_messages_get_the_code_privately,
    |portal: PortalServer| async move {
        let bot = DiscordFront::start(&portal, |_| {}).await;
        let user = ann(9101);
        portal.user("discord", "9101").await;
        bot.discord.close_direct_messages(user);
        let answer = bot.run_login(user).await;
        assert!(answer.starts_with("Your direct messages are closed"), "{answer}");
        let (status, body) = portal.verify(&code_in(&answer)).await;
        assert_eq!(status, 200, "{body}");
        assert!(bot.discord.direct_messages(user).is_empty());
    }
);

both_backends!(
    login_in_a_direct_message_with_the_bot,
    |portal: PortalServer| async move {
        let bot = DiscordFront::start(&portal, |_| {}).await;
        let user = ann(9102);
        portal.user("discord", "9102").await;
        let (token, _) = bot.discord.login(user, false);
        assert_eq!(bot.discord.answer(&token).await, texts::code_sent_privately());
        let messages = bot.discord.direct_messages(user);
        let (status, body) = portal.verify(&code_in(&messages[0])).await;
        assert_eq!(status, 200, "{body}");
    }
);

both_backends!(gateway_dropped_then_back, |portal: PortalServer| async move {
    let bot = DiscordFront::start(&portal, |_| {}).await;
    portal.user("discord", "9103").await;
    bot.discord.heartbeats(1).await;
    bot.discord.cut_gateway();
    bot.discord.identified(2).await;
    let (status, body) = portal.verify(&code_in(&bot.login(9103).await)).await;
    assert_eq!(status, 200, "{body}");
});
