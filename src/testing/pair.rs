//! Two connected in-process streams.

use std::os::unix::net::UnixStream;

use crate::error::Result;
use crate::reactor::Handle;
use crate::stream::IoStream;

/// Two connected [`IoStream`]s on `handle`'s loop, over a Unix `socketpair` (Twisted's
/// `StringTransport` with a real socket underneath): what one writes the other reads,
/// and closing one is the other's end of stream. For protocol tests without TCP.
///
/// # Errors
/// [`Error::Io`](crate::Error::Io) if the pair cannot be created (out of descriptors).
///
/// ```
/// # fn main() -> squall::Result<()> {
/// let mut reactor = squall::Reactor::new()?;
/// let (a, b) = squall::testing::stream_pair(&reactor.handle())?;
/// let _ = a.write(&b"ping\n"[..]);
/// let line = b.read_until(b"\n", Some(1024));
/// assert_eq!(&reactor.run_until(&line)?[..], b"ping\n");
/// # Ok(()) }
/// ```
pub fn stream_pair(handle: &Handle) -> Result<(IoStream, IoStream)> {
    let (a, b) = UnixStream::pair()?;
    Ok((IoStream::new(handle, a)?, IoStream::new(handle, b)?))
}
