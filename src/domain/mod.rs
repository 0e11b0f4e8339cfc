//! The rules of the product. Handlers and the command-line tool call these; these call the store.

pub mod app;
pub mod audit;
pub mod auth;
pub mod bots;
pub mod browser;
pub mod chats;
pub mod credentials;
pub mod health;
pub mod housekeeping;
pub mod input;
pub mod match_reports;
pub mod match_stats;
pub mod matchmaking;
pub mod moderation;
pub mod notifications;
pub mod presence;
pub mod profile;
pub mod sessions;
pub mod staff;
pub mod statistics;
pub mod stranger_blocks;
pub mod strangers;
pub mod subscriptions;
pub mod transport;
pub mod users;
pub mod views;
