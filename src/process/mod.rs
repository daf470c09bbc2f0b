//! Child processes on the loop (Tornado's `tornado.process.Subprocess`).
//!
//! [`Subprocess::builder`] wraps [`std::process::Command`]: each of stdin, stdout and stderr
//! is inherited, null, or a non-blocking pipe handed back as an
//! [`IoStream`](crate::stream::IoStream) ([`Redirect::Stream`], Tornado's
//! `Subprocess.STREAM`). The exit status arrives as a [`Future<ExitStatus>`](crate::Future)
//! ([`Subprocess::exit`], Tornado's `wait_for_exit`) or an exit callback.
//!
//! The child is reaped through the reactor, never by a blocking wait: on Linux a `pidfd`
//! is registered with the loop and becomes readable when the child exits; elsewhere (or
//! on a kernel without `pidfd_open`) the loop polls with a short timer. The exit watcher
//! owns the child, so dropping a [`Subprocess`] does not leak it: the watcher keeps
//! waiting and reaps it when it exits, whatever order its pipes close in. If the reactor
//! itself is dropped first, a background thread waits for the child instead.
//!
//! ```
//! # fn main() -> squall::Result<()> {
//! use squall::process::{Redirect, Subprocess};
//! let mut reactor = squall::Reactor::new()?;
//! let handle = reactor.handle();
//! let child = Subprocess::builder("echo")
//!     .arg("hello")
//!     .stdout(Redirect::Stream)
//!     .spawn(&handle)?;
//! let out = child.stdout().unwrap().read_until_close();
//! assert_eq!(&reactor.run_until(&out)?[..], b"hello\n");
//! let status = reactor.run_until(&child.exit())?;
//! assert!(status.success());
//! # Ok(()) }
//! ```

mod builder;
mod reaper;
mod subprocess;

pub use builder::{Redirect, SubprocessBuilder};
pub use subprocess::Subprocess;
