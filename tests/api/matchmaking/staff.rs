//! The staff side of matchmaking (91-matchmaking §8.8–8.13): reports, counters and stranger blocks.

use super::*;
use crate::common::ws::{event, open};
use crate::common::{audits, keys, rfc3339, TestResponse};
use serde_json::{json, Value};

const REPORTS: &str = "/v1/admin/match/reports";
const STATS: &str = "/v1/admin/match/stats";
const BLOCKS: &str = "/v1/admin/strangers/blocks";

fn handle_path(report_id: i64) -> String {
    format!("{REPORTS}/{report_id}/handle")
}

fn block_path(user_id: i64) -> String {
    format!("/v1/admin/strangers/{user_id}/block")
}

fn lift_path(block_id: i64) -> String {
    format!("{BLOCKS}/{block_id}/lift")
}

async fn get(t: &TestApp, token: &str, path: &str) -> TestResponse {
    t.get(path).cookie(token).send().await
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_i64().unwrap())
        .collect()
}

#[track_caller]
fn assert_validation(r: &TestResponse, field: &str, message: &str) {
    r.assert_error(400, "ERR_VALIDATION");
    assert_eq!(r.body["field"], field, "{}", r.body);
    assert_eq!(r.body["error"], message, "{}", r.body);
}

/// The end of the stranger blocks in force at `at` for a stranger or an address group, as the
/// enqueue and the stranger creation read it.
async fn covered(t: &TestApp, user_id: Option<i64>, group: &str, at: i64) -> Option<Option<i64>> {
    let mut conn = t.conn().await;
    portal::store::strangers::block_in_force(&mut conn, user_id, group, at)
        .await
        .unwrap()
}

const REPORT_FIELDS: [&str; 12] = [
    "chat_created_at",
    "chat_id",
    "created_at",
    "handled",
    "handled_at",
    "handled_by_id",
    "id",
    "matched_on",
    "note",
    "reason",
    "reported",
    "reporter",
];

const BLOCK_FIELDS: [&str; 10] = [
    "created_at",
    "expires_at",
    "id",
    "is_lifted",
    "issued_by_id",
    "lifted_at",
    "lifted_by_id",
    "reason",
    "user_id",
    "username",
];

both_backends!(reports_are_listed_newest_first_with_filters, |t: TestApp| async move {
    let people = People::new(&t).await;
    let (_, moderator) = people.at("mod", 1).await;
    let alice = party(41, "alice", false, None);
    let otter = party(311, "quiet-otter-4821", true, Some("NL"));
    let bob = party(42, "bob", false, Some("DE"));
    let first = report(&t, 77, &alice, &otter, "Insults right after the greeting").await;
    t.clock.advance_secs(1);
    let second = report(&t, 78, &bob, &otter, "Spam").await;
    t.clock.advance_secs(1);
    let third = report(&t, 79, &otter, &alice, "Rude").await;

    let page = get(&t, &moderator, REPORTS).await;
    let page = page.assert_ok();
    assert_eq!(keys(page), ["limit", "offset", "reports", "total"]);
    assert_eq!(ids(&page["reports"]), [third, second, first]);
    assert_eq!(
        (page["total"].as_i64(), page["limit"].as_i64(), page["offset"].as_i64()),
        (Some(3), Some(25), Some(0))
    );
    let oldest = &page["reports"][2];
    assert_eq!(keys(oldest), REPORT_FIELDS);
    assert_eq!(
        oldest["reporter"],
        json!({"user_id": 41, "username": "alice", "is_stranger": false, "country_code": null})
    );
    assert_eq!(
        oldest["reported"],
        json!({"user_id": 311, "username": "quiet-otter-4821", "is_stranger": true, "country_code": "NL"})
    );
    assert_eq!(oldest["chat_id"], 77);
    assert_eq!(oldest["reason"], "Insults right after the greeting");
    assert_eq!(oldest["matched_on"], json!(["music", "gaming"]));
    assert_eq!(oldest["handled"], false);
    assert!(oldest["handled_at"].is_null() && oldest["handled_by_id"].is_null() && oldest["note"].is_null());
    assert_eq!(oldest["created_at"], rfc3339(t.app.now() - 2 * SECOND));
    assert_eq!(oldest["chat_created_at"], rfc3339(t.app.now() - 62 * SECOND));

    t.post_as(&moderator, &handle_path(second), json!({})).await.assert_ok();
    let listed = |query: &'static str| {
        let (t, moderator) = (&t, &moderator);
        async move {
            let r = get(t, moderator, &format!("{REPORTS}{query}")).await;
            (ids(&r.assert_ok()["reports"]), r.body["total"].as_i64().unwrap())
        }
    };
    assert_eq!(listed("?handled=true").await, (vec![second], 1));
    assert_eq!(listed("?handled=1").await, (vec![second], 1));
    assert_eq!(listed("?handled=false").await, (vec![third, first], 2));
    assert_eq!(listed("?handled=0").await, (vec![third, first], 2));
    // The user either reported or was reported.
    assert_eq!(listed("?user_id=41").await, (vec![third, first], 2));
    assert_eq!(listed("?user_id=311").await, (vec![third, second, first], 3));
    assert_eq!(listed("?chat_id=78").await, (vec![second], 1));
    assert_eq!(listed("?user_id=311&handled=false&chat_id=79").await, (vec![third], 1));
    assert_eq!(listed("?user_id=999").await, (vec![], 0));
    assert_eq!(listed("?limit=1&offset=1").await, (vec![second], 3));
    assert_eq!(listed("?offset=5").await, (vec![], 3));
});

