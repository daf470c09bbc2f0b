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

mod support;

use support::process::example_binary;
use support::python::{browse, browser_or_skip};

#[test]
fn sign_up_compose_edit_archive_feed_and_a_cross_site_post_refused() {
    if !browser_or_skip("blog_browser") {
        return;
    }
    let blog = example_binary("blog");
    let db = support::http::temp_path("blog-browser.db");
    let _ = std::fs::remove_file(&db);
    let args = [
        std::ffi::OsStr::new("--binary"),
        blog.as_ref(),
        "--db".as_ref(),
        db.as_ref(),
    ];
    let out = browse("blog", args);
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
