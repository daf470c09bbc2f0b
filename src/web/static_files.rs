//! [`StaticFiles`]: serves a directory (Tornado's `StaticFileHandler`).

use std::cell::Cell;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{
    ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, LAST_MODIFIED,
};
use http::{HeaderValue, Method, StatusCode};

use super::context::Context;
use super::outcome::HandlerResult;
use crate::error::Error;
use crate::reactor::Handle;

/// Files up to this size are read whole and sent at once; larger ones are streamed in
/// pieces of this size: at most one piece per response per loop iteration, the next one
/// read only once the previous piece reached the kernel.
pub const CHUNK_SIZE: u64 = 64 * 1024;

/// At most this many bytes of streamed files (those larger than [`CHUNK_SIZE`]) are read
/// in one loop iteration, over all the responses on the thread; the other responses
/// wait for a later iteration, in turn.
pub const READ_PER_ITERATION: u64 = 16 * CHUNK_SIZE;

/// Serves the files under a root directory: `Content-Type` from the extension,
/// `ETag` / `If-None-Match` and `Last-Modified` / `If-Modified-Since` → 304, a single
/// `Range` → 206 (416 when unsatisfiable), `HEAD`, large files streamed with
/// backpressure. A path with a `..` segment (also when sent percent-encoded) is 403, a
/// path that resolves outside the root (a symlink out) 403, a missing file 404, a
/// directory 403.
///
/// The `ETag` is made of the file's size and modification time, so it changes when the
/// file does without reading it.
///
/// Files are read on the loop thread with plain blocking reads (quick for files in the
/// page cache), a bounded amount at a time: a file larger than [`CHUNK_SIZE`] is read one
/// piece per loop iteration per response, [`READ_PER_ITERATION`] bytes per iteration in
/// all, and not at all while the previous piece waits for a slow client. So a thousand
/// clients that request a large file and never read it hold one piece each in memory,
/// and other requests are answered in between.
///
/// Usually mounted with [`Application::static_files`](super::Application::static_files).
#[derive(Debug, Clone)]
#[doc(alias = "StaticFileHandler")]
pub struct StaticFiles {
    root: PathBuf,
}

/// A byte range to send: `start..end` of a file of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Span {
    Whole,
    Part { start: u64, end: u64 },
    Unsatisfiable,
}

