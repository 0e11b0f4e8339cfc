//! Browser rooms on two nodes of one deployment (92-browser-rooms §10.2–10.3), on PostgreSQL and
//! Redis, against real Chromium: the machine runs on node A, a screen opened through node B is
//! relayed to it, the host drives through the relay, the internal route exists only for signed
//! requests, and a node that may not relay says so.

use axum::http::Method;

use super::*;
use crate::common::{redis_url, Kind, TestResponse};
use portal::browser::node_auth::{auth_header, NodeViewer, AUTH_HEADER, VIEWER_HEADER};
use portal::time::MICROS_PER_SECOND;
use tokio::net::TcpListener;

const NODE_SECRET: &str = "a-secret-the-nodes-share-0123456789";

/// Node A and node B on one PostgreSQL and one Redis, each serving on its own port and naming
/// itself by it, both relaying with the same secret. `None` (a loud skip, a failure under CI)
/// without Chromium, PostgreSQL or Redis.
async fn two_nodes(pages: SocketAddr) -> Option<((TestApp, SocketAddr), (TestApp, SocketAddr))> {
    if !chromium_present() {
        return None;
    }
    let redis = redis_url().await?;
    let listener_a = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let listener_b = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (addr_a, addr_b) = (listener_a.local_addr().unwrap(), listener_b.local_addr().unwrap());
    let a = TestApp::new(Kind::Postgres, |c| {
        browser_config(c, pages, Engine::Process);
        c.browser.max_viewers = 2;
        c.redis_url = Some(redis);
        c.browser.node_secret = Some(NODE_SECRET.into());
        c.browser.node_address = Some(format!("http://{addr_a}"));
    })
    .await?;
    let b = a
        .second_node_with(|c| c.browser.node_address = Some(format!("http://{addr_b}")))
        .await;
    for node in [&a, &b] {
        assert!(node.app.ephemeral.wait_connected(Duration::from_secs(2)).await);
    }
    a.listen_on(listener_a);
    b.listen_on(listener_b);
    Some(((a, addr_a), (b, addr_b)))
}

