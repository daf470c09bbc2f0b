//! Runs a command on the loop, prints its output line by line as it arrives, and exits
//! with its status.
//!
//! ```sh
//! cargo run --example subprocess -- sh -c 'for i in 1 2 3; do echo $i; sleep 1; done'
//! ```
//! The command's stdout is read through a pipe stream, one line at a time (a last line
//! without a newline is printed too); its stdin and stderr are the example's own. Exit
//! status: the command's, 128 + N if a signal N ended it, 2 for a usage error, 1 when the
//! command cannot be started (one line on stderr). `RUST_LOG` sets the log level.

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use squall::process::{Redirect, Subprocess};
use squall::stream::IoStream;
use squall::{Error, Future, Reactor};

const USAGE: &str = "\
usage: subprocess CMD [ARGS...]
  runs CMD, prints its output line by line, exits with its status
  -h, --help    this help
";

/// Longest line kept whole; a longer one is printed in pieces of this size.
const MAX_LINE: usize = 64 * 1024;

/// Prints lines until EOF, then resolves `done`.
fn print_lines(stdout: IoStream, done: Future<()>) {
    let s = stdout.clone();
    stdout
        .read_until(b"\n", Some(MAX_LINE))
        .add_done_callback(move |f| match f.take_result() {
            Some(Ok(line)) => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(&line).and_then(|()| out.flush());
                print_lines(s, done);
            }
            Some(Err(Error::UnsatisfiableRead(_))) => {
                // A line longer than MAX_LINE: print a piece of it and go on.
                let (s2, d2) = (s.clone(), done.clone());
                s.read_bytes(MAX_LINE, true).add_done_callback(move |f| {
                    if let Some(Ok(piece)) = f.take_result() {
                        let _ = std::io::stdout().lock().write_all(&piece);
                    }
                    print_lines(s2, d2);
                });
            }
            _ => {
                // EOF (or a read error): print what is left without a newline.
                let (s2, d2) = (s.clone(), done);
                s.read_until_close().add_done_callback(move |f| {
                    if let Some(Ok(rest)) = f.take_result() {
                        let mut out = std::io::stdout().lock();
                        let _ = out.write_all(&rest).and_then(|()| out.flush());
                    }
                    drop(s2);
                    d2.set_result(());
                });
            }
        });
}

fn run(args: Vec<String>) -> squall::Result<ExitStatus> {
    let mut reactor = Reactor::new()?;
    let handle = reactor.handle();
    let mut child = Subprocess::builder(&args[0])
        .args(&args[1..])
        .stdout(Redirect::Stream)
        .spawn(&handle)?;
    let done = Future::new();
    print_lines(
        child.take_stdout().expect("stdout is a stream"),
        done.clone(),
    );
    reactor.run_until(&done)?;
    reactor.run_until(&child.exit())
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None => {
            eprint!("subprocess: missing command\n{USAGE}");
            std::process::exit(2);
        }
        Some("-h" | "--help") => {
            print!("{USAGE}");
            return;
        }
        Some(_) => {}
    }
    match run(args) {
        Ok(status) => std::process::exit(
            status
                .code()
                .or_else(|| status.signal().map(|s| 128 + s))
                .unwrap_or(1),
        ),
        Err(e) => {
            eprintln!("subprocess: {e}");
            std::process::exit(1);
        }
    }
}
