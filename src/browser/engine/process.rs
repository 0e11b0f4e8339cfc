//! The process engine (92-browser-rooms §2.3): one headless Chromium per machine on the node's own
//! host, spoken to over `--remote-debugging-pipe` (no debugging port), with a fresh profile directory
//! that is deleted when the machine stops, every path out but the machine's egress proxy closed
//! (§3.5), its own process group, a parent-death signal, and cgroup v2 limits where the host allows.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;
use tokio::sync::{mpsc, watch};

use super::{chromium_args, LaunchError, LaunchOptions, Limits, ProcessEnd};
use crate::browser::cdp::{Cdp, CdpEvent};

/// The binaries looked for on `PATH` when `browser.chromium_path` is unset, in this order (§2.2).
pub const CHROMIUM_NAMES: [&str; 3] = ["chromium", "chromium-browser", "google-chrome"];

/// Finds the Chromium binary: `configured` when set (an error when it is not an executable file),
/// else the first of [`CHROMIUM_NAMES`] on `PATH`; `Ok(None)` when there is none.
pub fn find_chromium(configured: Option<&Path>) -> Result<Option<PathBuf>, String> {
    if let Some(path) = configured {
        return if is_executable(path) {
            Ok(Some(path.to_owned()))
        } else {
            Err(format!(
                "browser.chromium_path {} is not an executable file",
                path.display()
            ))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    Ok(CHROMIUM_NAMES.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| is_executable(candidate))
    }))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// One running browser. Dropping it kills the process group and deletes the profile; [`stop`]
/// ends it politely first.
///
/// [`stop`]: ChromiumProcess::stop
pub struct ChromiumProcess {
    pid: i32,
    cdp: Cdp,
    profile: Option<tempfile::TempDir>,
    cgroup: Option<PathBuf>,
    ended: watch::Receiver<Option<ProcessEnd>>,
}

