//! The login-flow load client. Each connection runs complete logins back to back, as a browser and
//! the Official bot would: `POST /v1/authentication/request` → the bot's
//! `POST /v1/authentication/bot/login-code` → `POST /v1/authentication/verify`.
//!
//! `loadgen login <base> <bot-key> <platform-user-id>` logs one identity in and prints its token.
//! `loadgen flow <base> <bot-key> <identities-file> <connections> <seconds>` prints one JSON line:
//! completed logins per second, p50/p99 of a whole login, and errors.
//!
//! Every connection takes its own slice of the identities and its own client address (sent as
//! `X-Forwarded-For`, so the server must trust 127.0.0.1 as a proxy): the server allows five
//! pending codes per address, and two connections must never log the same identity in at once.

use portal_bench::percentile;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// One keep-alive HTTP/1.1 connection; requests go one at a time.
struct Client {
    host: String,
    stream: TcpStream,
    buffer: Vec<u8>,
}

struct Answer {
    status: u16,
    set_cookie: Option<String>,
    body: Vec<u8>,
}

impl Client {
    async fn connect(base: &str) -> Result<Client, Error> {
        let host = base.trim_start_matches("http://").trim_end_matches('/').to_owned();
        let stream = TcpStream::connect(&host).await?;
        stream.set_nodelay(true)?;
        Ok(Client {
            host,
            stream,
            buffer: Vec::with_capacity(4096),
        })
    }

    async fn post(&mut self, path: &str, headers: &[(&str, &str)], body: &str) -> Result<Answer, Error> {
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            self.host,
            body.len()
        );
        for (name, value) in headers {
            request.push_str(name);
            request.push_str(": ");
            request.push_str(value);
            request.push_str("\r\n");
        }
        request.push_str("\r\n");
        request.push_str(body);
        self.stream.write_all(request.as_bytes()).await?;
        self.read_answer().await
    }

    async fn read_answer(&mut self) -> Result<Answer, Error> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(head_len) = response.parse(&self.buffer)? {
                let status = response.code.unwrap_or(0);
                let mut length = 0usize;
                let mut set_cookie = None;
                for h in response.headers.iter() {
                    if h.name.eq_ignore_ascii_case("content-length") {
                        length = std::str::from_utf8(h.value)?.trim().parse()?;
                    } else if h.name.eq_ignore_ascii_case("set-cookie") {
                        set_cookie = Some(String::from_utf8_lossy(h.value).into_owned());
                    }
                }
                while self.buffer.len() < head_len + length {
                    self.fill().await?;
                }
                let body = self.buffer[head_len..head_len + length].to_vec();
                self.buffer.drain(..head_len + length);
                return Ok(Answer {
                    status,
                    set_cookie,
                    body,
                });
            }
            self.fill().await?;
        }
    }

    async fn fill(&mut self) -> Result<(), Error> {
        let mut chunk = [0u8; 8192];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            return Err("connection closed by the server".into());
        }
        self.buffer.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

