//! Browser rooms (92-browser-rooms): the machines a chat's members browse together. So far the
//! egress filter every machine's traffic goes through (§3), the control of a machine as a pure
//! state machine (§8) and the wire pieces of the screen socket (§7); engines and the socket itself
//! come next.

pub mod control;
pub mod egress;
pub mod screen_protocol;