impl StaticFiles {
    /// Serves the files under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        StaticFiles { root: root.into() }
    }

    /// Answers `ctx` with the file at `path` (relative, `/`-separated, already
    /// percent-decoded) under the root.
    ///
    /// # Errors
    /// [`Error::Http`] 403 / 404 as described on the type; the application turns them
    /// into error pages.
    ///
    /// A request with a `v` query argument (a [`Context::static_url`]) is answered with a
    /// ten-year cache lifetime: its URL changes with the file.
    pub fn serve(&self, ctx: &mut Context, path: &str) -> HandlerResult {
        let file = self.resolve(path)?;
        if ctx.query_argument("v").is_some() {
            let age = super::static_url::VERSIONED_MAX_AGE_SECS;
            ctx.set_header("cache-control", &format!("max-age={age}, public"));
        }
        // Checked before opening: opening a FIFO for reading would block the loop.
        if !std::fs::metadata(&file)
            .map_err(|e| io_status(&e))?
            .is_file()
        {
            return Err(Error::http(403, "not a file"));
        }
        let (mut file, meta) = match File::open(&file).and_then(|f| {
            let m = f.metadata()?;
            Ok((f, m))
        }) {
            Ok(x) => x,
            Err(e) => return Err(io_status(&e)),
        };
        if !meta.is_file() {
            return Err(Error::http(403, "not a file"));
        }
        let size = meta.len();
        let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
        let etag = etag(size, mtime);
        let mime = mime_guess::from_path(path).first_or_octet_stream();
        let headers = ctx.headers_mut();
        headers.insert(ETAG, HeaderValue::from_str(&etag).expect("hex etag"));
        if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(mtime)) {
            headers.insert(LAST_MODIFIED, v);
        }
        headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        if not_modified(ctx, &etag, mtime) {
            ctx.set_status(StatusCode::NOT_MODIFIED);
            ctx.send(bytes::Bytes::new());
            return Ok(());
        }
        if let Ok(v) = HeaderValue::from_str(mime.as_ref()) {
            ctx.headers_mut().insert(CONTENT_TYPE, v);
        }
        // If-Range: a range only for the version the client has; otherwise all of it.
        let range = ctx.header("range").filter(|_| {
            ctx.header("if-range").is_none_or(|v| {
                v == etag || httpdate::parse_http_date(v).is_ok_and(|t| secs(t) == secs(mtime))
            })
        });
        let (start, end) = match parse_range(range, size) {
            Span::Whole => (0, size),
            Span::Part { start, end } => {
                ctx.set_status(StatusCode::PARTIAL_CONTENT);
                let cr = format!("bytes {start}-{}/{size}", end - 1);
                ctx.headers_mut()
                    .insert(CONTENT_RANGE, HeaderValue::from_str(&cr).expect("digits"));
                (start, end)
            }
            Span::Unsatisfiable => {
                ctx.set_status(StatusCode::RANGE_NOT_SATISFIABLE);
                let cr = format!("bytes */{size}");
                let headers = ctx.headers_mut();
                headers.insert(CONTENT_RANGE, HeaderValue::from_str(&cr).expect("digits"));
                headers.remove(CONTENT_TYPE);
                ctx.send(bytes::Bytes::new());
                return Ok(());
            }
        };
        let len = end - start;
        if ctx.request().method == Method::HEAD || len > CHUNK_SIZE {
            ctx.headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from(len));
        }
        if ctx.request().method == Method::HEAD {
            ctx.finish();
            return Ok(());
        }
        if start > 0 {
            file.seek(SeekFrom::Start(start))
                .map_err(|e| io_status(&e))?;
        }
        if len <= CHUNK_SIZE {
            let mut buf = vec![0; len as usize];
            file.read_exact(&mut buf).map_err(|e| io_status(&e))?;
            ctx.send(buf);
        } else {
            let ctx = ctx.detach();
            if let Some(handle) = ctx.handle() {
                pump(ctx, handle, file, len);
            }
        }
        Ok(())
    }

    /// The real path of `path` under the root, refusing anything that leaves it.
    fn resolve(&self, path: &str) -> Result<PathBuf, Error> {
        if path
            .split(['/', '\\'])
            .any(|seg| seg == ".." || seg.contains('\0'))
        {
            return Err(Error::http(403, "path outside the static directory"));
        }
        let root = self
            .root
            .canonicalize()
            .map_err(|_| Error::http(404, "Not Found"))?;
        let full = root
            .join(path.trim_start_matches('/'))
            .canonicalize()
            .map_err(|e| io_status(&e))?;
        if !full.starts_with(&root) {
            return Err(Error::http(403, "path outside the static directory"));
        }
        Ok(full)
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

fn io_status(e: &io::Error) -> Error {
    match e.kind() {
        io::ErrorKind::PermissionDenied => Error::http(403, "Forbidden"),
        _ => Error::http(404, "Not Found"),
    }
}

fn etag(size: u64, mtime: SystemTime) -> String {
    let nanos = mtime.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("\"{size:x}-{nanos:x}\"")
}

/// `If-None-Match` decides when present (weak comparison, `*` matches); otherwise
/// `If-Modified-Since` at or after the modification time (whole seconds).
fn not_modified(ctx: &Context, etag: &str, mtime: SystemTime) -> bool {
    if let Some(inm) = ctx.header("if-none-match") {
        return inm
            .split(',')
            .map(str::trim)
            .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag);
    }
    let Some(since) = ctx
        .header("if-modified-since")
        .and_then(|v| httpdate::parse_http_date(v).ok())
    else {
        return false;
    };
    secs(since) >= secs(mtime)
}

/// Whole seconds since the epoch (HTTP dates have no finer resolution).
fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Reads a single `bytes=` range. Malformed headers and several ranges are ignored
/// (the whole file is sent, as the RFC allows and Tornado does).
fn parse_range(header: Option<&str>, size: u64) -> Span {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Span::Whole;
    };
    if spec.contains(',') {
        return Span::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Span::Whole;
    };
    let num = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())).then(|| s.parse().ok())?
    };
    match (a.trim().is_empty(), b.trim().is_empty()) {
        (true, true) => Span::Whole,
        (true, false) => match num(b) {
            // The last n bytes.
            Some(0) => Span::Unsatisfiable,
            Some(_) if size == 0 => Span::Unsatisfiable,
            Some(n) => Span::Part {
                start: size.saturating_sub(n),
                end: size,
            },
            None => Span::Whole,
        },
        (false, open_end) => {
            let Some(start) = num(a) else {
                return Span::Whole;
            };
            let last = if open_end { Some(u64::MAX) } else { num(b) };
            match last {
                None => Span::Whole,
                Some(last) if last < start => Span::Whole,
                Some(_) if start >= size => Span::Unsatisfiable,
                Some(last) => Span::Part {
                    start,
                    end: last.saturating_add(1).min(size),
                },
            }
        }
    }
}

