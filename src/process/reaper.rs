//! The exit watcher: owns the child and reaps it through the loop, never blocking.

use std::cell::{Cell, RefCell};
use std::io;
use std::process::{Child, ExitStatus};
use std::rc::Rc;
use std::time::Duration;

use rustix::process::{Pid, Signal};

use crate::error::{Error, Result};
use crate::future::Future;
use crate::reactor::{Handle, Interest, Token};

/// How often the loop checks on a child when no `pidfd` is available.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Shared by a [`Subprocess`](super::Subprocess) and the loop's exit watcher (a `pidfd`
/// handler, or a polling timer). Whichever is dropped last drops this; a child that has
/// not been reaped by then is handed to a thread that waits for it.
#[derive(Debug)]
pub(crate) struct Reaper {
    /// `Some` until reaped: while it is, the pid cannot be reused, so signalling it by
    /// pid is safe.
    child: RefCell<Option<Child>>,
    exit: Future<ExitStatus>,
}

impl Reaper {
    /// Takes ownership of `child` and starts watching for its exit.
    pub(crate) fn start(handle: &Handle, child: Child) -> Result<Rc<Reaper>> {
        let pid = Pid::from_child(&child);
        let reaper = Rc::new(Reaper {
            child: RefCell::new(Some(child)),
            exit: Future::new(),
        });
        match open_pidfd(pid) {
            Ok(pidfd) => {
                let token: Rc<Cell<Option<Token>>> = Rc::default();
                let (r, t, h) = (reaper.clone(), token.clone(), handle.clone());
                let registered = handle.add_handler(pidfd, Interest::READABLE, move |_, _| {
                    if r.poll()
                        && let Some(token) = t.take()
                    {
                        let _ = h.remove_handler(token);
                    }
                });
                match registered {
                    Ok(tok) => token.set(Some(tok)),
                    Err(e) => {
                        let _ = reaper.signal(Signal::KILL);
                        return Err(e);
                    }
                }
            }
            Err(e) => {
                log::debug!("pidfd_open failed ({e}); polling for the child's exit");
                poll_later(handle, reaper.clone());
            }
        }
        Ok(reaper)
    }

    /// The future resolved with the exit status.
    pub(crate) fn exit(&self) -> Future<ExitStatus> {
        self.exit.clone()
    }

    /// Reaps the child if it has exited (`waitpid` with `WNOHANG`). True once reaped.
    fn poll(&self) -> bool {
        let mut slot = self.child.borrow_mut();
        let Some(child) = slot.as_mut() else {
            return true;
        };
        let result = match child.try_wait() {
            Ok(None) => return false,
            Ok(Some(status)) => Ok(status),
            Err(e) => Err(Error::from(e)),
        };
        *slot = None;
        drop(slot);
        let _ = self.exit.try_set(result);
        true
    }

    /// Sends `signal` to the child; nothing if it was already reaped.
    pub(crate) fn signal(&self, signal: Signal) -> Result<()> {
        match self.child.borrow().as_ref() {
            Some(child) => Ok(
                rustix::process::kill_process(Pid::from_child(child), signal)
                    .map_err(io::Error::from)?,
            ),
            None => Ok(()),
        }
    }

    /// Sends `SIGKILL`.
    pub(crate) fn kill(&self) -> Result<()> {
        self.signal(Signal::KILL)
    }
}

/// A descriptor that becomes readable when the child exits (Linux 5.3 and later).
#[cfg(target_os = "linux")]
fn open_pidfd(pid: Pid) -> io::Result<std::os::fd::OwnedFd> {
    Ok(rustix::process::pidfd_open(
        pid,
        rustix::process::PidfdFlags::empty(),
    )?)
}

#[cfg(not(target_os = "linux"))]
fn open_pidfd(_pid: Pid) -> io::Result<std::os::fd::OwnedFd> {
    Err(io::ErrorKind::Unsupported.into())
}

/// The fallback watcher: checks the child on a timer until it is reaped.
fn poll_later(handle: &Handle, reaper: Rc<Reaper>) {
    let h = handle.clone();
    handle.call_later(POLL_INTERVAL, move || {
        if !reaper.poll() {
            poll_later(&h, reaper);
        }
    });
}

impl Drop for Reaper {
    fn drop(&mut self) {
        let Some(mut child) = self.child.get_mut().take() else {
            return;
        };
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        // The loop is gone (the reactor was dropped) but the child still runs: wait for it
        // on a thread so that it does not stay a zombie.
        let spawned = std::thread::Builder::new()
            .name("squall-reaper".into())
            .spawn(move || {
                let _ = child.wait();
            });
        if let Err(e) = spawned {
            log::warn!("cannot start a thread to reap a child process: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reactor;

    /// The fallback for kernels without `pidfd_open`: the timer watcher reaps too.
    #[test]
    fn polling_fallback_reaps() {
        let mut reactor = Reactor::new().unwrap();
        let handle = reactor.handle();
        let child = std::process::Command::new("sh")
            .args(["-c", "exit 9"])
            .spawn()
            .unwrap();
        let reaper = Rc::new(Reaper {
            child: RefCell::new(Some(child)),
            exit: Future::new(),
        });
        poll_later(&handle, reaper.clone());
        let status = reactor.run_until(&reaper.exit()).unwrap();
        assert_eq!(status.code(), Some(9));
        assert!(reaper.child.borrow().is_none(), "not reaped");
    }
}
