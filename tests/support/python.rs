//! Python peers: programs in Python run beside squall (a browser driven by Playwright).

use std::path::Path;
use std::process::Command;

/// Debian's Chromium, which Playwright drives (no browser download).
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Why the browser tests cannot run here (`None`: they can): Chromium or Python's
/// `playwright` missing.
pub fn browser_missing() -> Option<String> {
    if !Path::new(CHROMIUM).exists() {
        return Some(format!("{CHROMIUM} is not installed"));
    }
    let playwright = Command::new("python3")
        .args(["-c", "import playwright.sync_api"])
        .status()
        .is_ok_and(|s| s.success());
    (!playwright).then(|| "the Python playwright package is not installed".to_string())
}
