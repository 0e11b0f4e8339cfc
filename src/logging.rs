//! Where log lines go. A line per request written straight to stderr costs a system call (and a
//! file-system write) on the request's path; instead lines gather in memory and a background thread
//! writes them every 50 ms, or at once when 64 KiB are waiting. `flush` writes the rest at exit.

use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

const INTERVAL: Duration = Duration::from_millis(50);
const HIGH_WATER: usize = 64 * 1024;

#[derive(Clone)]
pub struct BufferedStderr {
    pending: Arc<Mutex<Vec<u8>>>,
}

impl BufferedStderr {
    /// Starts the thread that writes gathered lines.
    pub fn start() -> BufferedStderr {
        let writer = BufferedStderr {
            pending: Arc::new(Mutex::new(Vec::with_capacity(HIGH_WATER))),
        };
        let background = writer.clone();
        std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || loop {
                std::thread::sleep(INTERVAL);
                background.flush();
            })
            .map(|_| ())
            .unwrap_or_else(|e| eprintln!("log writer not started ({e}); lines are written when 64 KiB gather"));
        writer
    }

    /// Writes every gathered line now.
    pub fn flush(&self) {
        let lines = take_lines(&mut self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        if !lines.is_empty() {
            let _ = io::stderr().lock().write_all(&lines);
        }
    }
}

/// The gathered lines, leaving a buffer of full capacity in their place, so the request path does
/// not grow one from nothing after every write.
fn take_lines(pending: &mut Vec<u8>) -> Vec<u8> {
    if pending.is_empty() {
        return Vec::new();
    }
    std::mem::replace(pending, Vec::with_capacity(HIGH_WATER))
}

impl Write for BufferedStderr {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.extend_from_slice(line);
        if pending.len() >= HIGH_WATER {
            let lines = take_lines(&mut pending);
            drop(pending);
            io::stderr().lock().write_all(&lines)?;
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BufferedStderr {
    type Writer = BufferedStderr;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Colours only for a person watching a terminal.
pub fn stderr_is_terminal() -> bool {
    io::stderr().is_terminal()
}
