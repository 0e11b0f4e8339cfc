//! How log lines are written and where they go.
//!
//! A line per request written straight to stderr costs a system call (and a file-system write) on
//! the request's path; instead lines gather in memory and a background thread writes them every
//! 50 ms, or at once when 64 KiB are waiting. `flush` writes the rest at exit.
//!
//! The line itself is the library's default layout, written by `PlainLine` without the library's
//! styling machinery and with a clock that formats the date once a second: the default formatter
//! cost a cached read about a sixth of its CPU (bench/README.md).

use std::cell::RefCell;
use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FmtContext, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

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

impl Write for &BufferedStderr {
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
    type Writer = &'a BufferedStderr;
    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

/// RFC 3339 UTC with microseconds, as the library's default clock writes it; the part up to the
/// second is formatted once a second on each thread.
pub struct UtcClock;

thread_local! {
    static CURRENT_SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

impl FormatTime for UtcClock {
    fn format_time(&self, out: &mut Writer<'_>) -> fmt::Result {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        CURRENT_SECOND.with_borrow_mut(|(second, text)| {
            if *second != now.as_secs() {
                *second = now.as_secs();
                let at = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
                *text = chrono::DateTime::from_timestamp(at, 0)
                    .unwrap_or_default()
                    .format("%Y-%m-%dT%H:%M:%S")
                    .to_string();
            }
            write!(out, "{text}.{:06}Z", now.subsec_micros())
        })
    }
}

/// `<time> <LEVEL> <target>: <message> <name>=<value> …`, the library's default layout without
/// colours (a terminal gets the library's own formatter, colours and all). Spans are not shown:
/// the server opens none.
pub struct PlainLine;

impl<S, N> FormatEvent<S, N> for PlainLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, _: &FmtContext<'_, S, N>, mut out: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        UtcClock.format_time(&mut out)?;
        let metadata = event.metadata();
        write!(out, " {:>5} {}:", metadata.level().as_str(), metadata.target())?;
        let mut fields = PlainFields { out, result: Ok(()) };
        event.record(&mut fields);
        fields.result?;
        writeln!(fields.out)
    }
}

/// Each field as ` name=value` (Debug), the message as ` message`.
struct PlainFields<'w> {
    out: Writer<'w>,
    result: fmt::Result,
}

impl Visit for PlainFields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_ok() {
            self.result = self.write(field, value);
        }
    }
}

impl PlainFields<'_> {
    // The fixed parts go in as strings: every argument of a format string costs each line.
    fn write(&mut self, field: &Field, value: &dyn fmt::Debug) -> fmt::Result {
        self.out.write_char(' ')?;
        if field.name() != "message" {
            self.out.write_str(field.name())?;
            self.out.write_char('=')?;
        }
        write!(self.out, "{value:?}")
    }
}

/// Colours only for a person watching a terminal.
pub fn stderr_is_terminal() -> bool {
    io::stderr().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_line_has_the_default_layout() {
        let writer = BufferedStderr {
            pending: Arc::new(Mutex::new(Vec::new())),
        };
        let subscriber = tracing_subscriber::fmt()
            .with_writer(writer.clone())
            .with_ansi(false)
            .event_format(PlainLine)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(target: "portal::request", status = 404u16, route = %"/v1/users/{user_id}", note = "a b", "request");
        });
        let written = String::from_utf8(writer.pending.lock().unwrap().clone()).unwrap();
        let (time, rest) = written.split_once(' ').unwrap();
        assert_eq!(
            rest,
            " WARN portal::request: request status=404 route=/v1/users/{user_id} note=\"a b\"\n"
        );
        // 2026-11-28T04:08:21.154421Z
        assert_eq!(time.len(), 27, "{time}");
        assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T' && time.as_bytes()[19] == b'.');
        assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok(), "{time}");
    }
}
