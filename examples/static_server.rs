//! Serves a directory with `squall::web::StaticFiles`.
//!
//! ```sh
//! cargo run --release --example static_server -- --root DIR [--port 8888] [--bind 127.0.0.1]
//! ```
//! Prints `listening on http://HOST:PORT` once ready (port 0 picks a free port); the files
//! under `DIR` are served at `/static/...`. `--help` prints the usage. Exit status: 2 for
//! a usage error (a message and the usage on stderr), 1 when the server cannot start.
//! `RUST_LOG` sets the log level (default `warn`).

use std::process::exit;

use squall::web::Application;
use squall::Reactor;

#[path = "common/mod.rs"]
mod common;

const USAGE: &str = "\
usage: static_server --root DIR [--port N] [--bind HOST]
      --root DIR    directory served at /static/
      --port N      port to listen on (default 8888; 0 picks a free port)
      --bind HOST   address to listen on (default 127.0.0.1)
  -h, --help        this help
";

fn parse() -> Result<(String, String, u16), lexopt::Error> {
    use lexopt::prelude::*;
    let (mut root, mut bind, mut port) = (None, "127.0.0.1".to_string(), 8888);
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("root") => root = Some(parser.value()?.string()?),
            Long("port") => port = parser.value()?.parse()?,
            Long("bind") => bind = parser.value()?.string()?,
            Short('h') | Long("help") => common::help(USAGE),
            _ => return Err(arg.unexpected()),
        }
    }
    let root = root.ok_or("--root is required")?;
    Ok((root, bind, port))
}

fn main() -> squall::Result<()> {
    common::init_logging("warn");
    let (root, bind, port) = parse().unwrap_or_else(|e| {
        eprintln!("static_server: {e}\n{USAGE}");
        exit(2);
    });
    let mut reactor = Reactor::new()?;
    let server = Application::new()
        .static_files("/static", root)
        .server(&reactor.handle());
    let addr = server.listen((bind.as_str(), port)).unwrap_or_else(|e| {
        common::failed(
            "static_server",
            format_args!("cannot listen on {bind}:{port}: {e}"),
        )
    });
    println!("listening on http://{addr}");
    reactor.run()
}
