//! A load generator on `AsyncHttpClient`: N GET requests, C at a time, one reactor.
//!
//! ```sh
//! cargo run --release --example load -- -c 100 -n 20000 http://127.0.0.1:8080/
//! ```
//!
//! `--c`, `--n` and `--url URL` are accepted too (the peers' benchmark scripts use them).
//!
//! While it runs, a progress line on stderr (only when stderr is a terminal: requests done,
//! rate, errors, elapsed). Then two stdout lines: the latency percentiles from an HDR
//! histogram,
//! `LATENCY count=N p50_ms=.. p90_ms=.. p99_ms=.. p99.9_ms=.. max_ms=..`,
//! and last a machine-readable summary:
//! `requests=N errors=E secs=S req_per_s=R p50_ms=.. p90_ms=.. p99_ms=.. bad_status=B`
//! (`errors`: requests that got no response; `bad_status`: responses with a status of 400
//! or more; latencies count every request, answered or not).
//!
//! `--plot FILE.svg` also draws the run: latency over time (p50, p99 and max per time
//! slice) above the latency distribution (latency by percentile).
//!
//! Exit status: 0 when every request got a response below 400, 1 when some did not (or
//! the run could not start, or the plot could not be written), 2 for a usage error.
//! `RUST_LOG` sets the log level (e.g. `RUST_LOG=squall=debug`).

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use squall::http::client::{AsyncHttpClient, ClientOptions, HttpRequest};
use squall::{Future, Handle, PeriodicCallback, Reactor};

#[path = "common/latency_plot.rs"]
mod latency_plot;
#[path = "common/loadstats.rs"]
mod loadstats;

use loadstats::{Latencies, Progress};

struct Run {
    client: AsyncHttpClient,
    request: HttpRequest,
    total: usize,
    started: usize,
    finished: usize,
    errors: usize,
    bad_status: usize,
    latencies: Latencies,
    /// (seconds from the start to sending, latency in ms) per request, for `--plot`.
    samples: Option<Vec<(f64, f64)>>,
    start: Instant,
    done: Future<()>,
    first_error: Option<String>,
}

const USAGE: &str = "\
usage: load [-c CONCURRENCY] [-n REQUESTS] [--plot FILE.svg] URL
  -c, --c N          requests in flight at once (default 10, at least 1)
  -n, --n N          requests in total (default 1000)
      --url URL      the URL to GET (or give it as the last argument; http:// or https://)
      --plot FILE    also draw latency over time and its distribution into FILE (SVG)
  -h, --help         this help
";

/// What the command line asked for.
struct Args {
    concurrency: usize,
    requests: usize,
    url: String,
    plot: Option<PathBuf>,
}

fn parse() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let (mut c, mut n, mut url, mut plot) = (10usize, 1000usize, None, None);
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Short('c') | Long("c") => c = parser.value()?.parse()?,
            Short('n') | Long("n") => n = parser.value()?.parse()?,
            Long("url") => url = Some(parser.value()?.string()?),
            Long("plot") => plot = Some(PathBuf::from(parser.value()?)),
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
        plot,
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
            let latency = t0.elapsed();
            r.latencies.record(latency);
            let sent = (t0 - r.start).as_secs_f64();
            if let Some(s) = &mut r.samples {
                s.push((sent, latency.as_secs_f64() * 1000.0));
            }
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

/// Redraws the progress line (if stderr is a terminal) four times a second.
fn progress(handle: &Handle, run: &Rc<RefCell<Run>>) -> (Rc<RefCell<Progress>>, PeriodicCallback) {
    let bar = Rc::new(RefCell::new(Progress::new(
        Some(run.borrow().total as u64),
        "requests",
    )));
    let (run, b) = (run.clone(), bar.clone());
    let pc = PeriodicCallback::new(handle, Duration::from_millis(250), move || {
        let r = run.borrow();
        b.borrow_mut().set(r.finished as u64, r.errors as u64);
    });
    if bar.borrow().visible() {
        pc.start();
    }
    (bar, pc)
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
        plot,
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
        latencies: Latencies::new(),
        samples: plot.as_ref().map(|_| Vec::with_capacity(n)),
        start: Instant::now(),
        done: done.clone(),
        first_error: None,
    }));
    let start = run.borrow().start;
    let (bar, ticker) = progress(&handle, &run);
    if n == 0 {
        done.set_result(());
    }
    for _ in 0..c.min(n) {
        issue(&run);
    }
    reactor.run_until(&done)?;
    let secs = start.elapsed().as_secs_f64();
    ticker.stop();
    let r = run.borrow();
    bar.borrow().finish(r.finished as u64, r.errors as u64);
    if let Some(e) = &r.first_error {
        eprintln!("load: first error: {e}");
    }
    let mut plotted = true;
    if let (Some(path), Some(samples)) = (&plot, &r.samples) {
        let title = format!("load -c {c} -n {n} {url}");
        if let Err(e) = latency_plot::write_svg(path, &title, samples, &r.latencies) {
            eprintln!("load: cannot write the plot: {e}");
            plotted = false;
        }
    }
    println!("{}", r.latencies.line());
    println!(
        "requests={} errors={} secs={:.3} req_per_s={:.0} p50_ms={:.3} p90_ms={:.3} p99_ms={:.3} bad_status={}",
        r.finished,
        r.errors,
        secs,
        r.finished as f64 / secs,
        r.latencies.ms_at(0.50),
        r.latencies.ms_at(0.90),
        r.latencies.ms_at(0.99),
        r.bad_status,
    );
    if r.bad_status > 0 {
        eprintln!(
            "load: {} responses had a status of 400 or more",
            r.bad_status
        );
    }
    Ok(r.errors == 0 && r.bad_status == 0 && plotted)
}
