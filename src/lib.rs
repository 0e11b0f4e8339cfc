//! portal: the server of the Portal API.

pub mod action_type;
pub mod address;
pub mod audit_event;
pub mod bot_type;
pub mod browser;
pub mod cli;
pub mod config;
pub mod connections;
pub mod crypto;
pub mod domain;
pub mod ephemeral;
pub mod error;
pub mod geo;
pub mod http;
pub mod level;
pub mod logging;
pub mod metrics;
pub mod named;
pub mod names;
pub mod server;
pub mod store;
pub mod tier;
pub mod time;
pub mod user_kind;
