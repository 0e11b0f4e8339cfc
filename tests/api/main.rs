//! The integration tests, one binary: the real router over a fresh database per test, on SQLite and
//! PostgreSQL, and the real server binary where a test needs sockets or processes. One module per
//! capability; the harness and the shared fixtures are in `common`.

#[macro_use]
mod common;

mod attacks;
mod auth;
mod bots;
mod browser;
mod chats;
mod cluster;
mod conformance;
mod egress;
mod foundation;
mod matchmaking;
mod notifications;
mod realtime;
mod reliability;
mod rooms_browser;
mod security;
mod staff;
mod statistics;
mod strangers;
mod transport;
mod users;
