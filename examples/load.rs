//! A load generator on `AsyncHttpClient`: N GET requests, C at a time, one reactor.
//!
//! ```sh
//! cargo run --release --example load -- -c 100 -n 20000 http://127.0.0.1:8080/
//! ```
//!
//! `--c`, `--n` and `--url URL` are accepted too (the peers' benchmark scripts use them).
//!
//! While it runs, a progress line on stderr (only when stderr is a terminal). The last
//! stdout line is a machine-readable summary:
//! `requests=N errors=E secs=S req_per_s=R p50_ms=.. p90_ms=.. p99_ms=.. bad_status=B`
//! (`errors`: requests that got no response; `bad_status`: responses with a status of 400
//! or more).
//!
//! Exit status: 0 when every request got a response below 400, 1 when some did not (or
//! the run could not start), 2 for a usage error. `RUST_LOG` sets the log level
//! (e.g. `RUST_LOG=squall=debug`).

use std::cell::RefCell;
use std::io::IsTerminal;
use std::rc::Rc;
use std::time::{Duration, Instant};

use squall::http::client::{AsyncHttpClient, ClientOptions, HttpRequest};
use squall::{Future, Handle, PeriodicCallback, Reactor};

struct Run {
    client: AsyncHttpClient,
    request: HttpRequest,
    total: usize,
    started: usize,
    finished: usize,
    errors: usize,
    bad_status: usize,
    latencies: Vec<Duration>,
    done: Future<()>,
    first_error: Option<String>,
}

const USAGE: &str = "\
usage: load [-c CONCURRENCY] [-n REQUESTS] URL
  -c, --c N      requests in flight at once (default 10, at least 1)
  -n, --n N      requests in total (default 1000)
      --url URL  the URL to GET (or give it as the last argument; http:// or https://)
  -h, --help     this help
";

/// What the command line asked for.
struct Args {
    concurrency: usize,
    requests: usize,
    url: String,
}

fn parse() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let (mut c, mut n, mut url) = (10usize, 1000usize, None);
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Short('c') | Long("c") => c = parser.value()?.parse()?,
            Short('n') | Long("n") => n = parser.value()?.parse()?,
            Long("url") => url = Some(parser.value()?.string()?),
            Short('h') | Long("help") => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            Value(v) if url.is_none() => url = Some(v.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    if c == 0 {
        return Err("-c must be at least 1".into());
    }
    let url = url.ok_or("no URL given")?;
    match url::Url::parse(&url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => {}
        Ok(u) => return Err(format!("{url}: unsupported scheme {}", u.scheme()).into()),
        Err(e) => return Err(format!("{url}: {e}").into()),
    }
    Ok(Args {
        concurrency: c,
        requests: n,
        url,
    })
}

fn issue(run: &Rc<RefCell<Run>>) {
    let (fut, t0) = {
        let mut r = run.borrow_mut();
        if r.started >= r.total {
            return;
        }
        r.started += 1;
        (r.client.fetch(r.request.clone()), Instant::now())
    };
    let run2 = run.clone();
    fut.add_done_callback(move |f| {
        let mut bad_status = false;
        let error = match f.take_result() {
            Some(Ok(response)) => {
                bad_status = response.status.as_u16() >= 400;
                None
            }
            Some(Err(e)) => Some(e.to_string()),
            None => Some("no result".to_string()),
        };
        {
            let mut r = run2.borrow_mut();
            r.finished += 1;
            r.latencies.push(t0.elapsed());
            r.bad_status += usize::from(bad_status);
            if let Some(e) = error {
                r.errors += 1;
                r.first_error.get_or_insert(e);
            }
            if r.finished == r.total {
                r.done.set_result(());
                return;
            }
        }
        issue(&run2);
    });
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

fn progress(handle: &Handle, run: &Rc<RefCell<Run>>, start: Instant) -> Option<PeriodicCallback> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let run = run.clone();
    let pc = PeriodicCallback::new(handle, Duration::from_millis(250), move || {
        let r = run.borrow();
        let secs = start.elapsed().as_secs_f64();
        eprint!(
            "\r{}/{} done, {} errors, {:.0} req/s   ",
            r.finished,
            r.total,
            r.errors,
            r.finished as f64 / secs
        );
    });
    pc.start();
    Some(pc)
}

fn main() {
    env_logger::init();
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprint!("load: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    match run(args) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("load: {e}");
            std::process::exit(1);
        }
    }
}

/// Runs the load; `Ok(false)` when some request failed.
fn run(args: Args) -> squall::Result<bool> {
    let Args {
        concurrency: c,
        requests: n,
        url,
    } = args;
    let mut reactor = Reactor::new()?;
    let handle = reactor.handle();
    let options = ClientOptions::default().max_clients(c).max_idle_per_host(c);
    let client = AsyncHttpClient::with_options(&handle, options);
    let done = Future::new();
    let run = Rc::new(RefCell::new(Run {
        client,
        request: HttpRequest::new(&url),
        total: n,
        started: 0,
        finished: 0,
        errors: 0,
        bad_status: 0,
        latencies: Vec::with_capacity(n),
        done: done.clone(),
        first_error: None,
    }));
    let start = Instant::now();
    let ticker = progress(&handle, &run, start);
    if n == 0 {
        done.set_result(());
    }
    for _ in 0..c.min(n) {
        issue(&run);
    }
    reactor.run_until(&done)?;
    let secs = start.elapsed().as_secs_f64();
    if let Some(t) = ticker {
        t.stop();
        eprintln!();
    }
    let mut r = run.borrow_mut();
    if let Some(e) = &r.first_error {
        eprintln!("load: first error: {e}");
    }
    r.latencies.sort_unstable();
    println!(
        "requests={} errors={} secs={:.3} req_per_s={:.0} p50_ms={:.3} p90_ms={:.3} p99_ms={:.3} bad_status={}",
        r.finished,
        r.errors,
        secs,
        r.finished as f64 / secs,
        percentile(&r.latencies, 0.50),
        percentile(&r.latencies, 0.90),
        percentile(&r.latencies, 0.99),
        r.bad_status,
    );
    if r.bad_status > 0 {
        eprintln!(
            "load: {} responses had a status of 400 or more",
            r.bad_status
        );
    }
    Ok(r.errors == 0 && r.bad_status == 0)
}
