//! What the load clients share: percentiles, waiting for a condition, a keep-alive HTTP/1.1
//! client, and reading a process's memory and CPU time from `/proc`.

use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The `p`th percentile of sorted microseconds, in milliseconds.
pub fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)] as f64 / 1000.0
}

/// Waits until `done` holds or `limit` passes; true when it held.
pub async fn wait_for(limit: Duration, done: impl Fn() -> bool) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done()
}

/// The resident memory of process `pid` in KB (0 when it cannot be read).
pub fn rss_kb(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// An HTTP/1.1 client of one keep-alive connection, with one session cookie.
pub struct Http {
    host: String,
    cookie: String,
    stream: Option<BufReader<TcpStream>>,
}

impl Http {
    pub fn new(host: &str, token: &str) -> Http {
        Http {
            host: host.to_owned(),
            cookie: format!("psession={token}"),
            stream: None,
        }
    }

    /// The session cookie of the next requests, on the same connection.
    pub fn set_token(&mut self, token: &str) {
        self.cookie = format!("psession={token}");
    }

    /// `POST path` with a JSON body; the status and the body of the answer. A connection the
    /// server closed while it was idle is replaced once, when the answer had not begun.
    pub async fn post(&mut self, path: &str, body: &str) -> Result<(u16, String), Error> {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nCookie: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            self.host,
            self.cookie,
            body.len()
        );
        let reused = self.stream.is_some();
        match self.exchange(&request).await {
            Ok(Some(answer)) => Ok(answer),
            Ok(None) if reused => {
                self.stream = None;
                self.exchange(&request)
                    .await?
                    .ok_or_else(|| "the server closed the connection".into())
            }
            Ok(None) => Err("the server closed the connection".into()),
            Err(err) => {
                self.stream = None;
                Err(err)
            }
        }
    }

    /// One request and its answer; `None` when the connection ended before the answer began.
    async fn exchange(&mut self, request: &str) -> Result<Option<(u16, String)>, Error> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(&self.host).await?;
            stream.set_nodelay(true)?;
            self.stream = Some(BufReader::new(stream));
        }
        let stream = self.stream.as_mut().ok_or("no connection")?;
        if stream.get_mut().write_all(request.as_bytes()).await.is_err() {
            self.stream = None;
            return Ok(None);
        }
        let mut line = String::new();
        if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
            self.stream = None;
            return Ok(None);
        }
        let status: u16 = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let (mut length, mut close) = (None, false);
        loop {
            line.clear();
            if stream.read_line(&mut line).await? == 0 {
                return Err("the answer ended in its headers".into());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse::<usize>().ok();
                } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close") {
                    close = true;
                }
            }
        }
        let length = length.ok_or("an answer without Content-Length")?;
        let mut body = vec![0; length];
        stream.read_exact(&mut body).await?;
        if close {
            self.stream = None;
        }
        Ok(Some((status, String::from_utf8_lossy(&body).into_owned())))
    }
}

/// User + system CPU ticks of a process so far (fields 14 and 15 of `/proc/<pid>/stat`).
pub fn cpu_ticks(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // The command name may hold spaces; the fields after it are counted from its ')'.
            let rest = &stat[stat.rfind(')')? + 1..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0)
}

/// CPU ticks of the PostgreSQL backends serving `database`, found by their process titles
/// ("postgres: <user> <database> <client> ..."), as `bench/lib.sh`'s `postgres_ticks` does; 0
/// without a database.
pub fn postgres_ticks(database: Option<&str>) -> u64 {
    let Some(database) = database else { return 0 };
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let name = format!(" {database} ");
    processes
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|title| {
                let title = String::from_utf8_lossy(&title);
                title.starts_with("postgres: ") && title.contains(&name)
            })
        })
        .map(|pid| cpu_ticks(&pid))
        .sum()
}

pub fn round(value: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (value * scale).round() / scale
}
