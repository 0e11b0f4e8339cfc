//! The rules of the product. Handlers and the command-line tool call these; these call the store.

pub mod auth;
pub mod bots;
pub mod level;
pub mod profile;
pub mod sessions;
pub mod staff;
pub mod statistics;
pub mod users;
pub mod views;