impl ChromiumProcess {
    /// Starts the browser and waits until it answers over DevTools. Returns the process, the event
    /// stream of its DevTools connection, and whether the CPU and memory limits apply (false where
    /// the host has no writable cgroup v2 tree; the caller logs it).
    pub async fn launch(
        options: &LaunchOptions,
    ) -> Result<(ChromiumProcess, mpsc::UnboundedReceiver<CdpEvent>, bool), LaunchError> {
        let profile = tempfile::Builder::new()
            .prefix("portal-browser-")
            .permissions(fs::Permissions::from_mode(0o700))
            .tempdir()?;
        let (browser_reads, we_write) = pipe()?;
        let (we_read, browser_writes) = pipe()?;
        let cgroup = Cgroup::create(options.limits, profile.path());
        let mut command = Command::new(&options.chromium);
        command
            .args(chromium_args(options, profile.path()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child_ends = (browser_reads.as_raw_fd(), browser_writes.as_raw_fd());
        let cgroup_procs = cgroup.as_ref().map(|c| c.procs.as_raw_fd());
        let server = std::process::id() as libc::pid_t;
        // SAFETY: the closure runs between fork and exec and only makes system calls.
        unsafe {
            command.pre_exec(move || prepare_child(server, child_ends, cgroup_procs));
        }

        // The parent-death signal follows the thread that forked, not the process: the child is
        // started by a thread that lives exactly as long as the child, waiting for it.
        let (started, started_rx) = std::sync::mpsc::channel::<io::Result<i32>>();
        let (ended_tx, ended) = watch::channel(None);
        let cgroup_dir = cgroup.as_ref().map(|c| c.dir.clone());
        let waiter_cgroup = cgroup_dir.clone();
        std::thread::Builder::new().name("chromium".into()).spawn(move || {
            let mut child = match command.spawn() {
                Ok(child) => child,
                Err(error) => {
                    let _ = started.send(Err(error));
                    return;
                }
            };
            let _ = started.send(Ok(child.id() as i32));
            let status = child.wait();
            let end = match status {
                _ if waiter_cgroup.as_deref().is_some_and(Cgroup::was_out_of_memory) => ProcessEnd::OutOfMemory,
                Ok(status) => match (status.code(), status.signal()) {
                    (Some(code), _) => ProcessEnd::Exited { code },
                    (None, Some(signal)) => ProcessEnd::Signalled { signal },
                    (None, None) => ProcessEnd::Exited { code: -1 },
                },
                Err(_) => ProcessEnd::Exited { code: -1 },
            };
            let _ = ended_tx.send(Some(end));
        })?;
        let pid = tokio::task::spawn_blocking(move || started_rx.recv())
            .await
            .map_err(io::Error::other)?
            .map_err(io::Error::other)??;
        drop(browser_reads);
        drop(browser_writes);
        drop(cgroup);

        let (cdp, events) = Cdp::start(File::from(we_read), File::from(we_write), options.call_timeout);
        let process = ChromiumProcess {
            pid,
            cdp,
            profile: Some(profile),
            cgroup: cgroup_dir,
            ended,
        };
        process.cdp.call(None, "Browser.getVersion", json!({})).await?;
        let limited = process.cgroup.is_some();
        Ok((process, events, limited))
    }

    /// The DevTools connection.
    pub fn cdp(&self) -> &Cdp {
        &self.cdp
    }

    /// The browser's process id, which is also its process group's.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The profile directory, deleted when the machine stops.
    pub fn profile_dir(&self) -> Option<&Path> {
        self.profile.as_ref().map(|p| p.path())
    }

    /// How the process ended, once it has.
    pub fn try_ended(&self) -> Option<ProcessEnd> {
        *self.ended.borrow()
    }

    /// Waits until the process ends, however that happens (a crash, a kill, an OOM).
    pub async fn ended(&self) -> ProcessEnd {
        super::wait_for_end(&self.ended).await
    }

    /// Ends the browser: asks it to close, then sends the group SIGTERM, then SIGKILL, each step
    /// after half of `timeout`; then deletes the profile and the cgroup.
    pub async fn stop(mut self, timeout: Duration) -> ProcessEnd {
        let half = timeout / 2;
        let end = match self.try_ended() {
            Some(end) => end,
            None => {
                let _ = tokio::time::timeout(half, self.cdp.call(None, "Browser.close", json!({}))).await;
                match tokio::time::timeout(half, self.ended()).await {
                    Ok(end) => end,
                    Err(_) => {
                        self.signal_group(libc::SIGTERM);
                        match tokio::time::timeout(half, self.ended()).await {
                            Ok(end) => end,
                            Err(_) => {
                                self.signal_group(libc::SIGKILL);
                                self.ended().await
                            }
                        }
                    }
                }
            }
        };
        self.clean_up().await;
        end
    }

    fn signal_group(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's group; an empty group answers ESRCH, which is fine.
        unsafe { libc::kill(-self.pid, signal) };
    }

    /// Kills what is left of the group (helpers outlive the browser process by a moment), then
    /// deletes the profile and the cgroup.
    async fn clean_up(&mut self) {
        self.signal_group(libc::SIGKILL);
        if let Some(profile) = self.profile.take() {
            let _ = tokio::task::spawn_blocking(move || profile.close()).await;
        }
        if let Some(dir) = self.cgroup.take() {
            for _ in 0..50 {
                if fs::remove_dir(&dir).is_ok() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

impl Drop for ChromiumProcess {
    fn drop(&mut self) {
        // After `stop` the group is gone and its id may be reused: only a browser not yet cleaned
        // up still has its profile.
        if self.profile.is_none() {
            return;
        }
        self.signal_group(libc::SIGKILL);
        // The profile's TempDir deletes itself; the cgroup may still hold dying processes.
        if let Some(dir) = self.cgroup.take() {
            let _ = fs::remove_dir(dir);
        }
    }
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills both descriptors on success; they are owned from here on.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both are fresh descriptors nobody else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Between fork and exec: a process group of its own, SIGKILL when the server goes, the pipe ends
/// on fds 3 and 4 (where `--remote-debugging-pipe` expects them), and the machine's cgroup.
fn prepare_child(server: libc::pid_t, (reads, writes): (i32, i32), cgroup_procs: Option<i32>) -> io::Result<()> {
    let check = |result: libc::c_int| {
        if result < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(result)
        }
    };
    // SAFETY: async-signal-safe system calls on descriptors this process holds.
    unsafe {
        check(libc::setpgid(0, 0))?;
        check(libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        ))?;
        // The server may have gone before the signal was armed.
        if libc::getppid() != server {
            libc::_exit(1);
        }
        // Copies above 10 first, so that placing one end cannot overwrite the other.
        let reads = check(libc::fcntl(reads, libc::F_DUPFD_CLOEXEC, 10))?;
        let writes = check(libc::fcntl(writes, libc::F_DUPFD_CLOEXEC, 10))?;
        check(libc::dup2(reads, 3))?;
        check(libc::dup2(writes, 4))?;
        if let Some(procs) = cgroup_procs {
            check(libc::write(procs, b"0".as_ptr().cast(), 1) as libc::c_int)?;
        }
    }
    Ok(())
}

/// A machine's own cgroup v2, with `cpu.max` and `memory.max` set.
struct Cgroup {
    dir: PathBuf,
    /// Its `cgroup.procs`, opened before the fork: the child writes itself into it.
    procs: File,
}

impl Cgroup {
    const ROOT: &'static str = "/sys/fs/cgroup";

    /// `None` where `/sys/fs/cgroup` is not a writable cgroup v2 tree with the cpu and memory
    /// controllers available to this server's cgroup.
    fn create(limits: Limits, profile: &Path) -> Option<Cgroup> {
        let root = Path::new(Self::ROOT);
        if !root.join("cgroup.controllers").is_file() {
            return None;
        }
        let own = fs::read_to_string("/proc/self/cgroup").ok()?;
        let own = own.lines().find_map(|l| l.strip_prefix("0::"))?;
        let parent = root.join(own.trim_start_matches('/'));
        let controllers = fs::read_to_string(parent.join("cgroup.controllers")).ok()?;
        if !controllers.split_whitespace().any(|c| c == "cpu") || !controllers.split_whitespace().any(|c| c == "memory")
        {
            return None;
        }
        let enabled = fs::read_to_string(parent.join("cgroup.subtree_control")).ok()?;
        if !enabled.contains("cpu") || !enabled.contains("memory") {
            fs::write(parent.join("cgroup.subtree_control"), "+cpu +memory").ok()?;
        }
        let name = profile.file_name()?;
        let dir = parent.join(name);
        fs::create_dir(&dir).ok()?;
        let configure = || -> io::Result<File> {
            let period = 100_000u64;
            let quota = ((limits.cpus * period as f64) as u64).max(1000);
            fs::write(dir.join("cpu.max"), format!("{quota} {period}"))?;
            fs::write(dir.join("memory.max"), (limits.memory_mb * 1024 * 1024).to_string())?;
            // No swap where swap accounting exists; elsewhere there is none to limit.
            let _ = fs::write(dir.join("memory.swap.max"), "0");
            let mut procs = fs::OpenOptions::new().write(true).open(dir.join("cgroup.procs"))?;
            procs.flush()?;
            Ok(procs)
        };
        match configure() {
            Ok(procs) => Some(Cgroup { dir, procs }),
            Err(_) => {
                let _ = fs::remove_dir(&dir);
                None
            }
        }
    }

    fn was_out_of_memory(dir: &Path) -> bool {
        fs::read_to_string(dir.join("memory.events")).is_ok_and(|events| {
            events
                .lines()
                .filter_map(|l| l.strip_prefix("oom_kill "))
                .any(|n| n.trim().parse::<u64>().is_ok_and(|n| n > 0))
        })
    }
}
