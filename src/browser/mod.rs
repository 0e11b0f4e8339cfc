//! Browser rooms (92-browser-rooms), the parts below the rules: the egress filter every machine's
//! traffic goes through (§3), the DevTools client, the process engine and the driver of a
//! machine's one tab (§2), the control of a machine as a pure state machine (§8), the wire
//! pieces of the screen socket (§7), and the signatures of requests between nodes (§10.3). The
//! rules that use them are `domain::browser`.

pub mod cdp;
pub mod control;
pub mod egress;
pub mod engine;
pub mod node_auth;
pub mod screen_protocol;
pub mod tab;

#[cfg(test)]
mod chromium_tests;
