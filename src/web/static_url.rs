//! Content-hashed URLs of static files (Tornado's `static_url`): `/static/app.css?v=<hash>`,
//! which [`StaticFiles`](super::StaticFiles) serves with a long cache lifetime, so a
//! changed file gets a new URL and an unchanged one is never fetched twice.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

/// Most paths whose hashes are kept; beyond, the cache starts over.
pub const STATIC_URL_CACHE_ENTRIES: usize = 1024;

/// Cache lifetime of a static file requested with `?v=` (ten years, as Tornado's).
pub(crate) const VERSIONED_MAX_AGE_SECS: u64 = 86_400 * 365 * 10;

/// Hashes of the files under one directory, computed once each.
#[derive(Debug)]
pub(crate) struct StaticUrls {
    root: PathBuf,
    prefix: String,
    hashes: Mutex<HashMap<String, Option<String>>>,
}

impl StaticUrls {
    pub(crate) fn new(root: PathBuf, prefix: &str) -> Self {
        StaticUrls {
            root,
            prefix: prefix.to_string(),
            hashes: Mutex::new(HashMap::new()),
        }
    }

    /// `prefix + path`, with `?v=<hash of its content>` when the file can be read.
    /// The file is read (once, then its hash is remembered) on the calling thread, so
    /// `path` should name one of the application's own files, typically a literal in a
    /// template.
    pub(crate) fn url(&self, path: &str) -> String {
        let path = path.trim_start_matches('/');
        let mut hashes = self.hashes.lock().unwrap_or_else(|e| e.into_inner());
        let hash = match hashes.get(path) {
            Some(h) => h.clone(),
            None => {
                let h = self.hash(path);
                if hashes.len() >= STATIC_URL_CACHE_ENTRIES {
                    hashes.clear();
                }
                hashes.insert(path.to_string(), h.clone());
                h
            }
        };
        let base = format!("{}{}", self.prefix, path);
        match hash {
            Some(h) => format!("{base}?v={h}"),
            None => base,
        }
    }

    fn hash(&self, path: &str) -> Option<String> {
        let rel = Path::new(path);
        if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            return None;
        }
        match std::fs::read(self.root.join(rel)) {
            Ok(bytes) => {
                let digest = Sha256::digest(&bytes);
                Some(digest[..16].iter().map(|b| format!("{b:02x}")).collect())
            }
            Err(e) => {
                log::error!("static_url({path:?}): cannot read the file: {e}");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_carry_a_content_hash_that_follows_the_content() {
        let dir = std::env::temp_dir().join(format!("squall-static-url-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.css"), "body{}").unwrap();
        let urls = StaticUrls::new(dir.clone(), "/static/");
        let a = urls.url("a.css");
        assert!(a.starts_with("/static/a.css?v="), "{a}");
        assert_eq!(a.len(), "/static/a.css?v=".len() + 32);
        assert_eq!(urls.url("/a.css"), a, "cached, leading / ignored");
        assert_eq!(urls.url("missing.css"), "/static/missing.css");
        assert_eq!(urls.url("../etc/passwd"), "/static/../etc/passwd");
        std::fs::write(dir.join("a.css"), "body{color:red}").unwrap();
        let fresh = StaticUrls::new(dir.clone(), "/static/");
        assert_ne!(fresh.url("a.css"), a);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
