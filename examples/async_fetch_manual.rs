//! Tornado's `async_fetch_manual`, as written in the HTTP client issue: a callback on
//! the fetch future resolves our own future with the body.
//!
//! ```sh
//! cargo run --example async_fetch_manual -- http://127.0.0.1:8888/
//! ```

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

fn main() -> squall::Result<()> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:8888/".to_string());
    let mut reactor = Reactor::new()?;
    let client = AsyncHttpClient::new(&reactor.handle());
    let body = reactor.run_until(&async_fetch_manual(&client, &url))?;
    println!("{} bytes: {}", body.len(), String::from_utf8_lossy(&body));
    Ok(())
}
