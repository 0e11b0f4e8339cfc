//! A Redis server of the test's own, on a free loopback port, that the test may stop and start
//! again: for what the shared Redis cannot show, an outage and the recovery after it.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::in_ci;

pub struct PrivateRedis {
    child: Option<Child>,
    port: u16,
}

impl PrivateRedis {
    /// Starts `redis-server` (keeping nothing on disk); `None`, said aloud, when it is not
    /// installed, which CI does not allow.
    pub async fn start() -> Option<PrivateRedis> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut redis = PrivateRedis { child: None, port };
        if !redis.run() {
            assert!(!in_ci(), "redis-server is required under CI=true");
            eprintln!("SKIPPED: redis-server is not installed");
            return None;
        }
        redis.wait_answering().await;
        Some(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server at once; everything it held is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again, empty, on the same port.
    pub async fn restart(&mut self) {
        self.kill();
        assert!(self.run(), "redis-server started before");
        self.wait_answering().await;
    }

    fn run(&mut self) -> bool {
        let spawned = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        self.child = spawned.ok();
        self.child.is_some()
    }

    async fn wait_answering(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let answered = async {
                let client = redis::Client::open(self.url()).ok()?;
                let mut conn = client.get_multiplexed_async_connection().await.ok()?;
                redis::cmd("PING").query_async::<String>(&mut conn).await.ok()
            };
            if answered.await.is_some() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer on port {}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}
