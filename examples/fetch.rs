//! A small curl: fetch one URL with squall's blocking `HttpClient`.
//!
//! ```sh
//! cargo run --release --example fetch -- [-i] [-X METHOD] [-H 'Name: value']... [-d DATA] \
//!     [--timeout SECS] [--max-redirects N] [--max-body-size BYTES] \
//!     [--max-header-size BYTES] [--fail] [--cacert FILE] [-k|--insecure] \
//!     [--cert FILE --key FILE] URL
//! ```
//!
//! The body goes to stdout byte for byte (nothing for HEAD); with `-i` the status line
//! and header fields go to stderr. Redirects are followed. `https://` servers are
//! verified against the system roots, or the CA certificates of `--cacert`; `-k` skips
//! verification. `--help` prints the usage. `RUST_LOG` sets the log level (default
//! `warn`).
//!
//! Exit status, like curl's (errors are one line on stderr):
//!
//! | code | meaning |
//! |---|---|
//! | 0 | a complete response (any status, unless `--fail`) |
//! | 1 | unsupported URL scheme (not `http://` or `https://`) |
//! | 2 | bad usage (a message and the usage on stderr), e.g. `--timeout -1` |
//! | 3 | malformed URL |
//! | 6 | the host does not resolve |
//! | 7 | the connection fails |
//! | 8 | another protocol error (e.g. a malformed response) |
//! | 22 | a status of 400 or more, with `--fail` |
//! | 23 | the body could not be written to stdout |
//! | 28 | timeout |
//! | 35 | another TLS handshake failure (e.g. a server that does not speak TLS) |
//! | 47 | too many redirects |
//! | 58 | an unusable local certificate, key or CA file |
//! | 60 | a certificate problem (unknown issuer, hostname mismatch, expired) |
//! | 63 | a body over `--max-body-size` |

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use squall::http::client::{HttpClient, HttpRequest};
use squall::tls::{ClientTlsOptions, TlsErrorKind};
use squall::Error;

const USAGE: &str = "\
usage: fetch [-i] [-X METHOD] [-H 'Name: value']... [-d DATA] [--timeout SECS]
             [--max-redirects N] [--max-body-size BYTES] [--max-header-size BYTES] [--fail]
             [--cacert FILE] [-k|--insecure] [--cert FILE --key FILE] URL
  -i, --include              status line and header fields to stderr
  -X, --request METHOD       the method (default GET, or POST with -d)
  -H, --header 'Name: value' an extra header field (repeatable)
  -d, --data DATA            send DATA as the body
      --timeout SECS         connect and request timeout (a positive number of seconds)
      --max-redirects N      redirects to follow at most
      --max-body-size BYTES  longest response body accepted
      --max-header-size BYTES longest response head accepted
  -f, --fail                 exit 22 for a status of 400 or more
      --cacert FILE          trust the CA certificates in FILE (PEM)
  -k, --insecure             do not verify the server's certificate
      --cert FILE, --key FILE  client certificate chain and key (PEM)
  -h, --help                 this help
";

/// Longest `--timeout` accepted: a year.
const MAX_TIMEOUT_SECS: f64 = 365.0 * 24.0 * 3600.0;

struct Args {
    include: bool,
    fail: bool,
    request: HttpRequest,
}

/// The value of `flag` as a number; the error names the flag.
fn number<T>(parser: &mut lexopt::Parser, flag: &str) -> Result<T, lexopt::Error>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    use lexopt::prelude::*;
    let v = parser.value()?.string()?;
    v.parse().map_err(|e| format!("{flag} {v:?}: {e}").into())
}

fn parse_args() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let (mut include, mut fail) = (false, false);
    let mut method = None;
    let mut headers = Vec::new();
    let mut data: Option<String> = None;
    let mut timeout = None;
    let mut max_redirects: Option<u32> = None;
    let mut max_body: Option<usize> = None;
    let mut max_header: Option<usize> = None;
    let mut url = None;
    let mut tls = ClientTlsOptions::default();
    let (mut cert, mut key) = (None, None);
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Short('i') | Long("include") => include = true,
            Short('f') | Long("fail") => fail = true,
            Short('X') | Long("request") => method = Some(parser.value()?.string()?),
            Short('H') | Long("header") => headers.push(parser.value()?.string()?),
            Short('d') | Long("data") => data = Some(parser.value()?.string()?),
            Long("timeout") => {
                let secs: f64 = number(&mut parser, "--timeout")?;
                // NaN, infinities, negatives and huge values are usage errors, not panics.
                if !(secs > 0.0 && secs <= MAX_TIMEOUT_SECS) {
                    return Err(format!(
                        "--timeout {secs}: not a number of seconds between 0 and {MAX_TIMEOUT_SECS}"
                    )
                    .into());
                }
                timeout = Some(Duration::from_secs_f64(secs));
            }
            Long("max-redirects") => max_redirects = Some(number(&mut parser, "--max-redirects")?),
            Long("max-body-size") => max_body = Some(number(&mut parser, "--max-body-size")?),
            Long("max-header-size") => max_header = Some(number(&mut parser, "--max-header-size")?),
            Long("cacert") => tls = tls.ca_certs(parser.value()?.string()?),
            Short('k') | Long("insecure") => tls = tls.validate_cert(false),
            Long("cert") => cert = Some(parser.value()?.string()?),
            Long("key") => key = Some(parser.value()?.string()?),
            Short('h') | Long("help") => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            Value(v) if url.is_none() => url = Some(v.string()?),
            Value(_) => return Err("only one URL".into()),
            _ => return Err(arg.unexpected()),
        }
    }
    let url = url.ok_or("no URL given")?;
    let method = match (method, &data) {
        (Some(m), _) => m,
        (None, Some(_)) => "POST".to_string(),
        (None, None) => "GET".to_string(),
    };
    let method = http::Method::from_bytes(method.as_bytes())
        .map_err(|_| format!("invalid method {method:?}"))?;
    match (cert, key) {
        (Some(c), Some(k)) => tls = tls.client_cert(c, k),
        (None, None) => {}
        _ => return Err("--cert and --key go together".into()),
    }
    let mut req = HttpRequest::new(&url)
        .method(method)
        .allow_nonstandard_methods(true)
        .tls_options(tls);
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

/// curl's exit codes for the failures we can tell apart (the table in the header).
fn exit_code(e: &Error) -> u8 {
    match e {
        Error::Unsupported(_) => 1,
        Error::Resolve { .. } => 6,
        Error::Tls(e) if e.is_certificate_problem() => 60,
        Error::Tls(e) if e.kind() == TlsErrorKind::Config => 58,
        Error::Tls(_) => 35,
        Error::Io(_) => 7,
        Error::Timeout | Error::HttpTimeout { .. } => 28,
        Error::HttpFetch { message } | Error::HttpResponse { message, .. }
            if message.contains("redirect") && message.contains("too many") =>
        {
            47
        }
        Error::HttpFetch { message } if message.contains("max_body_size") => 63,
        Error::HttpFetch { message } if message.starts_with("invalid URL") => 3,
        Error::HttpFetch { message } if message.starts_with("unsupported URL scheme") => 1,
        _ => 8,
    }
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprint!("fetch: {e}\n{USAGE}");
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
