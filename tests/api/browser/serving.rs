//! How the binary serves the front (src/http/web.rs): the shell and its files with their types,
//! validators and policy, and nothing else — no other path, however written, reaches a file.

use std::path::Path;

use crate::common::wire::{self, WireResponse};
use crate::common::{Kind, TestApp};

const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
    connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

fn header<'a>(r: &'a WireResponse, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shell_is_served_at_the_root_with_a_strict_policy() {
    let t = TestApp::new(Kind::Sqlite, |_| {}).await.unwrap();
    let addr = t.listen().await;
    let r = wire::send(addr, "GET", "/", &[], None).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(header(&r, "content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(header(&r, "content-security-policy"), Some(POLICY));
    assert_eq!(header(&r, "x-content-type-options"), Some("nosniff"));
    assert_eq!(header(&r, "cache-control"), Some("no-cache"));
    let html = r.text();
    assert!(
        html.contains(r#"<script type="module" src="/assets/js/main.js"></script>"#),
        "{html}"
    );
    assert!(header(&r, "x-correlation-id").is_some());

    // The validator: the same tag gets a bodiless 304, another tag the page again.
    let etag = header(&r, "etag").expect("an ETag").to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let r = wire::send(addr, "GET", "/", &[("If-None-Match", &etag)], None)
        .await
        .unwrap();
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert_eq!(header(&r, "etag"), Some(etag.as_str()));
    let listed = format!("\"0000\", W/{etag}");
    let r = wire::send(addr, "GET", "/", &[("If-None-Match", &listed)], None)
        .await
        .unwrap();
    assert_eq!(r.status, 304);
    let r = wire::send(addr, "GET", "/", &[("If-None-Match", "\"0000\"")], None)
        .await
        .unwrap();
    assert_eq!(r.status, 200);

    let r = wire::send(addr, "HEAD", "/", &[], None).await.unwrap();
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(header(&r, "content-type"), Some("text/html; charset=utf-8"));

    // Writing to the page is no method of it: the API's JSON 405.
    let r = wire::send(addr, "POST", "/", &[], None).await.unwrap();
    assert_eq!(r.status, 405);
    assert_eq!(r.json()["code"], "ERR_METHOD_NOT_ALLOWED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assets_are_served_with_their_types() {
    let t = TestApp::new(Kind::Sqlite, |_| {}).await.unwrap();
    let addr = t.listen().await;
    for (path, media_type) in [
        ("/assets/js/main.js", "text/javascript; charset=utf-8"),
        ("/assets/js/api.js", "text/javascript; charset=utf-8"),
        ("/assets/app.css", "text/css; charset=utf-8"),
        ("/assets/favicon.svg", "image/svg+xml"),
    ] {
        let r = wire::send(addr, "GET", path, &[], None).await.unwrap();
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(header(&r, "content-type"), Some(media_type), "{path}");
        assert_eq!(header(&r, "x-content-type-options"), Some("nosniff"), "{path}");
        assert!(header(&r, "etag").is_some(), "{path}");
        let on_disk = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("web").join(&path[1..])).unwrap();
        assert_eq!(r.body, on_disk, "{path} is the file of web/");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_path_reaches_anything_but_the_embedded_files() {
    let t = TestApp::new(Kind::Sqlite, |_| {}).await.unwrap();
    let addr = t.listen().await;
    for target in [
        "/assets/nope.js",
        "/assets/",
        "/assets/js",
        "/assets/../Cargo.toml",
        "/assets/../index.html",
        "/assets/js/../../index.html",
        "/assets/%2e%2e/%2e%2e/Cargo.toml",
        "/assets/..%2F..%2Fsrc%2Fmain.rs",
        "/assets//etc/passwd",
        "/assets/js/main.js/",
        "/assets/JS/MAIN.JS",
        "/assets/js/main.js%00.png",
        "/index.html",
        "/web/index.html",
        "/src/main.rs",
    ] {
        let raw = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        let r = wire::send_bytes(addr, raw.as_bytes()).await.unwrap();
        assert_eq!(r.status, 404, "{target}: {}", r.text());
        assert_eq!(r.json()["code"], "ERR_NOT_FOUND", "{target}");
        assert_eq!(header(&r, "content-type"), Some("application/json"), "{target}");
    }
}

/// Every file of `web/`, with its path.
fn web_files() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if let Ok(text) = std::fs::read_to_string(&path) {
                out.push((path.display().to_string(), text));
            }
        }
    }
    let mut out = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("web"), &mut out);
    out
}

/// The policy forbids inline script and style; the front must not need them, and it builds pages
/// from elements and text only, so nothing a user wrote can become markup.
#[test]
fn the_front_needs_no_inline_code_and_builds_no_markup_from_strings() {
    let files = web_files();
    assert!(files.iter().any(|(path, _)| path.ends_with("index.html")));
    for (path, text) in &files {
        if path.ends_with(".html") {
            for (i, _) in text.match_indices("<script") {
                let tag = &text[i..i + text[i..].find('>').unwrap()];
                assert!(tag.contains(" src="), "{path}: inline script {tag}");
            }
            assert!(!text.contains("<style"), "{path}: inline style");
            assert!(!text.contains(" style="), "{path}: style attribute");
            assert!(!text.contains(" onclick="), "{path}: inline handler");
        }
        if path.ends_with(".js") {
            for forbidden in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
                "new Function",
            ] {
                assert!(!text.contains(forbidden), "{path} uses {forbidden}");
            }
        }
        for remote in ["http://", "https://"] {
            assert!(
                !text.contains(&format!("src=\"{remote}")) && !text.contains(&format!("href=\"{remote}")),
                "{path} loads something from another host"
            );
        }
    }
}
