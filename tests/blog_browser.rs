//! The blog example in a real browser: headless Chromium driven by Playwright
//! (`tests/browser/blog.py`) signs up, signs out and in, composes an entry with
//! `<script>` in its title and body (shown as text, never run), edits it, finds it in
//! the archive and the feed; a form posted from another origin without the XSRF token
//! is refused. Screenshots go to `target/tmp/blog_browser/` (`entry.png`, and
//! `failure.png` on failure).
//!
//! Needs Debian's `chromium` and Python's `playwright`; skips, saying so, when either
//! is missing.

#![cfg(feature = "json")]

mod http_util;
mod util;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

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
fn sign_up_compose_edit_archive_feed_and_a_cross_site_post_refused() {
    if let Some(why) = missing() {
        eprintln!("blog_browser: skipped: {why} (.ci/run installs it)");
        return;
    }
    let blog = util::example_binary("blog");
    let db = http_util::temp_path("blog-browser.db");
    let _ = std::fs::remove_file(&db);
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("blog_browser");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/blog.py");
    let child = Command::new("python3")
        .arg(&script)
        .arg("--binary")
        .arg(&blog)
        .arg("--db")
        .arg(&db)
        .arg("--screenshots")
        .arg(&shots)
        .arg("--chromium")
        .arg(CHROMIUM)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    // A failure bound: every wait in the script has its own, this catches a hung browser.
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(Duration::from_secs(300)) {
        Ok(out) => out.expect("python3 output"),
        Err(_) => {
            // SAFETY: kill(2) on the pid of the child spawned above, not yet reaped
            // (its waiting thread is still blocked).
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("the browser script did not finish within 300 s");
        }
    };
    let _ = std::fs::remove_file(&db);
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success() && stdout.contains("blog: ok"),
        "the browser test failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