/// A request to a node's internal screen route, signed as `secret` says (or not at all), without
/// the upgrade headers: a node that accepts the signature answers 426.
async fn internal_request(
    node: &TestApp,
    method: Method,
    machine_id: i64,
    signed: Option<(&str, &str)>,
) -> TestResponse {
    let path = format!("/v1/internal/browser/machines/{machine_id}/screen");
    let mut request = node.req(method, &path);
    if let Some((viewer, auth)) = signed {
        request = request.header(VIEWER_HEADER, viewer).header(AUTH_HEADER, auth);
    }
    request.send().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_screen_opened_through_another_node_is_relayed_to_the_machine() {
    let pages = serve_pages().await;
    let Some(((a, addr_a), (b, addr_b))) = two_nodes(pages).await else {
        return;
    };
    let p = People::new(&a).await;
    let start_url = format!("http://{pages}/one");
    let (alice_id, alice) = p.premium("alice", 24 * HOUR).await;
    let (bob_id, bob) = p.at("bob", 0).await;
    let chat_id = create_private(&a, &alice, "cobrowse").await["id"].as_i64().unwrap();
    a.post(&format!("/v1/admin/chats/{chat_id}/update"))
        .cookie(&p.at("root", 3).await.1)
        .json(json!({"allow_control_requests": true,
                     "browser_config": {"browser": "chromium", "start_url": start_url, "kiosk": false}}))
        .send()
        .await
        .assert_ok();
    let code = new_invite(&a, &alice, chat_id, json!({})).await;
    a.post(&format!("/v1/portal/resolve/{code}"))
        .cookie(&bob)
        .send()
        .await
        .assert_ok();
    // Alice's realtime connection is on node B, Bob's on node A.
    let mut alice_device = Device::new(&b, addr_b, alice_id, &alice).await;
    let mut bob_device = Device::new(&a, addr_a, bob_id, &bob).await;
    alice_device.join(chat_id).await;
    bob_device.join(chat_id).await;

    start(&a, &alice, chat_id).await;
    let machine = a.app.browser.machine_of(chat_id).expect("the machine runs on node A");
    assert!(b.app.browser.machine_of(chat_id).is_none());
    alice_device.next_within("room:started", SLOW).await;

    // Through node B: relayed to node A, where the machine lives.
    let mut alice_screen = screen(addr_b, &alice, chat_id).await;
    let state = alice_screen.next("screen:state").await;
    assert_eq!(state["machine_id"], machine.id);
    assert_eq!(state["state"], "running");
    assert_eq!(
        state["you"],
        json!({"user_id": alice_id, "manager": true, "may_control": true})
    );
    let (_, width, height) = alice_screen.frame().await;
    assert_eq!((width, height), (640, 480));
    // Bob watches on node A directly; both are viewers of the one machine.
    let mut bob_screen = screen(addr_a, &bob, chat_id).await;
    bob_screen.next("screen:state").await;
    bob_screen.frame().await;
    let seen = alice_screen
        .next_where("screen:viewers", |d| d["viewers"].as_array().unwrap().len() == 2)
        .await;
    assert_eq!(seen["chat_id"], chat_id);

    // The host's control and clicks reach the machine through the relay.
    alice_screen.send("control:take", Value::Null).await;
    let changed = bob_screen
        .next_where("control:changed", |d| d["reason"] == "take")
        .await;
    assert_eq!(changed["host"]["id"], alice_id);
    alice_screen.click(100.0, 100.0).await;
    for screen in [&mut alice_screen, &mut bob_screen] {
        let page = screen.next_where("screen:page", |d| d["title"] == "Two").await;
        assert_eq!(page["url"], format!("http://{pages}/two"));
    }
    // And back: Bob asks on node A, the relayed host hands control over.
    bob_screen.send("control:request", Value::Null).await;
    alice_screen
        .next_where("control:changed", |d| d["reason"] == "request")
        .await;
    alice_screen.send("control:release", Value::Null).await;
    let changed = alice_screen
        .next_where("control:changed", |d| d["reason"] == "release")
        .await;
    assert_eq!(changed["host"]["id"], bob_id);
    alice_screen.send("ping", Value::Null).await;
    assert!(alice_screen.next("pong").await["at"].is_string());

    // A user's screen connections count over both nodes (§4.3): one relayed through node B and
    // two on node A are the three allowed, so a fourth is refused on either; one closed frees
    // its place for the other node.
    let mut more = Vec::new();
    for _ in 0..2 {
        let mut extra = screen(addr_a, &alice, chat_id).await;
        extra.next("screen:state").await;
        more.push(extra);
    }
    for addr in [addr_a, addr_b] {
        let (status, body) = try_screen(addr, &alice, chat_id).await.err().expect("refused");
        assert_eq!((status, body["code"].clone()), (429, json!("ERR_TOO_MANY_CONNECTIONS")));
    }
    drop(more.pop());
    let mut freed = None;
    for _ in 0..50 {
        if let Ok(screen) = try_screen(addr_b, &alice, chat_id).await {
            freed = Some(screen);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(freed.is_some(), "a closed screen's place was not given back");
    drop((freed, more));

    // A screenshot through node B is taken on node A and passed on whole.
    let (status, headers, png) = b
        .get(&chat_path(chat_id, "screenshot"))
        .cookie(&alice)
        .send_bytes()
        .await;
    assert_eq!(status.as_u16(), 200, "{}", String::from_utf8_lossy(&png));
    assert_eq!(headers["content-type"], "image/png");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    let size = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    assert_eq!((size(16), size(20)), (640, 480));

    // The internal route exists only for requests signed with the secret, whatever the method.
    let path = format!("/v1/internal/browser/machines/{}/screen", machine.id);
    let viewer = NodeViewer {
        user_id: bob_id,
        device: "ABCDEF".into(),
        node: format!("http://{addr_b}"),
    }
    .header_value();
    let now_s = a.app.now() / MICROS_PER_SECOND;
    for method in [Method::GET, Method::POST, Method::DELETE] {
        internal_request(&a, method, machine.id, None)
            .await
            .assert_error(404, "ERR_NOT_FOUND");
    }
    let forged = auth_header("not-the-secret-of-these-two-nodes!!", "GET", &path, now_s, &viewer);
    internal_request(&a, Method::GET, machine.id, Some((&viewer, &forged)))
        .await
        .assert_error(404, "ERR_NOT_FOUND");
    let stale = auth_header(NODE_SECRET, "GET", &path, now_s - 31, &viewer);
    internal_request(&a, Method::GET, machine.id, Some((&viewer, &stale)))
        .await
        .assert_error(404, "ERR_NOT_FOUND");
    // A signed request is accepted once (here it lacks the upgrade headers); its replay is not.
    let signed = auth_header(NODE_SECRET, "GET", &path, now_s, &viewer);
    internal_request(&a, Method::GET, machine.id, Some((&viewer, &signed)))
        .await
        .assert_error(426, "ERR_UPGRADE_REQUIRED");
    internal_request(&a, Method::GET, machine.id, Some((&viewer, &signed)))
        .await
        .assert_error(404, "ERR_NOT_FOUND");
    // The owning node's refusals reach the client as they are: a third viewer joined through
    // node B finds the screen full there.
    let (carol_id, carol) = p.at("carol", 0).await;
    let code = new_invite(&a, &alice, chat_id, json!({})).await;
    a.post(&format!("/v1/portal/resolve/{code}"))
        .cookie(&carol)
        .send()
        .await
        .assert_ok();
    let mut carol_device = Device::new(&b, addr_b, carol_id, &carol).await;
    carol_device.join(chat_id).await;
    let (status, body) = try_screen(addr_b, &carol, chat_id).await.err().expect("refused");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "ERR_SCREEN_FULL");

    // A node without the secret does not relay.
    let listener_c = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let c = a
        .second_node_with(|c| {
            c.browser.node_secret = None;
            c.browser.node_address = Some(format!("http://{}", listener_c.local_addr().unwrap()));
        })
        .await;
    assert!(c.app.ephemeral.wait_connected(Duration::from_secs(2)).await);
    let addr_c = c.listen_on(listener_c);
    let (status, body) = try_screen(addr_c, &alice, chat_id).await.err().expect("refused");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "ERR_BROWSER_NODE_UNREACHABLE");
    assert_eq!(body["error"], "The browser runs on another node");
    c.get(&chat_path(chat_id, "screenshot"))
        .cookie(&alice)
        .send()
        .await
        .assert_error(503, "ERR_BROWSER_NODE_UNREACHABLE");
    // Nor does it serve the internal route.
    let signed = auth_header(NODE_SECRET, "GET", &path, now_s, &viewer);
    internal_request(&c, Method::GET, machine.id, Some((&viewer, &signed)))
        .await
        .assert_error(404, "ERR_NOT_FOUND");

    // The relaying node holds the client to the limits of §7.2 and to the room rule.
    let mut bob_relayed = screen(addr_b, &bob, chat_id).await;
    bob_relayed.next("screen:state").await;
    bob_relayed
        .ws
        .send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    assert_eq!(bob_relayed.closed_with().await, 1003);
    let mut bob_relayed = screen(addr_b, &bob, chat_id).await;
    bob_relayed.next("screen:state").await;
    bob_device.leave(chat_id).await;
    assert_eq!(bob_relayed.closed_with().await, 4012);
    assert_eq!(bob_screen.closed_with().await, 4012);

    // Carol, kicked through node B while her screen is relayed there and she holds control,
    // loses both at once: the machine's node hears of it from node B (§8.5), and its 4011
    // reaches her through the relay.
    alice_screen
        .next_where("screen:viewers", |d| d["viewers"].as_array().unwrap().len() == 1)
        .await;
    let mut carol_screen = screen(addr_b, &carol, chat_id).await;
    carol_screen.next("screen:state").await;
    // Control is free since Bob left with it: her request takes it.
    carol_screen.send("control:request", Value::Null).await;
    alice_screen
        .next_where("control:changed", |d| d["host"]["id"] == carol_id)
        .await;
    b.post(&chat_path(chat_id, "kick"))
        .cookie(&alice)
        .json(json!({"user_id": carol_id}))
        .send()
        .await
        .assert_ok();
    assert_eq!(carol_screen.closed_with().await, 4011);
    let changed = alice_screen
        .next_where("control:changed", |d| d["reason"] == "removed")
        .await;
    assert_eq!(changed["host"], Value::Null);

    // The machine stops on node A: the relayed screen hears why, last, and closes with 4010.
    stop_heard_by(&a, &alice, chat_id, &mut alice_screen).await;
}
