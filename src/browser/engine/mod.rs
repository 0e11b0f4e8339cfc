//! Engines run machines (92-browser-rooms §2.2). So far the process engine: one Chromium process
//! per machine on the node's own host.

pub mod process;
