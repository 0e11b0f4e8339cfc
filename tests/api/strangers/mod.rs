//! Strangers (91-matchmaking §2, §8.1): becoming one, what a stranger may reach, where strangers
//! do not appear, and how a stranger ends, through HTTP and the WebSocket.

mod creation;
mod ending;
mod reach;

use crate::common::TestApp;

const BECOME: &str = "/v1/authentication/stranger";

/// A new stranger from the test's client address: (id, session token).
pub async fn new_stranger(t: &TestApp) -> (i64, String) {
    let created = t.post(BECOME).send().await;
    let id = created.assert_ok()["id"].as_i64().unwrap();
    (id, created.session_cookie().expect("a session cookie"))
}

/// Puts a queue entry in place for `user_id`, as an enqueue would have.
pub async fn enqueue_directly(t: &TestApp, user_id: i64) {
    let now = t.app.now();
    t.exec(&format!(
        "INSERT INTO match_entries (user_id, session_id, interests, enqueued_at, expires_at) \
         VALUES ({user_id}, 0, '[\"music\"]', {now}, {})",
        now + 600 * crate::common::SECOND
    ))
    .await;
}

pub async fn queued(t: &TestApp, user_id: i64) -> bool {
    t.count(&format!("SELECT COUNT(*) FROM match_entries WHERE user_id = {user_id}"))
        .await
        == 1
}
