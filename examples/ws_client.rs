//! WebSocket client: sends each line of stdin as a text message and prints each message
//! received; with `--echo`, sends every message it receives back (same opcode) until the
//! server closes.
//!
//! ```sh
//! cargo run --example ws_client -- ws://127.0.0.1:8889/
//! cargo run --example ws_client -- --echo --deflate ws://127.0.0.1:8889/
//! cargo run --example ws_client -- --cacert ca.pem wss://localhost:8889/
//! ```
//! `wss://` URLs verify the server's certificate against the system's trust roots, or
//! against the PEM file given with `--cacert FILE`; `-k`/`--insecure` skips the check.
//! At the end of stdin it closes (code 1000) once each line had a reply, or after the
//! server has been quiet for a second. Exits 0 when the closing handshake completed, 1 when the connection failed or was
//! not closed cleanly, 2 on bad arguments.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use squall::stream::IoStream;
use squall::tls::ClientTlsOptions;
use squall::websocket::{connect, Message, WebSocket, WebSocketOptions};
use squall::{Future, Reactor};

struct Args {
    url: String,
    echo: bool,
    deflate: bool,
    cacert: Option<std::path::PathBuf>,
    insecure: bool,
}

fn parse_args() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_env();
    let (mut url, mut echo, mut deflate) = (None, false, false);
    let (mut cacert, mut insecure) = (None, false);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("echo") => echo = true,
            Long("deflate") => deflate = true,
            Long("cacert") => cacert = Some(parser.value()?.into()),
            Short('k') | Long("insecure") => insecure = true,
            Value(v) if url.is_none() => url = Some(v.string()?),
            Short('h') | Long("help") => {
                println!("usage: ws_client [--echo] [--deflate] [--cacert FILE] [-k] URL");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    let url = url.ok_or("missing URL")?;
    Ok(Args {
        url,
        echo,
        deflate,
        cacert,
        insecure,
    })
}

/// Feeds stdin to the loop through a socket pair (a thread copies it), so lines are
/// read with an ordinary `IoStream`.
fn stdin_stream(handle: &squall::Handle) -> squall::Result<IoStream> {
    let (ours, theirs) = UnixStream::pair()?;
    std::thread::spawn(move || {
        let mut theirs = theirs;
        let mut buf = [0u8; 16 * 1024];
        let mut stdin = std::io::stdin().lock();
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 || theirs.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        // Dropping `theirs` is the EOF the loop sees.
    });
    IoStream::new(handle, ours)
}

/// Lines sent, messages received, and whether stdin ended.
#[derive(Default)]
struct Tally {
    sent: usize,
    received: usize,
    eof: bool,
    quiet_timer: Option<squall::TimerId>,
}

type Shared = Rc<RefCell<Tally>>;

/// After stdin ended: close with 1000 once every line had its answer (an echo server),
/// or once the server has been quiet for a second (any other server).
fn maybe_close(handle: &squall::Handle, ws: &WebSocket, tally: &Shared) {
    let mut t = tally.borrow_mut();
    if !t.eof {
        return;
    }
    if let Some(id) = t.quiet_timer.take() {
        handle.cancel_timer(id);
    }
    if t.received >= t.sent {
        let _ = ws.close(1000, "");
        return;
    }
    let w = ws.clone();
    t.quiet_timer = Some(handle.call_later(QUIET, move || {
        let _ = w.close(1000, "");
    }));
}

const QUIET: Duration = Duration::from_secs(1);

/// Sends stdin line by line.
fn pump_lines(handle: squall::Handle, lines: IoStream, ws: WebSocket, tally: Shared) {
    let (l, w) = (lines.clone(), ws.clone());
    lines
        .read_until(b"\n", Some(16 << 20))
        .add_done_callback(move |f: &Future<Bytes>| match f.take_result() {
            Some(Ok(line)) => {
                let text = String::from_utf8_lossy(&line);
                w.send_text(text.trim_end_matches(['\n', '\r']));
                tally.borrow_mut().sent += 1;
                pump_lines(handle, l, w, tally);
            }
            _ => {
                tally.borrow_mut().eof = true;
                maybe_close(&handle, &w, &tally);
            }
        });
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "ws_client: {e}\nusage: ws_client [--echo] [--deflate] [--cacert FILE] [-k] URL"
            );
            std::process::exit(2);
        }
    };
    match run(args) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("ws_client: {e}");
            std::process::exit(1);
        }
    }
}

fn run(args: Args) -> squall::Result<bool> {
    let mut reactor = Reactor::new()?;
    let handle = reactor.handle();
    let mut tls = ClientTlsOptions::default().validate_cert(!args.insecure);
    if let Some(ca) = args.cacert {
        tls = tls.ca_certs(ca);
    }
    let options = WebSocketOptions::default()
        .tls(tls)
        .max_message_size(64 << 20)
        .compression(args.deflate)
        .connect_timeout(Some(Duration::from_secs(10)));
    let ws = reactor.run_until(&connect(&handle, &args.url, options))?;
    if args.echo {
        ws.on_message(|ws, msg| ws.send(msg));
    } else {
        let tally = Shared::default();
        let (h, t) = (handle.clone(), tally.clone());
        ws.on_message(move |ws, msg| {
            let mut out = std::io::stdout().lock();
            match msg {
                Message::Text(t) => {
                    let _ = writeln!(out, "{t}");
                }
                Message::Binary(b) => {
                    let _ = writeln!(out, "{}", String::from_utf8_lossy(&b));
                }
            }
            let _ = out.flush();
            t.borrow_mut().received += 1;
            maybe_close(&h, ws, &t);
        });
        pump_lines(handle.clone(), stdin_stream(&handle)?, ws.clone(), tally);
    }
    let (code, reason) = reactor.run_until(&ws.closed())?;
    if !ws.is_clean_close() {
        eprintln!("ws_client: connection closed uncleanly ({code} {reason})");
        return Ok(false);
    }
    Ok(true)
}
