//! Moderation action types (30-admin-moderation §3.2): what a `moderation_actions` row records.

crate::named_enum! {
    pub enum ActionType, names ACTION_TYPES, what "moderation action type" {
        PlatformWarning = "PLATFORM_WARNING",
        PlatformTimeout = "PLATFORM_TIMEOUT",
        PlatformBan = "PLATFORM_BAN",
        PlatformMute = "PLATFORM_MUTE",
        ChatMute = "CHAT_MUTE",
        ChatBan = "CHAT_BAN",
        ChatKick = "CHAT_KICK",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_to_the_variant_that_shows_it() {
        for name in ACTION_TYPES {
            assert_eq!(ActionType::parse(name).map(ActionType::as_str), Some(name));
        }
        assert_eq!(ActionType::parse("platform_ban"), None);
        assert!(ActionType::try_from("KICK".to_owned()).is_err());
    }
}
