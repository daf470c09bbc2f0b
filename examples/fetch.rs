//! A small curl: fetch one URL with squall's blocking `HttpClient`.
//!
//! ```sh
//! cargo run --release --example fetch -- [-i] [-X METHOD] [-H 'Name: value']... [-d DATA] \
//!     [--timeout SECS] [--max-redirects N] [--max-body-size BYTES] \
//!     [--max-header-size BYTES] [--fail] URL
//! ```
//!
//! The body goes to stdout byte for byte (nothing for HEAD); with `-i` the status line
//! and header fields go to stderr. Redirects are followed. Exit status, like curl's: 0
//! for any complete response (22 for 4xx/5xx with `--fail`), 2 for bad usage, 1 for an
//! unsupported URL, 6 when the host does not resolve, 7 when the connection fails, 28
//! on timeout, 47 for too many redirects, 63 for a body over the limit, 8 for other
//! protocol errors. Errors are one line on stderr.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use squall::http::client::{HttpClient, HttpRequest};
use squall::Error;

const USAGE: &str =
    "usage: fetch [-i] [-X METHOD] [-H 'Name: value']... [-d DATA] [--timeout SECS] \
[--max-redirects N] [--max-body-size BYTES] [--max-header-size BYTES] [--fail] URL";

struct Args {
    include: bool,
    fail: bool,
    request: HttpRequest,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let (mut include, mut fail) = (false, false);
    let mut method = None;
    let mut headers = Vec::new();
    let mut data: Option<String> = None;
    let mut timeout = None;
    let mut max_redirects = None;
    let mut max_body = None;
    let mut max_header = None;
    let mut url = None;
    let num = |v: Option<String>, what: &str| -> Result<u64, String> {
        v.ok_or(format!("{what} needs a value"))?
            .parse()
            .map_err(|_| format!("{what}: not a number"))
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "-i" | "--include" => include = true,
            "-f" | "--fail" => fail = true,
            "-X" | "--request" => method = Some(args.next().ok_or("-X needs a method")?),
            "-H" | "--header" => headers.push(args.next().ok_or("-H needs a header")?),
            "-d" | "--data" => data = Some(args.next().ok_or("-d needs data")?),
            "--timeout" => {
                let v = args.next().ok_or("--timeout needs seconds")?;
                let secs: f64 = v.parse().map_err(|_| "--timeout: not a number")?;
                timeout = Some(Duration::from_secs_f64(secs));
            }
            "--max-redirects" => max_redirects = Some(num(args.next(), &a)? as u32),
            "--max-body-size" => max_body = Some(num(args.next(), &a)? as usize),
            "--max-header-size" => max_header = Some(num(args.next(), &a)? as usize),
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            _ if url.is_some() => return Err("only one URL".into()),
            _ => url = Some(a),
        }
    }
    let url = url.ok_or("no URL given")?;
    let method = match (method, &data) {
        (Some(m), _) => m,
        (None, Some(_)) => "POST".to_string(),
        (None, None) => "GET".to_string(),
    };
    let method = http::Method::from_bytes(method.as_bytes()).map_err(|_| "invalid method")?;
    let mut req = HttpRequest::new(&url)
        .method(method)
        .allow_nonstandard_methods(true);
    for h in headers {
        let (n, v) = h.split_once(':').ok_or(format!("bad header {h:?}"))?;
        req = req.header(n.trim(), v.trim());
    }
    if let Some(d) = data {
        req = req.body(d);
    }
    if let Some(t) = timeout {
        req = req.request_timeout(t).connect_timeout(t);
    }
    if let Some(n) = max_redirects {
        req = req.max_redirects(n);
    }
    if let Some(n) = max_body {
        req = req.max_body_size(n);
    }
    if let Some(n) = max_header {
        req = req.max_header_size(n);
    }
    Ok(Args {
        include,
        fail,
        request: req,
    })
}

/// curl's exit codes for the failures we can tell apart.
fn exit_code(e: &Error) -> u8 {
    match e {
        Error::Unsupported(_) => 1,
        Error::Resolve { .. } => 6,
        Error::Io(_) => 7,
        Error::Timeout | Error::HttpTimeout { .. } => 28,
        Error::Http { message, .. } | Error::HttpResponse { message, .. }
            if message.contains("redirect") && message.contains("too many") =>
        {
            47
        }
        Error::Http { message, .. } if message.contains("max_body_size") => 63,
        Error::Http { message, .. } if message.starts_with("invalid URL") => 3,
        _ => 8,
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("fetch: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = HttpClient::new().and_then(|mut c| c.fetch(args.request));
    let response = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("fetch: {e}");
            return ExitCode::from(exit_code(&e));
        }
    };
    if args.include {
        let mut err = std::io::stderr().lock();
        let v = if response.version == http::Version::HTTP_10 {
            "1.0"
        } else {
            "1.1"
        };
        let _ = write!(
            err,
            "HTTP/{v} {} {}\r\n",
            response.status.as_u16(),
            response.reason
        );
        for (n, val) in &response.headers {
            let _ = write!(err, "{n}: {}\r\n", String::from_utf8_lossy(val.as_bytes()));
        }
        let _ = write!(err, "\r\n");
    }
    let mut out = std::io::stdout().lock();
    if out
        .write_all(&response.body)
        .and_then(|()| out.flush())
        .is_err()
    {
        return ExitCode::from(23);
    }
    if args.fail && response.status.as_u16() >= 400 {
        eprintln!(
            "fetch: the requested URL returned error: {}",
            response.status.as_u16()
        );
        return ExitCode::from(22);
    }
    ExitCode::SUCCESS
}
