//! What the bot tells the portal about itself, on a timer: a heartbeat with its statistics
//! (`POST /v1/bot/me/update`) and the commands run since the last report (`POST /v1/bot/batch`).

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::backoff::Backoff;
use crate::portal::{CallError, CommandRecord, Heartbeat, Portal};

/// The most records one batch may carry (50-bots §8.3).
const BATCH_LIMIT: usize = 1000;

#[derive(Default)]
pub struct Usage {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Commands not yet reported, one record per command and group; a record's timestamp is its
    /// first run, so a long outage of the portal files the runs under the hour it began.
    pending: Vec<CommandRecord>,
    users: HashSet<String>,
    groups: BTreeSet<String>,
    /// Milliseconds the platform took to accept the bot's messages since the last heartbeat.
    latency_total_ms: f64,
    latency_samples: u32,
}

impl Usage {
    /// Counts one run of `command` by `user`, in a group (`Some`) or a private chat.
    pub fn command(&self, command: &str, user: &str, group: Option<&str>) {
        let mut state = self.lock();
        state.users.insert(user.to_owned());
        if let Some(group) = group {
            state.groups.insert(group.to_owned());
        }
        let group = group.map(str::to_owned);
        let same = |r: &&mut CommandRecord| r.command == command && r.group_id == group;
        if let Some(record) = state.pending.iter_mut().find(same) {
            record.count += 1;
            return;
        }
        if state.pending.len() >= BATCH_LIMIT {
            // A full batch keeps counting in the command's first record, whatever its group.
            if let Some(record) = state.pending.iter_mut().find(|r| r.command == command) {
                record.count += 1;
                return;
            }
        }
        state.pending.push(CommandRecord {
            command: command.to_owned(),
            count: 1,
            group_id: group,
            timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        });
    }

    /// A group (chat or server) the bot is in.
    pub fn group(&self, group: &str) {
        self.lock().groups.insert(group.to_owned());
    }

    pub fn latency(&self, took: Duration) {
        let mut state = self.lock();
        state.latency_total_ms += took.as_secs_f64() * 1000.0;
        state.latency_samples += 1;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn heartbeat(&self) -> Heartbeat {
        let state = self.lock();
        // To a tenth of a millisecond: the console shows the number as it is.
        let latency_ms = (state.latency_samples > 0).then(|| {
            let average = state.latency_total_ms / f64::from(state.latency_samples);
            (average.min(10_000.0) * 10.0).round() / 10.0
        });
        Heartbeat {
            users: state.users.len() as u64,
            group_ids: state.groups.iter().cloned().collect(),
            latency_ms,
        }
    }

    fn latency_reported(&self) {
        let mut state = self.lock();
        state.latency_total_ms = 0.0;
        state.latency_samples = 0;
    }

    fn take_commands(&self) -> Vec<CommandRecord> {
        std::mem::take(&mut self.lock().pending)
    }

    /// Puts back commands whose report failed, ahead of the ones counted meanwhile.
    fn restore_commands(&self, mut records: Vec<CommandRecord>) {
        let mut state = self.lock();
        let newer = std::mem::take(&mut state.pending);
        records.extend(newer);
        records.truncate(BATCH_LIMIT);
        state.pending = records;
    }
}

/// Reports every `interval` for as long as the bot runs, the first time at once. A failed report
/// is tried again sooner and sooner after the portal comes back, never more often than its
/// backoff allows while it is down.
pub async fn report_forever(portal: Arc<Portal>, usage: Arc<Usage>, interval: Duration) {
    let mut backoff = Backoff::new(Duration::from_secs(1), interval);
    loop {
        let delay = match report_once(&portal, &usage).await {
            Ok(()) => {
                backoff.reset();
                interval
            }
            Err(error) => {
                tracing::warn!(%error, "the bot could not report to the portal");
                backoff.next_delay()
            }
        };
        tokio::time::sleep(delay).await;
    }
}

/// How long a stopping bot waits for its last report.
const LAST_REPORT_LIMIT: Duration = Duration::from_secs(5);

/// The report of a bot that is stopping, once and for at most `LAST_REPORT_LIMIT`: what it has
/// not reported by then is lost with the process.
pub async fn report_last(portal: &Portal, usage: &Usage) {
    match tokio::time::timeout(LAST_REPORT_LIMIT, report_once(portal, usage)).await {
        Ok(Ok(())) => tracing::info!("the last report reached the portal"),
        Ok(Err(error)) => tracing::warn!(%error, "the last report did not reach the portal"),
        Err(_) => tracing::warn!("the last report was given up after {LAST_REPORT_LIMIT:?}"),
    }
}

async fn report_once(portal: &Portal, usage: &Usage) -> Result<(), CallError> {
    portal.heartbeat(&usage.heartbeat()).await?;
    usage.latency_reported();
    let commands = usage.take_commands();
    if commands.is_empty() {
        return Ok(());
    }
    match portal.report_commands(&commands).await {
        Ok(()) => Ok(()),
        Err(CallError::Refused { code, .. }) => {
            // A batch the portal finds invalid (runs older than 30 days, say) is never accepted;
            // keeping it would block every later report.
            tracing::warn!(code = %code, records = commands.len(), "the portal refused a command report; it is dropped");
            Ok(())
        }
        Err(error) => {
            usage.restore_commands(commands);
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_counted_per_command_and_group_and_survive_a_failed_report() {
        let usage = Usage::default();
        usage.command("login", "1", None);
        usage.command("login", "2", None);
        usage.command("login", "1", Some("-100"));
        usage.group("guild-7");
        let beat = usage.heartbeat();
        assert_eq!(beat.users, 2);
        assert_eq!(beat.group_ids, ["-100", "guild-7"]);
        assert_eq!(beat.latency_ms, None);
        let taken = usage.take_commands();
        let counts: Vec<_> = taken.iter().map(|r| (r.count, r.group_id.as_deref())).collect();
        assert_eq!(counts, [(2, None), (1, Some("-100"))]);
        usage.command("start", "3", None);
        usage.restore_commands(taken);
        let names: Vec<_> = usage.take_commands().into_iter().map(|r| r.command).collect();
        assert_eq!(names, ["login", "login", "start"]);
    }

    #[test]
    fn latency_is_the_average_since_the_last_heartbeat() {
        let usage = Usage::default();
        usage.latency(Duration::from_millis(10));
        usage.latency(Duration::from_micros(30_123));
        assert_eq!(usage.heartbeat().latency_ms, Some(20.1));
        usage.latency_reported();
        assert_eq!(usage.heartbeat().latency_ms, None);
    }
}
