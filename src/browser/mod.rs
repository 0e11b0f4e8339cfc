//! Browser rooms (92-browser-rooms): the machines a chat's members browse together. So far the
//! egress filter every machine's traffic goes through (§3), the DevTools client, the process engine
//! and the driver of a machine's one tab; the machine lifecycle, the screen and control come next.

pub mod cdp;
pub mod egress;
pub mod engine;
pub mod tab;

#[cfg(test)]
mod chromium_tests;
