//! The thread that SQLite's writes run on.
//!
//! sqlx runs each SQLite connection on a thread of its own, and every statement is a hand-off to
//! that thread and back. On the virtual machines portal runs on, a hand-off between two cores costs
//! 35–130 µs of wall time against 3–12 µs between two threads of one core, and SQLite has one
//! writer, so those hand-offs bound the rate of writes. This thread runs a single-threaded runtime
//! pinned to one CPU; the writer connection is opened from it, so the connection's thread inherits
//! the same CPU, and a write request run here trades one hand-off per statement between cores for
//! one per request.

use std::io;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

pub struct WriteThread {
    handle: Handle,
    /// Dropped with the last clone of the store, which lets the thread's runtime finish.
    _stop: oneshot::Sender<()>,
}

impl WriteThread {
    pub async fn start() -> io::Result<WriteThread> {
        let (handle_tx, handle_rx) = oneshot::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("portal-sqlite-writes".into())
            .spawn(move || {
                pin_to_last_allowed_cpu();
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = handle_tx.send(Err(e));
                        return;
                    }
                };
                let _ = handle_tx.send(Ok(runtime.handle().clone()));
                let _ = runtime.block_on(stopped);
            })?;
        let handle = handle_rx
            .await
            .map_err(|_| io::Error::other("the SQLite write thread did not start"))??;
        Ok(WriteThread { handle, _stop: stop })
    }

    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

/// Holds the calling thread (and the threads it starts) to the last CPU it may use. Where the
/// process may use one CPU only, or the call fails, nothing changes.
#[cfg(target_os = "linux")]
fn pin_to_last_allowed_cpu() {
    // SAFETY: `set` is a plain bit set owned by this frame; both calls only read or write it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return;
        }
        let Some(last) = (0..libc::CPU_SETSIZE as usize)
            .rev()
            .find(|&cpu| libc::CPU_ISSET(cpu, &set))
        else {
            return;
        };
        let mut only = std::mem::zeroed();
        libc::CPU_ZERO(&mut only);
        libc::CPU_SET(last, &mut only);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &only);
    }
}

#[cfg(not(target_os = "linux"))]
fn pin_to_last_allowed_cpu() {}
