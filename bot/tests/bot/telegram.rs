//! The Telegram bot against a fake Bot API and the real portal.

use portal_bot::config::BotConfig;
use portal_bot::{texts, Platform};

use crate::common::portal::PortalServer;
use crate::common::telegram::{FakeTelegram, TgUser, BOT_USERNAME, TOKEN};
use crate::common::{bot_config, code_in, RunningBot};
use crate::scenarios::Front;
use crate::{both_backends, every_scenario};

struct TelegramFront {
    telegram: FakeTelegram,
    bot_id: i64,
    api_key: String,
    bot: RunningBot,
}

fn ann(id: u64) -> TgUser {
    TgUser {
        id: id as i64,
        username: "ann",
    }
}

impl Front for TelegramFront {
    const PLATFORM: Platform = Platform::Telegram;

    async fn start(portal: &PortalServer, configure: impl FnOnce(&mut BotConfig)) -> Self {
        let telegram = FakeTelegram::start().await;
        let (bot_id, api_key) = portal.official_bot("telegram").await;
        let mut config = bot_config(&portal.url(), &api_key);
        config.telegram.token = Some(TOKEN.into());
        config.telegram.api_url = telegram.server.url();
        configure(&mut config);
        TelegramFront {
            bot: RunningBot::start(Platform::Telegram, config),
            telegram,
            bot_id,
            api_key,
        }
    }

    async fn login(&self, user_id: u64) -> String {
        self.telegram.private(ann(user_id), "/login");
        let reply = self.telegram.reply(user_id as i64).await;
        let text = reply["text"].as_str().expect("a text").to_owned();
        // A code may not be forwarded out of the chat; other answers may.
        let protected = reply.get("protect_content").and_then(|p| p.as_bool()) == Some(true);
        assert_eq!(protected, text.contains("login code: "), "{reply:?}");
        text
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

every_scenario!(TelegramFront);

both_backends!(deep_link_starts_a_login, |portal: PortalServer| async move {
    let bot = TelegramFront::start(&portal, |_| {}).await;
    portal.user("telegram", "9001").await;
    bot.telegram.private(ann(9001), "/start");
    assert_eq!(bot.telegram.reply_text(9001).await, texts::welcome());
    // t.me/<bot>?start=login opens the chat and sends "/start login".
    bot.telegram.private(ann(9001), "/start login");
    let (status, body) = portal.verify(&code_in(&bot.telegram.reply_text(9001).await)).await;
    assert_eq!(status, 200, "{body}");
});

both_backends!(a_group_is_told_to_write_privately, |portal: PortalServer| async move {
    let bot = TelegramFront::start(&portal, |_| {}).await;
    portal.user("telegram", "9002").await;
    portal.request_web_login("telegram", "9002").await;
    let group = -100_123_456;
    bot.telegram
        .in_group(ann(9002), group, &format!("/login@{BOT_USERNAME}"));
    let reply = bot.telegram.reply(group).await;
    assert_eq!(reply["text"], texts::write_privately(BOT_USERNAME));
    assert!(reply["text"]
        .as_str()
        .unwrap()
        .contains("https://t.me/PortalLoginBot?start=login"));
    // The pending web code stayed with the portal: the private chat gets it.
    code_in(&bot.login(9002).await);
    // A command addressed to another bot of the group is not this bot's business.
    bot.telegram.in_group(ann(9002), group, "/login@SomeOtherBot");
    bot.telegram.in_group(ann(9002), group, "/help");
    assert_eq!(bot.telegram.reply_text(group).await, texts::welcome());
    assert_eq!(bot.telegram.sent_count(), 3);
    // The group counts among the bot's groups once reported.
    crate::common::eventually("the group in the heartbeat", || async {
        let (_, me) = portal.get("/v1/bot/me", bot.api_key()).await;
        (me["groups"] == 1).then_some(())
    })
    .await;
});

both_backends!(telegram_down_then_back, |portal: PortalServer| async move {
    let mut bot = TelegramFront::start(&portal, |_| {}).await;
    portal.user("telegram", "9003").await;
    code_in(&bot.login(9003).await);
    // Telegram goes away while the bot polls; commands sent meanwhile wait on Telegram's side.
    bot.telegram.server.stop().await;
    bot.telegram.private(ann(9003), "/login");
    bot.telegram.server.restart().await;
    code_in(&bot.telegram.reply_text(9003).await);
    code_in(&bot.login(9003).await);
});