both_backends!(the_report_list_refuses_bad_parameters, |t: TestApp| async move {
    let people = People::new(&t).await;
    let (_, moderator) = people.at("mod", 1).await;
    for (query, field, message) in [
        ("handled=yes", "handled", "handled must be a boolean"),
        ("user_id=0", "user_id", "user_id must be at least 1"),
        ("user_id=x", "user_id", "user_id must be an integer"),
        ("chat_id=-4", "chat_id", "chat_id must be at least 1"),
        (
            "offset=-1",
            "offset",
            "offset must be between 0 and 9223372036854775807",
        ),
        ("limit=0", "limit", "limit must be between 1 and 100"),
        ("limit=101", "limit", "limit must be between 1 and 100"),
    ] {
        let r = get(&t, &moderator, &format!("{REPORTS}?{query}")).await;
        assert_validation(&r, field, message);
    }
});

both_backends!(
    handling_a_report_writes_it_and_its_audit_row_once,
    |t: TestApp| async move {
        let people = People::new(&t).await;
        let (moderator_id, moderator) = people.at("mod", 1).await;
        let (_, admin) = people.at("admin", 2).await;
        let reporter = party(41, "alice", false, None);
        let reported = party(311, "quiet-otter-4821", true, Some("NL"));
        let id = report(&t, 77, &reporter, &reported, "Insults").await;
        let mut conn = t.conn().await;
        assert!(portal::store::match_reports::unhandled_exists(&mut conn, 41, 77)
            .await
            .unwrap());
        assert!(!portal::store::match_reports::unhandled_exists(&mut conn, 311, 77)
            .await
            .unwrap());
        assert!(!portal::store::match_reports::unhandled_exists(&mut conn, 41, 78)
            .await
            .unwrap());
        drop(conn);

        t.clock.advance_secs(5);
        let handled_at = t.app.now();
        let r = t
            .post_as(
                &moderator,
                &handle_path(id),
                json!({"note": "  Stranger blocked for a week  "}),
            )
            .await;
        let body = r.assert_ok();
        assert_eq!(keys(body), ["message", "report"]);
        assert_eq!(body["message"], format!("Report {id} handled"));
        let handled = body["report"].clone();
        assert_eq!(keys(&handled), REPORT_FIELDS);
        assert_eq!(handled["handled"], true);
        assert_eq!(handled["handled_at"], rfc3339(handled_at));
        assert_eq!(handled["handled_by_id"], moderator_id);
        assert_eq!(handled["note"], "Stranger blocked for a week");
        assert_eq!(
            audits(&t, "MATCH_REPORT_HANDLE").await,
            [(
                Some(moderator_id),
                "user".to_owned(),
                Some(311),
                json!({"report_id": id, "chat_id": 77, "note": "Stranger blocked for a week"})
            )]
        );
        // Handled, the reporter may report the chat again.
        let mut conn = t.conn().await;
        assert!(!portal::store::match_reports::unhandled_exists(&mut conn, 41, 77)
            .await
            .unwrap());
        drop(conn);

        // A handled report is answered as it stands; nothing is written.
        t.clock.advance_secs(5);
        let again = t
            .post_as(&admin, &handle_path(id), json!({"note": "another note"}))
            .await;
        assert_eq!(again.assert_ok()["report"], handled);
        assert_eq!(again.body["message"], format!("Report {id} handled"));
        assert_eq!(audits(&t, "MATCH_REPORT_HANDLE").await.len(), 1);

        // No body, an empty note and a blank one all store no note.
        for body in [
            None,
            Some(json!({"note": null})),
            Some(json!({"note": ""})),
            Some(json!({"note": " \n "})),
        ] {
            let other = report(&t, 80, &reporter, &reported, "Spam").await;
            let request = t.post(&handle_path(other)).cookie(&moderator);
            let request = match body {
                Some(body) => request.json(body),
                None => request,
            };
            let r = request.send().await;
            assert!(r.assert_ok()["report"]["note"].is_null(), "{}", r.body);
            assert_eq!(r.body["report"]["handled"], true);
        }
        let notes = audits(&t, "MATCH_REPORT_HANDLE").await;
        assert_eq!(notes.len(), 5);
        assert!(notes[1..].iter().all(|(_, _, _, metadata)| metadata["note"].is_null()));
    }
);

both_backends!(
    a_report_is_not_handled_when_its_audit_row_fails,
    |t: TestApp| async move {
        let people = People::new(&t).await;
        let (_, moderator) = people.at("mod", 1).await;
        let id = report(
            &t,
            77,
            &party(41, "alice", false, None),
            &party(42, "bob", false, None),
            "Spam",
        )
        .await;
        t.app.store.fail_audit_inserts(true);
        t.post_as(&moderator, &handle_path(id), json!({}))
            .await
            .assert_error(500, "ERR_INTERNAL");
        t.app.store.fail_audit_inserts(false);
        assert_eq!(
            t.count("SELECT COUNT(*) FROM match_reports WHERE handled_at IS NULL")
                .await,
            1
        );
    }
);