fn expect_ok(step: &str, answer: &Answer) -> Result<serde_json::Value, Error> {
    if answer.status != 200 {
        return Err(format!(
            "{step}: HTTP {} {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        )
        .into());
    }
    Ok(serde_json::from_slice(&answer.body)?)
}

/// One complete login; returns the session token.
async fn login(client: &mut Client, bot_key: &str, platform_user_id: &str, client_ip: &str) -> Result<String, Error> {
    let identity = serde_json::json!({"platform": "discord", "platform_user_id": platform_user_id});
    let forwarded = [("X-Forwarded-For", client_ip)];
    let requested = client
        .post("/v1/authentication/request", &forwarded, &identity.to_string())
        .await?;
    expect_ok("request", &requested)?;
    let report = serde_json::json!({
        "platform": "discord",
        "platform_user_id": platform_user_id,
        "platform_username": format!("member {platform_user_id}"),
    });
    let pending = client
        .post(
            "/v1/authentication/bot/login-code",
            &[("X-API-Key", bot_key)],
            &report.to_string(),
        )
        .await?;
    let pending = expect_ok("bot/login-code", &pending)?;
    let code = pending["code"].as_str().ok_or("bot/login-code: no pending code")?;
    let verified = client
        .post(
            "/v1/authentication/verify",
            &forwarded,
            &serde_json::json!({ "code": code }).to_string(),
        )
        .await?;
    expect_ok("verify", &verified)?;
    let cookie = verified.set_cookie.ok_or("verify: no cookie")?;
    let token = cookie
        .strip_prefix("psession=")
        .and_then(|rest| rest.split(';').next())
        .ok_or("verify: unexpected cookie")?;
    Ok(token.to_owned())
}

struct Tally {
    latencies_us: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
}

async fn connection(
    base: String,
    bot_key: String,
    identities: Vec<String>,
    client_ip: String,
    deadline: Instant,
) -> Tally {
    let mut tally = Tally {
        latencies_us: Vec::new(),
        errors: 0,
        first_error: None,
    };
    let mut client = None;
    for identity in identities.iter().cycle() {
        if Instant::now() >= deadline || identities.is_empty() {
            break;
        }
        if client.is_none() {
            match Client::connect(&base).await {
                Ok(c) => client = Some(c),
                Err(e) => {
                    tally.errors += 1;
                    tally.first_error.get_or_insert(e.to_string());
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
        }
        let Some(c) = client.as_mut() else { continue };
        let started = Instant::now();
        match login(c, &bot_key, identity, &client_ip).await {
            Ok(_) if Instant::now() <= deadline => tally.latencies_us.push(started.elapsed().as_micros() as u64),
            Ok(_) => {}
            Err(e) => {
                tally.errors += 1;
                tally.first_error.get_or_insert(e.to_string());
                client = None;
            }
        }
    }
    tally
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("login") if args.len() == 5 => {
            let mut client = Client::connect(&args[2]).await?;
            println!("{}", login(&mut client, &args[3], &args[4], "198.18.255.1").await?);
            Ok(())
        }
        Some("flow") if args.len() == 7 => {
            let (base, bot_key) = (args[2].clone(), args[3].clone());
            let identities: Vec<String> = std::fs::read_to_string(&args[4])?
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect();
            let connections: usize = args[5].parse()?;
            let seconds: f64 = args[6].parse()?;
            let started = Instant::now();
            let deadline = started + Duration::from_secs_f64(seconds);
            let tasks: Vec<_> = (0..connections)
                .map(|k| {
                    let own: Vec<String> = identities.iter().skip(k).step_by(connections).cloned().collect();
                    // 198.18.0.0/15 is set aside for benchmarks; the address only travels in a header.
                    let ip = format!("198.18.{}.{}", k / 250, k % 250 + 1);
                    tokio::spawn(connection(base.clone(), bot_key.clone(), own, ip, deadline))
                })
                .collect();
            let mut latencies = Vec::new();
            let (mut errors, mut first_error) = (0, None);
            for task in tasks {
                let tally = task.await?;
                latencies.extend(tally.latencies_us);
                errors += tally.errors;
                first_error = first_error.or(tally.first_error);
            }
            latencies.sort_unstable();
            let report = serde_json::json!({
                "logins": latencies.len(),
                "seconds": seconds,
                "logins_per_s": latencies.len() as f64 / seconds,
                "p50_ms": percentile(&latencies, 50.0),
                "p99_ms": percentile(&latencies, 99.0),
                "errors": errors,
                "first_error": first_error,
            });
            println!("{report}");
            Ok(())
        }
        _ => Err("usage: loadgen login <base> <bot-key> <platform-user-id> | \
                  loadgen flow <base> <bot-key> <identities-file> <connections> <seconds>"
            .into()),
    }
}
