//! Tornado's blog demo (`demos/blog`) on `squall::web`, with SQLite.
//!
//! ```sh
//! cargo run --release --example blog -- [--port 8888] [--bind 127.0.0.1] [--db blog.db] [--cookie-secret S]
//! ```
//! Prints `listening on http://HOST:PORT` once ready (port 0 picks a free port). The
//! database file is created on first start. The first account created is the author
//! (may compose and edit); later accounts are readers (signed in, cannot compose).
//! Routes: `/`, `/archive`, `/feed` (Atom), `/entry/{slug}`, `/compose`,
//! `/auth/create`, `/auth/login`, `/auth/logout`.

use std::process::exit;

use squall::Reactor;

mod db;
mod handlers;
mod text;

const USAGE: &str =
    "usage: blog [--port PORT] [--bind ADDRESS] [--db PATH] [--cookie-secret SECRET]\n\
  --port PORT             port to listen on (default 8888; 0 picks a free one)\n\
  --bind ADDRESS          address to listen on (default 127.0.0.1)\n\
  --db PATH               SQLite database file, created if missing (default blog.db)\n\
  --cookie-secret SECRET  key signing the session cookies (default: a random one,\n\
                          so sessions end when the server restarts)";

/// `[port, bind, db, cookie secret]`.
fn parse_args() -> Result<[String; 4], lexopt::Error> {
    use lexopt::prelude::*;
    let mut a = ["8888", "127.0.0.1", "blog.db", ""].map(String::from);
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        let i = match arg {
            Long("port") => 0,
            Long("bind") => 1,
            Long("db") => 2,
            Long("cookie-secret") => 3,
            Short('h') | Long("help") => {
                println!("{USAGE}");
                exit(0);
            }
            arg => return Err(arg.unexpected()),
        };
        a[i] = parser.value()?.string()?;
    }
    a[0].parse::<u16>().map_err(|e| format!("--port: {e}"))?;
    Ok(a)
}

fn main() -> squall::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let [port, bind, path, mut secret] = parse_args().unwrap_or_else(|e| {
        eprintln!("blog: {e}\n{USAGE}");
        exit(2);
    });
    let conn = db::open(&path).unwrap_or_else(|e| {
        eprintln!("blog: cannot open database {path}: {e}");
        exit(1);
    });
    if secret.is_empty() {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).expect("random cookie secret");
        secret = key.iter().map(|b| format!("{b:02x}")).collect();
        eprintln!("blog: no --cookie-secret: generated one, sessions end when the server stops");
    }
    let mut reactor = Reactor::new()?;
    let app = handlers::app(
        &conn,
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples/blog"),
        &secret,
    );
    app.validate()?;
    let server = app.server(&reactor.handle());
    let port: u16 = port.parse().unwrap_or_default(); // checked by parse_args
    let addr = server.listen((bind.as_str(), port)).unwrap_or_else(|e| {
        eprintln!("blog: cannot listen on {bind}:{port}: {e}");
        exit(1);
    });
    println!("listening on http://{addr}");
    reactor.run()
}
