//! The chat example in a real browser: headless Chromium driven by Playwright
//! (`tests/browser/chat.py`). Two pages over WebSocket, then two with WebSocket removed
//! (long-polling): one sends, the other shows every message, in order, text escaped; after
//! a server restart both reconnect and keep chatting (each wait a generous hang guard;
//! latencies are printed, not asserted: speed goals live in the load tools). Screenshots of failures go to
//! `target/tmp/chat_browser/`.
//!
//! Needs Debian's `chromium` and Python's `playwright` (no browser download: Playwright
//! drives /usr/bin/chromium); skips, saying so, when either is missing. `.ci/run`
//! installs both.

#![cfg(feature = "json")]

mod support;

use support::process::example_binary;
use support::python::browser_or_skip;

/// One browser run at a time: two Chromiums side by side on a small machine would blur
/// the delivery times each one checks.
static BROWSER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs the browser script with `args`; panics with its output if it failed.
fn browse(args: &[&str]) -> String {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let out = support::python::browse("chat", args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the browser test failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    stdout
}

#[test]
fn two_pages_chat_over_websocket_and_long_polling_and_survive_a_restart() {
    if !browser_or_skip("chat_browser") {
        return;
    }
    let chat = example_binary("chat");
    let out = browse(&["--binary", chat.to_str().unwrap()]);
    assert!(
        out.contains("websocket: ok") && out.contains("poll: ok"),
        "{out}"
    );
}

#[test]
fn pages_on_two_processes_chat_through_redis_and_through_nginx() {
    let name = "pages_on_two_processes_chat_through_redis_and_through_nginx";
    if !browser_or_skip(name) {
        return;
    }
    if !support::redis::available(name) || !support::deploy::nginx_available(name) {
        return;
    }
    let redis = support::redis::RedisServer::start();
    let url = redis.url();
    let args = ["--port", "0", "--xheaders", "--redis", &url];
    let chat = example_binary("chat");
    let a = support::deploy::Backend::start(&chat, &args);
    let b = support::deploy::Backend::start(&chat, &args);
    a.wait_log("subscribed to squall-chat");
    b.wait_log("subscribed to squall-chat");
    // One page on each process: only Redis connects them.
    let pages = format!("http://{}/,http://{}/", a.addr, b.addr);
    let out = browse(&["--pages", &pages]);
    assert_eq!(out.matches(": ok").count(), 2, "{out}");
    // Both pages through nginx, which spreads their requests over the two processes.
    let nginx = support::deploy::Nginx::start(&[a.port(), b.port()]);
    let proxied = format!("http://{0}/,http://{0}/", nginx.addr());
    let out = browse(&["--pages", &proxied]);
    assert_eq!(out.matches(": ok").count(), 2, "{out}");
    drop(nginx);
}
