//! Tornado's `async_fetch_manual`, as written in the HTTP client issue: a callback on
//! the fetch future resolves our own future with the body.
//!
//! ```sh
//! cargo run --example async_fetch_manual -- http://127.0.0.1:8888/
//! ```
//! The URL defaults to `http://127.0.0.1:8888/` (the demo `http_server`). Exit status: 0
//! when the fetch succeeded, 1 when it failed (one line on stderr), 2 for a usage error.

use bytes::Bytes;
use squall::http::client::AsyncHttpClient;
use squall::{Future, Reactor};

fn async_fetch_manual(client: &AsyncHttpClient, url: &str) -> Future<Bytes> {
    let my_future = Future::new();
    let fetch_future = client.fetch(url);
    let out = my_future.clone();
    fetch_future.add_done_callback(move |f| match f.take_result().unwrap() {
        Ok(response) => out.set_result(response.body),
        Err(e) => out.set_error(e),
    });
    my_future
}

const USAGE: &str = "\
usage: async_fetch_manual [URL]
  fetches URL (default http://127.0.0.1:8888/) and prints the body's length and text
  -h, --help  this help
";

fn parse() -> Result<String, lexopt::Error> {
    use lexopt::prelude::*;
    let mut url = None;
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            Value(v) if url.is_none() => url = Some(v.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    let url = url.unwrap_or_else(|| "http://127.0.0.1:8888/".to_string());
    match url::Url::parse(&url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(url),
        Ok(u) => Err(format!("{url}: unsupported scheme {}", u.scheme()).into()),
        Err(e) => Err(format!("{url}: {e}").into()),
    }
}

fn main() {
    env_logger::init();
    let url = match parse() {
        Ok(url) => url,
        Err(e) => {
            eprint!("async_fetch_manual: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&url) {
        eprintln!("async_fetch_manual: {e}");
        std::process::exit(1);
    }
}

fn run(url: &str) -> squall::Result<()> {
    let mut reactor = Reactor::new()?;
    let client = AsyncHttpClient::new(&reactor.handle());
    let body = reactor.run_until(&async_fetch_manual(&client, url))?;
    println!("{} bytes: {}", body.len(), String::from_utf8_lossy(&body));
    Ok(())
}
