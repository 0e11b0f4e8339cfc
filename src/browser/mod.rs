//! Browser rooms (92-browser-rooms): the machines a chat's members browse together. So far the
//! egress filter every machine's traffic goes through (§3); engines, the screen and control come
//! next.

pub mod egress;
