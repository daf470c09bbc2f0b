//! The chat example in a real browser: headless Chromium driven by Playwright
//! (`tests/browser/chat.py`). Two pages over WebSocket, then two with WebSocket removed
//! (long-polling): one sends, the other shows it within 100 ms, text escaped; after a
//! server restart both reconnect and keep chatting. Screenshots of failures go to
//! `target/tmp/chat_browser/`.
//!
//! Needs Debian's `chromium` and Python's `playwright` (no browser download: Playwright
//! drives /usr/bin/chromium); skips, saying so, when either is missing. `.ci/run`
//! installs both.

#![cfg(feature = "json")]

mod util;

use std::path::Path;
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";

fn missing() -> Option<String> {
    if !Path::new(CHROMIUM).exists() {
        return Some(format!("{CHROMIUM} is not installed"));
    }
    let playwright = Command::new("python3")
        .args(["-c", "import playwright.sync_api"])
        .status()
        .is_ok_and(|s| s.success());
    (!playwright).then(|| "the Python playwright package is not installed".to_string())
}

#[test]
fn two_pages_chat_over_websocket_and_long_polling_and_survive_a_restart() {
    if let Some(why) = missing() {
        eprintln!("chat_browser: skipped: {why} (.ci/run installs it)");
        return;
    }
    let chat = util::example_binary("chat");
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("chat_browser");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/chat.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg("--binary")
        .arg(&chat)
        .arg("--screenshots")
        .arg(&shots)
        .arg("--chromium")
        .arg(CHROMIUM)
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the browser test failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("websocket: ok") && stdout.contains("poll: ok"),
        "{stdout}"
    );
}
