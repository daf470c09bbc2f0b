//! Signal handlers on the loop thread, through `signal-hook`'s self-pipe.

use std::io::Read;
use std::os::unix::net::UnixStream;

use super::{Handle, Interest, Token};
use crate::error::{Error, Result};

impl Handle {
    /// Calls `f` on the loop thread whenever `signal` (e.g. `libc`'s `SIGINT`, `SIGTERM`)
    /// arrives. The signal handler itself only writes a byte to a pipe that the loop
    /// watches like any socket, so `f` may do anything. Several deliveries between two
    /// iterations may be coalesced into one call.
    ///
    /// Returns the token of the pipe's handler: `remove_handler(token)` stops watching
    /// (the OS-level handler stays installed; further signals are then ignored).
    ///
    /// # Errors
    /// [`Error::Io`] if the pipe cannot be made or the signal is forbidden (`SIGKILL`,
    /// `SIGSTOP`, ...).
    ///
    /// ```no_run
    /// # fn main() -> squall::Result<()> {
    /// let mut reactor = squall::Reactor::new()?;
    /// let handle = reactor.handle();
    /// let h = handle.clone();
    /// handle.add_signal_handler(signal_hook::consts::SIGINT, move || h.stop())?;
    /// reactor.run()?;
    /// # Ok(()) }
    /// ```
    #[track_caller]
    pub fn add_signal_handler(&self, signal: i32, mut f: impl FnMut() + 'static) -> Result<Token> {
        let (reader, writer) = UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        let id = signal_hook::low_level::pipe::register(signal, writer).map_err(Error::from)?;
        let guard = Unregister(id);
        self.add_handler(
            reader,
            Interest::READABLE,
            move |r: &mut UnixStream, _ev| {
                let _keep = &guard;
                let mut buf = [0u8; 64];
                let mut got = false;
                while let Ok(n) = r.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    got = true;
                }
                if got {
                    f();
                }
            },
        )
    }
}

/// Unregisters the OS-level action when the handler is dropped.
struct Unregister(signal_hook::SigId);

impl Drop for Unregister {
    fn drop(&mut self) {
        signal_hook::low_level::unregister(self.0);
    }
}