both_backends!(
    handling_refuses_bad_input_and_unknown_reports,
    |t: TestApp| async move {
        let people = People::new(&t).await;
        let (_, moderator) = people.at("mod", 1).await;
        let id = report(
            &t,
            77,
            &party(41, "alice", false, None),
            &party(42, "bob", false, None),
            "Spam",
        )
        .await;
        let long = "x".repeat(501);
        for (path, body, field, message) in [
            (
                "0".to_owned(),
                json!({}),
                "report_id",
                "report_id must be a positive integer",
            ),
            (
                "abc".to_owned(),
                json!({}),
                "report_id",
                "report_id must be a positive integer",
            ),
            // The path is checked before the body.
            (
                "-1".to_owned(),
                json!({"note": 4}),
                "report_id",
                "report_id must be a positive integer",
            ),
            (id.to_string(), json!({"note": 4}), "note", "note must be a string"),
            (
                id.to_string(),
                json!({"note": long}),
                "note",
                "note must be at most 500 characters",
            ),
        ] {
            let r = t.post_as(&moderator, &format!("{REPORTS}/{path}/handle"), body).await;
            assert_validation(&r, field, message);
        }
        // 500 characters after trimming are enough.
        let padded = format!("  {}  ", "y".repeat(500));
        let unknown = t
            .post_as(&moderator, &handle_path(id + 1), json!({"note": padded}))
            .await;
        unknown.assert_error(404, "ERR_MATCH_REPORT_NOT_FOUND");
        assert_eq!(unknown.body["error"], "Report not found");
        assert_eq!(
            t.count("SELECT COUNT(*) FROM match_reports WHERE handled_at IS NOT NULL")
                .await,
            0
        );
        assert_eq!(
            t.count("SELECT COUNT(*) FROM audit_log WHERE event_type = 'MATCH_REPORT_HANDLE'")
                .await,
            0
        );
        t.post_as(&moderator, &handle_path(id), json!({"note": padded}))
            .await
            .assert_ok();
    }
);

/// Every staff endpoint of matchmaking with a body it would accept.
fn endpoints(report_id: i64, stranger_id: i64, block_id: i64) -> Vec<(&'static str, String, Option<Value>)> {
    vec![
        ("GET", REPORTS.to_owned(), None),
        ("POST", handle_path(report_id), Some(json!({"note": "done"}))),
        ("GET", STATS.to_owned(), None),
        (
            "POST",
            block_path(stranger_id),
            Some(json!({"reason": "Harassment", "duration": 60})),
        ),
        ("GET", BLOCKS.to_owned(), None),
        ("POST", lift_path(block_id), Some(json!({"reason": "Shared address"}))),
    ]
}

async fn call(t: &TestApp, token: Option<&str>, method: &str, path: &str, body: &Option<Value>) -> TestResponse {
    let request = if method == "GET" { t.get(path) } else { t.post(path) };
    let request = match token {
        Some(token) => request.cookie(token),
        None => request,
    };
    match body {
        Some(body) => request.json(body.clone()).send().await,
        None => request.send().await,
    }
}

both_backends!(
    only_moderators_who_are_signed_in_reach_the_staff_endpoints,
    |t: TestApp| async move {
        let people = People::new(&t).await;
        let (_, user) = people.at("plain", 0).await;
        let (moderator_id, moderator) = people.at("mod", 1).await;
        let (_, stranger_token) = stranger(&people, "quiet-otter-4821").await;
        let (target, _) = stranger(&people, "brave-heron-1234").await;
        let report_id = report(
            &t,
            77,
            &party(41, "alice", false, None),
            &party(target, "brave-heron-1234", true, None),
            "x",
        )
        .await;
        let block = t
            .post_as(
                &moderator,
                &block_path(target),
                json!({"reason": "first", "duration": 0}),
            )
            .await;
        let block_id = block.assert_ok()["block"]["id"].as_i64().unwrap();
        let written = || async {
            (
                t.count("SELECT COUNT(*) FROM audit_log").await,
                t.count("SELECT COUNT(*) FROM stranger_blocks").await,
            )
        };
        let before = written().await;

        for (method, path, body) in endpoints(report_id, target, block_id) {
            call(&t, None, method, &path, &body)
                .await
                .assert_error(401, "ERR_AUTH_REQUIRED");
            // A stranger is told to sign in before any level is looked at.
            let r = call(&t, Some(&stranger_token), method, &path, &body).await;
            r.assert_error(403, "ERR_SIGN_IN_REQUIRED");
            assert_eq!(r.body["error"], "Sign in to use this feature");
            let r = call(&t, Some(&user), method, &path, &body).await;
            r.assert_error(403, "ERR_INSUFFICIENT_PERMISSION");
            assert_eq!(r.body["error"], "Moderator access required");
            if method == "POST" {
                let r = t
                    .post(&path)
                    .cookie(&moderator)
                    .header("origin", "https://evil.example")
                    .header("host", "portal.example")
                    .json(body.clone().unwrap())
                    .send()
                    .await;
                r.assert_error(403, "ERR_FORBIDDEN");
            }
        }
        assert_eq!(written().await, before);

        // A timed-out moderator still reads, and writes nothing.
        let ends = t.time_out(moderator_id, 600).await;
        for (method, path, body) in endpoints(report_id, target, block_id) {
            let r = call(&t, Some(&moderator), method, &path, &body).await;
            if method == "GET" {
                r.assert_ok();
            } else {
                r.assert_error(403, "ERR_ACCOUNT_TIMED_OUT");
                assert_eq!(r.body["expires_at"], rfc3339(ends));
            }
        }
        assert_eq!(written().await, before);
    }
);

