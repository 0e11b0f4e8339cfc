//! The bot end to end: fakes of Telegram and Discord in front of it, the real portal behind it.

mod common;
mod discord;
mod scenarios;
mod telegram;
