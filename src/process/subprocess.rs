//! [`Subprocess`]: a running child, its pipes and its exit.

use std::process::ExitStatus;
use std::rc::Rc;

use rustix::process::Signal;

use super::reaper::Reaper;
use crate::error::Result;
use crate::future::Future;
use crate::stream::IoStream;

/// A child process started by [`SubprocessBuilder::spawn`](super::SubprocessBuilder::spawn)
/// (Tornado's `Subprocess`).
///
/// Dropping it does not leak the child: the exit watcher keeps waiting and reaps it
/// (its pipes, if not taken, are closed). Keep [`exit`](Self::exit) to learn the status.
///
/// ```
/// # fn main() -> squall::Result<()> {
/// use squall::process::{Redirect, Subprocess};
/// let mut reactor = squall::Reactor::new()?;
/// let handle = reactor.handle();
/// let mut child = Subprocess::builder("cat")
///     .stdin(Redirect::Stream)
///     .stdout(Redirect::Stream)
///     .spawn(&handle)?;
/// let stdin = child.take_stdin().unwrap();
/// stdin.write(&b"round trip\n"[..]);
/// stdin.close_after_writes(); // cat sees EOF
/// let out = child.stdout().unwrap().read_until_close();
/// assert_eq!(&reactor.run_until(&out)?[..], b"round trip\n");
/// assert_eq!(reactor.run_until(&child.exit())?.code(), Some(0));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Subprocess {
    pub(super) pid: u32,
    pub(super) stdin: Option<IoStream>,
    pub(super) stdout: Option<IoStream>,
    pub(super) stderr: Option<IoStream>,
    pub(super) reaper: Rc<Reaper>,
}

impl Subprocess {
    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The write end of the child's stdin, when it is a [`Redirect::Stream`](super::Redirect).
    /// Close it (`close_after_writes`) to give the child EOF.
    pub fn stdin(&self) -> Option<&IoStream> {
        self.stdin.as_ref()
    }

    /// The read end of the child's stdout, when it is a [`Redirect::Stream`](super::Redirect).
    pub fn stdout(&self) -> Option<&IoStream> {
        self.stdout.as_ref()
    }

    /// The read end of the child's stderr, when it is a [`Redirect::Stream`](super::Redirect).
    pub fn stderr(&self) -> Option<&IoStream> {
        self.stderr.as_ref()
    }

    /// Takes the stdin stream out (it then lives as long as its holders).
    pub fn take_stdin(&mut self) -> Option<IoStream> {
        self.stdin.take()
    }

    /// Takes the stdout stream out.
    pub fn take_stdout(&mut self) -> Option<IoStream> {
        self.stdout.take()
    }

    /// Takes the stderr stream out.
    pub fn take_stderr(&mut self) -> Option<IoStream> {
        self.stderr.take()
    }

    /// The exit status, once the child has exited and was reaped (Tornado's
    /// `wait_for_exit`). Every call returns the same future; it fails only if the status
    /// could not be collected ([`Error::Io`](crate::Error::Io)). A non-zero status is a
    /// result, not an error: look at [`ExitStatus::code`] and, for a signal,
    /// `std::os::unix::process::ExitStatusExt::signal`.
    pub fn exit(&self) -> Future<ExitStatus> {
        self.reaper.exit()
    }

    /// Calls `f` with the exit status once the child has exited (Tornado's
    /// `set_exit_callback`). Not called if the status could not be collected.
    pub fn set_exit_callback(&self, f: impl FnOnce(ExitStatus) + 'static) {
        self.exit().add_done_callback(move |fut| {
            if let Some(Ok(status)) = fut.result() {
                f(status);
            }
        });
    }

    /// Asks the child to stop (`SIGTERM`). Nothing happens if it has already been reaped.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) from `kill`.
    pub fn terminate(&self) -> Result<()> {
        self.reaper.signal(Signal::TERM)
    }

    /// Kills the child (`SIGKILL`). Nothing happens if it has already been reaped.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) from `kill`.
    pub fn kill(&self) -> Result<()> {
        self.reaper.kill()
    }
}