both_backends!(
    a_block_covers_the_stranger_and_ends_its_search,
    |t: TestApp| async move {
        let people = People::new(&t).await;
        let (moderator_id, moderator) = people.at("mod", 1).await;
        let (stranger_id, stranger_token) = people.at("stranger-otter", 0).await;
        // The connection is opened before the account becomes a stranger: the fixture makes
        // strangers by changing a user's kind.
        let addr = t.listen().await;
        let mut ws = open(addr, &stranger_token).await;
        make_stranger(&t, stranger_id, "quiet-otter-4821").await;
        queue_entry(&t, stranger_id, &["gaming", "music"], 600, None).await;

        let now = t.app.now();
        let r = t
            .post_as(
                &moderator,
                &block_path(stranger_id),
                json!({"reason": "  Harassment reported twice ", "duration": 604_800}),
            )
            .await;
        let body = r.assert_ok();
        assert_eq!(keys(body), ["block", "message"]);
        assert_eq!(
            body["message"],
            format!("Stranger {stranger_id} blocked from matchmaking")
        );
        let block = &body["block"];
        assert_eq!(keys(block), BLOCK_FIELDS);
        let block_id = block["id"].as_i64().unwrap();
        assert_eq!(
            *block,
            json!({"id": block_id, "user_id": stranger_id, "username": "quiet-otter-4821",
               "reason": "Harassment reported twice", "issued_by_id": moderator_id,
               "created_at": rfc3339(now), "expires_at": rfc3339(now + 604_800 * SECOND),
               "is_lifted": false, "lifted_at": null, "lifted_by_id": null})
        );
        assert_eq!(
            audits(&t, "STRANGER_BLOCK").await,
            [(
                Some(moderator_id),
                "user".to_owned(),
                Some(stranger_id),
                json!({"block_id": block_id, "reason": "Harassment reported twice", "duration": 604_800,
                   "expires_at": rfc3339(now + 604_800 * SECOND)})
            )]
        );
        // The search ended, and the stranger's connections were told.
        assert_eq!(t.count("SELECT COUNT(*) FROM match_entries").await, 0);
        assert_eq!(t.count("SELECT COUNT(*) FROM match_entry_tags").await, 0);
        let expired = loop {
            let frame = event(&mut ws).await;
            if frame["event"] == "match:expired" {
                break frame;
            }
        };
        assert_eq!(
            expired["data"],
            json!({"interests": ["gaming", "music"], "reason": "blocked"})
        );

        // The block covers the stranger and its address group, until it ends.
        let ends = Some(Some(now + 604_800 * SECOND));
        assert_eq!(covered(&t, Some(stranger_id), "192.0.2.1", now).await, ends);
        assert_eq!(covered(&t, None, STRANGER_GROUP, now).await, ends);
        assert_eq!(covered(&t, None, STRANGER_GROUP, now + 604_800 * SECOND).await, None);

        // A second, permanent block is kept next to the first; the session is untouched. With no
        // queue entry left, nothing is sent.
        t.clock.advance_secs(1);
        let permanent = t
            .post_as(
                &moderator,
                &block_path(stranger_id),
                json!({"reason": "For good", "duration": 0}),
            )
            .await;
        assert!(permanent.assert_ok()["block"]["expires_at"].is_null());
        let audit = audits(&t, "STRANGER_BLOCK").await;
        assert_eq!(audit[1].3["duration"], 0);
        assert!(audit[1].3["expires_at"].is_null());
        assert_eq!(
            t.count("SELECT COUNT(*) FROM stranger_blocks WHERE lifted_at IS NULL")
                .await,
            2
        );
        let later = t.app.now() + 700_000 * SECOND;
        assert_eq!(covered(&t, None, STRANGER_GROUP, later).await, Some(None));
        assert_eq!(
            t.count(&format!(
                "SELECT COUNT(*) FROM sessions WHERE user_id = {stranger_id} AND ended_at IS NULL"
            ))
            .await,
            1
        );
        crate::common::ws::nothing_pending(&mut ws).await;
    }
);

both_backends!(only_strangers_can_be_blocked, |t: TestApp| async move {
    let people = People::new(&t).await;
    let (_, moderator) = people.at("mod", 1).await;
    let (registered, _) = people.at("plain", 0).await;
    let (stranger_id, _) = stranger(&people, "quiet-otter-4821").await;
    let long = "x".repeat(501);
    let ok = json!({"reason": "x", "duration": 60});
    for (path, body, field, message) in [
        (
            "abc".to_owned(),
            ok.clone(),
            "user_id",
            "user_id must be a positive integer",
        ),
        (
            "0".to_owned(),
            json!({}),
            "user_id",
            "user_id must be a positive integer",
        ),
        (
            stranger_id.to_string(),
            json!({"duration": 60}),
            "reason",
            "reason is required",
        ),
        (
            stranger_id.to_string(),
            json!({"reason": null, "duration": 60}),
            "reason",
            "reason is required",
        ),
        (
            stranger_id.to_string(),
            json!({"reason": 7, "duration": 60}),
            "reason",
            "reason must be a string",
        ),
        (
            stranger_id.to_string(),
            json!({"reason": "  ", "duration": 60}),
            "reason",
            "reason must be at least 1 characters",
        ),
        (
            stranger_id.to_string(),
            json!({"reason": long, "duration": 60}),
            "reason",
            "reason must be at most 500 characters",
        ),
        (
            stranger_id.to_string(),
            json!({"reason": "x"}),
            "duration",
            "duration is required",
        ),
        (
            stranger_id.to_string(),
            json!({"reason": "x", "duration": "60"}),
            "duration",
            "duration must be an integer",
        ),
        (
            stranger_id.to_string(),
            json!({"reason": "x", "duration": 1.5}),
            "duration",
            "duration must be an integer",
        ),
        (
            stranger_id.to_string(),
            json!({"reason": "x", "duration": -1}),
            "duration",
            "duration must be between 0 and 31536000",
        ),
        (
            stranger_id.to_string(),
            json!({"reason": "x", "duration": 31_536_001}),
            "duration",
            "duration must be between 0 and 31536000",
        ),
    ] {
        let r = t
            .post_as(&moderator, &format!("/v1/admin/strangers/{path}/block"), body)
            .await;
        assert_validation(&r, field, message);
    }
    for user_id in [registered, stranger_id + 1000] {
        let r = t.post_as(&moderator, &block_path(user_id), ok.clone()).await;
        r.assert_error(404, "ERR_USER_NOT_FOUND");
        assert_eq!(r.body["error"], "Stranger not found");
    }
    assert_eq!(t.count("SELECT COUNT(*) FROM stranger_blocks").await, 0);
    assert_eq!(
        t.count("SELECT COUNT(*) FROM audit_log WHERE event_type = 'STRANGER_BLOCK'")
            .await,
        0
    );
    t.post_as(
        &moderator,
        &block_path(stranger_id),
        json!({"reason": "x", "duration": 31_536_000}),
    )
    .await
    .assert_ok();
});

