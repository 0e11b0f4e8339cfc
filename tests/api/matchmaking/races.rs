//! The guarantees of §3.5 under racing callers: exactly once, slots hold, no pair twice, no lost
//! pair — on one SQLite node and on two nodes sharing PostgreSQL.

use std::collections::{HashMap, HashSet};

use super::*;
use crate::common::Kind;

/// Fires one enqueue per caller at once, spread over `nodes`, and checks the guarantees: every
/// caller is paired at most once, each chat joins two different callers, and nobody is left
/// waiting while a compatible caller waits too.
async fn race(nodes: &[&TestApp], callers: usize, tags: &[&str]) {
    let t = nodes[0];
    let p = People::new(t).await;
    let mut people = Vec::new();
    for i in 0..callers {
        let (id, token) = p.at(&format!("racer{i}"), 0).await;
        // Each caller takes one or two of the tags, so that some share one and some do not.
        let mine: Vec<&str> = vec![tags[i % tags.len()], tags[(i / 2) % tags.len()]];
        people.push((id, token, mine));
    }
    let answers = futures_util::future::join_all(people.iter().enumerate().map(|(i, (_, token, mine))| {
        let node = nodes[i % nodes.len()];
        async move { enqueue(node, token, json!(mine)).await }
    }))
    .await;
    for answer in &answers {
        answer.assert_ok();
    }

    let mut chats_of: HashMap<i64, Vec<i64>> = HashMap::new();
    let mut waiting = Vec::new();
    for (id, token, mine) in &people {
        let s = status(t, token).await;
        let chats = s["chats"].as_array().unwrap();
        assert!(chats.len() <= 1, "caller {id} holds {} chats: {s}", chats.len());
        match s["state"].as_str().unwrap() {
            "matched" => chats_of
                .entry(chats[0]["chat_id"].as_i64().unwrap())
                .or_default()
                .push(*id),
            "searching" => waiting.push(mine.iter().copied().collect::<HashSet<&str>>()),
            other => panic!("caller {id} is {other}"),
        }
    }
    for (chat_id, members) in &chats_of {
        assert_eq!(members.len(), 2, "chat {chat_id} has {members:?}");
        assert_ne!(members[0], members[1]);
    }
    assert_eq!(chats_of.len() * 2 + waiting.len(), callers);
    for (i, a) in waiting.iter().enumerate() {
        for b in &waiting[i + 1..] {
            assert!(
                a.is_disjoint(b),
                "two compatible callers were left waiting: {a:?} and {b:?}"
            );
        }
    }
    // Each pairing made one chat with exactly two member rows and two participants.
    assert_eq!(
        t.count("SELECT COUNT(*) FROM chats WHERE chat_type = 'direct'").await,
        chats_of.len() as i64
    );
    assert_eq!(
        t.count("SELECT COUNT(*) FROM direct_participants").await,
        2 * chats_of.len() as i64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_callers_at_once_on_one_sqlite_node() {
    let t = TestApp::new(Kind::Sqlite, |_| {}).await.unwrap();
    race(&[&t], 50, &["music", "gaming", "books"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_callers_at_once_across_two_postgres_nodes() {
    let Some(a) = TestApp::new(Kind::Postgres, |_| {}).await else {
        return;
    };
    let b = a.second_node().await;
    race(&[&a, &b], 50, &["music", "gaming", "books"]).await;
}