/// Sends `remaining` bytes of `file` in [`CHUNK_SIZE`] pieces, each read once the
/// previous one reached the kernel, in a later loop iteration than it, and within the
/// iteration's [`READ_PER_ITERATION`]; stops when the client leaves.
fn pump(mut ctx: Context, handle: Handle, mut file: File, remaining: u64) {
    if remaining == 0 || ctx.is_closed() {
        let _ = ctx.finish();
        return;
    }
    let n = remaining.min(CHUNK_SIZE) as usize;
    if !take_read_budget(&handle, n as u64) {
        later(handle, move |h| pump(ctx, h, file, remaining));
        return;
    }
    let mut buf = vec![0; n];
    if let Err(e) = file.read_exact(&mut buf) {
        // The file shrank or failed under us: the promised length cannot be met, so the
        // connection is closed (by dropping the unfinished response) rather than hang.
        log::error!("static file read failed mid-response: {e}");
        return;
    }
    ctx.write(buf).add_done_callback(move |f| match f.result() {
        // A fast client's write resolves at once, and done-callbacks run in the same
        // iteration: going on here would read the file as fast as the kernel takes it,
        // megabytes per client, while every other connection waits.
        Some(Ok(())) => later(handle, move |h| pump(ctx, h, file, remaining - n as u64)),
        _ => drop(ctx.finish()),
    });
}

/// Runs `f` in the next loop iteration: from a zero-delay timer, as a plain callback
/// added by a done-callback could still run in this one. Timers fire in the order of
/// their deadlines, so responses waiting for the budget take their turns in order.
fn later(handle: Handle, f: impl FnOnce(Handle) + 'static) {
    let h = handle.clone();
    handle.call_later(Duration::ZERO, move || f(h));
}

thread_local! {
    /// The loop iteration (of the reactor that last read) and the bytes read in it.
    static READ_BUDGET: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// Counts `n` bytes against this iteration's [`READ_PER_ITERATION`]; `false` when they
/// do not fit (the first piece of an iteration always does).
fn take_read_budget(handle: &Handle, n: u64) -> bool {
    let iteration = handle.stats().iterations;
    READ_BUDGET.with(|b| {
        let (at, used) = b.get();
        let used = if at == iteration { used } else { 0 };
        if used > 0 && used + n > READ_PER_ITERATION {
            return false;
        }
        b.set((iteration, used + n));
        true
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let p = |h: &str| parse_range(Some(h), 100);
        assert_eq!(p("bytes=0-9"), Span::Part { start: 0, end: 10 });
        assert_eq!(
            p("bytes=90-"),
            Span::Part {
                start: 90,
                end: 100
            }
        );
        assert_eq!(
            p("bytes=90-1000"),
            Span::Part {
                start: 90,
                end: 100
            }
        );
        assert_eq!(
            p("bytes=-10"),
            Span::Part {
                start: 90,
                end: 100
            }
        );
        assert_eq!(p("bytes=-1000"), Span::Part { start: 0, end: 100 });
        assert_eq!(p("bytes=100-"), Span::Unsatisfiable);
        assert_eq!(p("bytes=-0"), Span::Unsatisfiable);
        assert_eq!(p("bytes=5-1"), Span::Whole);
        assert_eq!(p("bytes=0-1,5-6"), Span::Whole);
        assert_eq!(p("bytes=a-b"), Span::Whole);
        assert_eq!(p("bytes=+1-2"), Span::Whole);
        assert_eq!(p("items=0-1"), Span::Whole);
        assert_eq!(p("bytes=-"), Span::Whole);
        assert_eq!(parse_range(None, 100), Span::Whole);
        assert_eq!(parse_range(Some("bytes=0-"), 0), Span::Unsatisfiable);
        assert_eq!(
            parse_range(Some("bytes=99999999999999999999999-"), 10),
            Span::Whole
        );
    }
}