both_backends!(
    a_block_is_not_written_when_its_audit_row_fails,
    |t: TestApp| async move {
        let people = People::new(&t).await;
        let (_, moderator) = people.at("mod", 1).await;
        let (stranger_id, _) = stranger(&people, "quiet-otter-4821").await;
        queue_entry(&t, stranger_id, &["gaming"], 600, None).await;
        t.app.store.fail_audit_inserts(true);
        t.post_as(
            &moderator,
            &block_path(stranger_id),
            json!({"reason": "x", "duration": 0}),
        )
        .await
        .assert_error(500, "ERR_INTERNAL");
        t.app.store.fail_audit_inserts(false);
        assert_eq!(t.count("SELECT COUNT(*) FROM stranger_blocks").await, 0);
        assert_eq!(t.count("SELECT COUNT(*) FROM match_entries").await, 1);
    }
);

both_backends!(blocks_are_listed_newest_first_with_filters, |t: TestApp| async move {
    let people = People::new(&t).await;
    let (_, moderator) = people.at("mod", 1).await;
    let (otter, _) = stranger(&people, "quiet-otter-4821").await;
    let (heron, _) = stranger(&people, "brave-heron-1234").await;
    let issue = |user_id: i64, duration: i64| {
        let (t, moderator) = (&t, &moderator);
        async move {
            let r = t
                .post_as(
                    moderator,
                    &block_path(user_id),
                    json!({"reason": "x", "duration": duration}),
                )
                .await;
            r.assert_ok()["block"]["id"].as_i64().unwrap()
        }
    };
    let short = issue(otter, 60).await;
    t.clock.advance_secs(1);
    let lifted = issue(heron, 0).await;
    t.clock.advance_secs(1);
    let permanent = issue(otter, 0).await;
    t.post_as(&moderator, &lift_path(lifted), json!({"reason": "mistake"}))
        .await
        .assert_ok();

    let listed = |query: String| {
        let (t, moderator) = (&t, &moderator);
        async move {
            let r = get(t, moderator, &format!("{BLOCKS}{query}")).await;
            let body = r.assert_ok();
            assert_eq!(keys(body), ["blocks", "limit", "offset", "total"]);
            (ids(&body["blocks"]), body["total"].as_i64().unwrap())
        }
    };
    assert_eq!(listed(String::new()).await, (vec![permanent, lifted, short], 3));
    assert_eq!(listed("?active_only=true".into()).await, (vec![permanent, short], 2));
    assert_eq!(
        listed("?active_only=0".into()).await,
        (vec![permanent, lifted, short], 3)
    );
    assert_eq!(listed(format!("?user_id={otter}")).await, (vec![permanent, short], 2));
    assert_eq!(listed(format!("?user_id={heron}&active_only=1")).await, (vec![], 0));
    assert_eq!(listed("?limit=1&offset=2".into()).await, (vec![short], 3));
    let page = get(&t, &moderator, &format!("{BLOCKS}?limit=2")).await;
    assert_eq!(
        (page.body["limit"].as_i64(), page.body["offset"].as_i64()),
        (Some(2), Some(0))
    );
    assert!(page.body["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|block| keys(block) == BLOCK_FIELDS));

    // A block is in force until its end, exactly.
    t.clock.advance_secs(57);
    assert_eq!(listed("?active_only=1".into()).await, (vec![permanent, short], 2));
    t.clock.advance_secs(1);
    assert_eq!(listed("?active_only=1".into()).await, (vec![permanent], 1));

    for (query, field, message) in [
        ("user_id=0", "user_id", "user_id must be at least 1"),
        ("active_only=maybe", "active_only", "active_only must be a boolean"),
        ("offset=x", "offset", "offset must be an integer"),
        ("limit=101", "limit", "limit must be between 1 and 100"),
    ] {
        assert_validation(&get(&t, &moderator, &format!("{BLOCKS}?{query}")).await, field, message);
    }
});

both_backends!(a_lift_ends_a_block_in_force_once, |t: TestApp| async move {
    let people = People::new(&t).await;
    let (_, moderator) = people.at("mod", 1).await;
    let (admin_id, admin) = people.at("admin", 2).await;
    let (stranger_id, _) = stranger(&people, "quiet-otter-4821").await;
    let issued_at = t.app.now();
    let issued = t
        .post_as(
            &moderator,
            &block_path(stranger_id),
            json!({"reason": "Harassment", "duration": 3600}),
        )
        .await;
    let issued = issued.assert_ok()["block"].clone();
    let block_id = issued["id"].as_i64().unwrap();
    let expiring = t
        .post_as(
            &moderator,
            &block_path(stranger_id),
            json!({"reason": "Short", "duration": 60}),
        )
        .await;
    let expiring = expiring.assert_ok()["block"]["id"].as_i64().unwrap();

    // Whoever issued it, any Moderator+ lifts it; the stranger may be gone by then.
    t.exec(&format!("DELETE FROM users WHERE id = {stranger_id}")).await;
    t.clock.advance_secs(10);
    let lifted_at = t.app.now();
    let r = t
        .post_as(
            &admin,
            &lift_path(block_id),
            json!({"reason": " Shared address of a school "}),
        )
        .await;
    let body = r.assert_ok();
    assert_eq!(keys(body), ["block", "message"]);
    assert_eq!(body["message"], format!("Stranger block {block_id} lifted"));
    let mut expected = issued.clone();
    expected["is_lifted"] = json!(true);
    expected["lifted_at"] = json!(rfc3339(lifted_at));
    expected["lifted_by_id"] = json!(admin_id);
    assert_eq!(body["block"], expected);
    assert_eq!(
        audits(&t, "STRANGER_BLOCK_LIFT").await,
        [(
            Some(admin_id),
            "user".to_owned(),
            Some(stranger_id),
            json!({"block_id": block_id, "reason": "Shared address of a school"})
        )]
    );
    // The lift reason is stored, never shown.
    assert_eq!(
        t.count("SELECT COUNT(*) FROM stranger_blocks WHERE lift_reason = 'Shared address of a school'")
            .await,
        1
    );
    assert!(!body.to_string().contains("Shared address"));
    // Only the other block covers the address group now.
    assert_eq!(
        covered(&t, None, STRANGER_GROUP, lifted_at).await,
        Some(Some(issued_at + 60 * SECOND))
    );

    // Lifted or expired, a block is answered as it stands and nothing is written.
    t.clock.advance_secs(60);
    let again = t
        .post_as(&moderator, &lift_path(block_id), json!({"reason": "again"}))
        .await;
    assert_eq!(again.assert_ok()["block"], expected);
    let over = t
        .post_as(&moderator, &lift_path(expiring), json!({"reason": "late"}))
        .await;
    let over = over.assert_ok()["block"].clone();
    assert_eq!(
        (
            over["is_lifted"].clone(),
            over["lifted_at"].clone(),
            over["lifted_by_id"].clone()
        ),
        (json!(false), Value::Null, Value::Null)
    );
    assert_eq!(audits(&t, "STRANGER_BLOCK_LIFT").await.len(), 1);
    assert_eq!(
        t.count("SELECT COUNT(*) FROM stranger_blocks WHERE lifted_at IS NOT NULL")
            .await,
        1
    );

    let unknown = t
        .post_as(&moderator, &lift_path(expiring + 1), json!({"reason": "x"}))
        .await;
    unknown.assert_error(404, "ERR_STRANGER_BLOCK_NOT_FOUND");
    assert_eq!(unknown.body["error"], "Stranger block not found");
    for (path, body, field, message) in [
        (
            "0".to_owned(),
            json!({"reason": "x"}),
            "block_id",
            "block_id must be a positive integer",
        ),
        (
            "x1".to_owned(),
            json!({}),
            "block_id",
            "block_id must be a positive integer",
        ),
        (block_id.to_string(), json!({}), "reason", "reason is required"),
        (
            block_id.to_string(),
            json!({"reason": ""}),
            "reason",
            "reason must be at least 1 characters",
        ),
        (
            block_id.to_string(),
            json!({"reason": "x".repeat(501)}),
            "reason",
            "reason must be at most 500 characters",
        ),
    ] {
        let r = t.post_as(&moderator, &format!("{BLOCKS}/{path}/lift"), body).await;
        assert_validation(&r, field, message);
    }
});

both_backends!(
    the_counters_apply_every_deadline_at_the_request,
    |t: TestApp| async move {
        let people = People::new(&t).await;
        let (_, moderator) = people.at("mod", 1).await;
        let mut users = Vec::new();
        for name in ["a", "b", "c", "d", "e", "f"] {
            users.push(t.user(name, 0).await.id);
        }
        let [a, b, c, d, e, f] = users[..] else { unreachable!() };
        queue_entry(&t, a, &["gaming", "music"], 600, None).await;
        // Away for 10 of its 30 seconds of grace.
        queue_entry(&t, b, &["music"], 600, Some(10)).await;
        queue_entry(&t, c, &["movies"], 10, None).await;
        // Past its deadline, though still stored.
        queue_entry(&t, d, &["gaming"], 0, None).await;

        let connected = [None, None];
        direct_chat(
            &t,
            [a, b],
            DirectChat {
                expires_in_s: 86_400,
                ended: None,
                away_s_ago: connected,
            },
        )
        .await;
        direct_chat(
            &t,
            [a, c],
            DirectChat {
                expires_in_s: 20,
                ended: None,
                away_s_ago: connected,
            },
        )
        .await;
        // One participant has just gone away: 60 seconds to come back.
        direct_chat(
            &t,
            [b, c],
            DirectChat {
                expires_in_s: 86_400,
                ended: None,
                away_s_ago: [None, Some(0)],
            },
        )
        .await;
        direct_chat(
            &t,
            [c, d],
            DirectChat {
                expires_in_s: 86_000,
                ended: Some((100, 50)),
                away_s_ago: connected,
            },
        )
        .await;
        direct_chat(
            &t,
            [d, e],
            DirectChat {
                expires_in_s: 86_000,
                ended: Some((86_400, 0)),
                away_s_ago: connected,
            },
        )
        .await;
        // Expired longer ago than the archive lasts, and never written as ended.
        direct_chat(
            &t,
            [e, f],
            DirectChat {
                expires_in_s: -86_401,
                ended: None,
                away_s_ago: connected,
            },
        )
        .await;
        crate::common::chats::create_private(&t, &people.at("owner", 2).await.1, "group chat").await;

        let (live, _) = stranger(&people, "quiet-otter-4821").await;
        let (ended, _) = stranger(&people, "brave-heron-1234").await;
        // A stranger without a session.
        let sessionless = t.user("sessionless", 0).await;
        make_stranger(&t, sessionless.id, "tiny-lynx-0001").await;
        t.exec(&format!(
            "UPDATE sessions SET expires_at = {} WHERE user_id = {live}",
            t.app.now() + 40 * SECOND
        ))
        .await;
        t.exec(&format!(
            "UPDATE sessions SET ended_at = {} WHERE user_id = {ended}",
            t.app.now()
        ))
        .await;
        let handled = report(&t, 77, &party(a, "a", false, None), &party(b, "b", false, None), "x").await;
        report(&t, 78, &party(a, "a", false, None), &party(c, "c", false, None), "y").await;
        report(&t, 79, &party(b, "b", false, None), &party(c, "c", false, None), "z").await;
        t.post_as(&moderator, &handle_path(handled), json!({}))
            .await
            .assert_ok();

        let stats = |after_s: i64| {
            let (t, moderator) = (&t, &moderator);
            async move {
                t.clock.advance_secs(after_s);
                let r = get(t, moderator, STATS).await;
                let body = r.assert_ok().clone();
                assert_eq!(
                    keys(&body),
                    [
                        "active_chat_count",
                        "archived_chat_count",
                        "open_report_count",
                        "queues",
                        "searching_count",
                        "stranger_count"
                    ]
                );
                body
            }
        };
        let queues = |list: &[(&str, i64)]| {
            json!(list
                .iter()
                .map(|(tag, n)| json!({"tag": tag, "waiting": n}))
                .collect::<Vec<_>>())
        };

        let now = stats(0).await;
        assert_eq!(now["searching_count"], 3);
        assert_eq!(now["queues"], queues(&[("music", 2), ("gaming", 1), ("movies", 1)]));
        assert_eq!(
            (now["active_chat_count"].as_i64(), now["archived_chat_count"].as_i64()),
            (Some(3), Some(1))
        );
        assert_eq!(now["stranger_count"], 1);
        assert_eq!(now["open_report_count"], 2);

        // The entry of c reaches its deadline; the chat of a and c its expiry.
        let later = stats(10).await;
        assert_eq!(later["searching_count"], 2);
        assert_eq!(later["queues"], queues(&[("music", 2), ("gaming", 1)]));
        let later = stats(10).await;
        assert_eq!(later["searching_count"], 1, "b has been away for 30 s");
        assert_eq!(later["queues"], queues(&[("gaming", 1), ("music", 1)]));
        assert_eq!(
            (
                later["active_chat_count"].as_i64(),
                later["archived_chat_count"].as_i64()
            ),
            (Some(2), Some(2))
        );
        // The archive written as ended is deleted at its `deletes_at`; the live stranger's session ends.
        let later = stats(30).await;
        assert_eq!(
            (
                later["active_chat_count"].as_i64(),
                later["archived_chat_count"].as_i64()
            ),
            (Some(2), Some(1))
        );
        assert_eq!(later["stranger_count"], 0);
        // b and c's chat: the away participant's 60 seconds are over.
        let later = stats(10).await;
        assert_eq!(
            (
                later["active_chat_count"].as_i64(),
                later["archived_chat_count"].as_i64()
            ),
            (Some(1), Some(2))
        );
        // A day and 20 seconds on, the first chat has expired, and the one that expired at 20 s has
        // been deleted.
        let later = stats(86_400 - 40).await;
        assert_eq!(
            (
                later["active_chat_count"].as_i64(),
                later["archived_chat_count"].as_i64()
            ),
            (Some(0), Some(2))
        );
        assert_eq!(later["searching_count"], 0);
        assert_eq!(later["queues"], json!([]));
    }
);

both_backends!(at_most_a_hundred_queues_are_listed, |t: TestApp| async move {
    let people = People::new(&t).await;
    let (_, moderator) = people.at("mod", 1).await;
    for n in 0..101 {
        let user = t.user(&format!("waiting{n}"), 0).await;
        let tags = [format!("tag{n:03}"), "common".to_owned()];
        queue_entry(&t, user.id, &[tags[0].as_str(), tags[1].as_str()], 600, None).await;
    }
    let r = get(&t, &moderator, STATS).await;
    let queues = r.assert_ok()["queues"].as_array().unwrap().clone();
    assert_eq!(r.body["searching_count"], 101);
    assert_eq!(queues.len(), 100);
    assert_eq!(queues[0], json!({"tag": "common", "waiting": 101}));
    assert_eq!(queues[1], json!({"tag": "tag000", "waiting": 1}));
    assert_eq!(queues[99], json!({"tag": "tag098", "waiting": 1}));
});

both_backends!(the_audit_log_filters_the_matchmaking_events, |t: TestApp| async move {
    let people = People::new(&t).await;
    let (_, moderator) = people.at("mod", 1).await;
    let (stranger_id, _) = stranger(&people, "quiet-otter-4821").await;
    let block = t
        .post_as(
            &moderator,
            &block_path(stranger_id),
            json!({"reason": "x", "duration": 0}),
        )
        .await;
    let block_id = block.assert_ok()["block"]["id"].as_i64().unwrap();
    t.post_as(&moderator, &lift_path(block_id), json!({"reason": "y"}))
        .await
        .assert_ok();
    let id = report(
        &t,
        77,
        &party(41, "alice", false, None),
        &party(stranger_id, "quiet-otter-4821", true, None),
        "z",
    )
    .await;
    t.post_as(&moderator, &handle_path(id), json!({})).await.assert_ok();
    for event_type in ["STRANGER_BLOCK", "STRANGER_BLOCK_LIFT", "MATCH_REPORT_HANDLE"] {
        let r = get(
            &t,
            &moderator,
            &format!("/v1/admin/audit/logs?event_type={event_type}&target_id={stranger_id}"),
        )
        .await;
        let items = r.assert_ok()["items"].as_array().unwrap().clone();
        assert_eq!(items.len(), 1, "{event_type}");
        assert_eq!(items[0]["event_type"], event_type);
        assert_eq!(items[0]["target_type"], "user");
    }
    let r = get(&t, &moderator, "/v1/admin/audit/logs?event_type=STRANGER_UNBLOCK").await;
    r.assert_error(400, "ERR_VALIDATION");
    assert_eq!(r.body["field"], "event_type");
    assert!(r.body["error"]
        .as_str()
        .unwrap()
        .ends_with("STRANGER_BLOCK_LIFT, MATCH_REPORT_HANDLE, BROWSER_START, BROWSER_STOP, BROWSER_CONTROL_OVERRIDE"));
});

both_backends!(staff_never_see_a_strangers_address_group, |t: TestApp| async move {
    let people = People::new(&t).await;
    let (_, moderator) = people.at("mod", 1).await;
    let (stranger_id, _) = stranger(&people, "quiet-otter-4821").await;
    queue_entry(&t, stranger_id, &["gaming"], 600, None).await;
    let mut answers = Vec::new();
    let block = t
        .post_as(
            &moderator,
            &block_path(stranger_id),
            json!({"reason": "x", "duration": 60}),
        )
        .await;
    let block_id = block.assert_ok()["block"]["id"].as_i64().unwrap();
    answers.push(block.body.clone());
    let id = report(
        &t,
        77,
        &party(41, "alice", false, None),
        &party(stranger_id, "quiet-otter-4821", true, Some("NL")),
        "z",
    )
    .await;
    for path in [
        REPORTS.to_owned(),
        STATS.to_owned(),
        BLOCKS.to_owned(),
        "/v1/admin/audit/logs".to_owned(),
    ] {
        answers.push(get(&t, &moderator, &path).await.assert_ok().clone());
    }
    for (path, body) in [
        (handle_path(id), json!({})),
        (lift_path(block_id), json!({"reason": "y"})),
    ] {
        answers.push(t.post_as(&moderator, &path, body).await.assert_ok().clone());
    }
    answers.push(get(&t, &moderator, "/v1/admin/audit/logs").await.assert_ok().clone());
    // The group is stored with the block, and nowhere staff can read it.
    assert_eq!(
        t.count(&format!(
            "SELECT COUNT(*) FROM stranger_blocks WHERE address_group = '{STRANGER_GROUP}'"
        ))
        .await,
        1
    );
    for answer in &answers {
        assert!(!answer.to_string().contains(STRANGER_GROUP), "{answer}");
    }
    assert_eq!(
        t.count(&format!(
            "SELECT COUNT(*) FROM audit_log WHERE metadata LIKE '%{STRANGER_GROUP}%'"
        ))
        .await,
        0
    );
    assert_eq!(t.count("SELECT COUNT(*) FROM audit_log WHERE event_type IN ('STRANGER_BLOCK', 'STRANGER_BLOCK_LIFT', 'MATCH_REPORT_HANDLE')").await, 3);
});

both_backends!(
    staff_acting_at_once_write_one_handle_and_one_lift,
    |t: TestApp| async move {
        let people = People::new(&t).await;
        let mut staff = Vec::new();
        for n in 0..6 {
            staff.push(people.at(&format!("mod{n}"), 1).await);
        }
        let (stranger_id, _) = stranger(&people, "quiet-otter-4821").await;
        let id = report(
            &t,
            77,
            &party(41, "alice", false, None),
            &party(stranger_id, "quiet-otter-4821", true, None),
            "z",
        )
        .await;
        let block = t
            .post_as(
                &staff[0].1,
                &block_path(stranger_id),
                json!({"reason": "x", "duration": 0}),
            )
            .await;
        let block_id = block.assert_ok()["block"]["id"].as_i64().unwrap();

        let handles = staff.iter().map(|(_, token)| {
            let t = &t;
            async move {
                t.post_as(token, &handle_path(id), json!({"note": format!("by {token}")}))
                    .await
            }
        });
        let answers = futures_util::future::join_all(handles).await;
        let first = answers[0].assert_ok()["report"].clone();
        assert!(answers.iter().all(|r| r.assert_ok()["report"] == first));
        assert_eq!(audits(&t, "MATCH_REPORT_HANDLE").await.len(), 1);

        let lifts = staff.iter().map(|(_, token)| {
            let t = &t;
            async move { t.post_as(token, &lift_path(block_id), json!({"reason": "y"})).await }
        });
        let answers = futures_util::future::join_all(lifts).await;
        let first = answers[0].assert_ok()["block"].clone();
        assert_eq!(first["is_lifted"], true);
        assert!(answers.iter().all(|r| r.assert_ok()["block"] == first));
        let lifts = audits(&t, "STRANGER_BLOCK_LIFT").await;
        assert_eq!(lifts.len(), 1);
        assert_eq!(lifts[0].0, first["lifted_by_id"].as_i64());
    }
);
