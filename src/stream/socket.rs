//! The sockets an [`IoStream`](super::IoStream) can wrap.

mod tls;
pub use self::tls::TlsSocket;
pub(super) use self::tls::{flush, Handshake};

use std::fs::File;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;

use bytes::BytesMut;

/// A connected stream socket: TCP or Unix-domain (or one end of a pipe). `IoStream` is one
/// type over all of them
/// (an enum rather than a generic, so servers and clients pass streams around freely).
#[derive(Debug)]
pub enum Socket {
    /// A TCP connection.
    Tcp(TcpStream),
    /// A Unix-domain stream connection.
    Unix(UnixStream),
    /// A TLS session over a TCP or Unix connection (made by
    /// [`IoStream::start_tls`](super::IoStream::start_tls)).
    Tls(Box<TlsSocket>),
    /// One end of a pipe (a subprocess's stdin, stdout or stderr, as
    /// [`Subprocess`](crate::process::Subprocess) makes them): reads on the read end,
    /// writes on the write end. A pipe has no half-close; close the stream instead.
    Pipe(File),
}

impl Socket {
    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => (&*s).read(buf),
            Socket::Unix(s) => (&*s).read(buf),
            Socket::Tls(t) => t.read(buf),
            Socket::Pipe(s) => (&*s).read(buf),
        }
    }

    /// Reads at most `n` bytes (`n` ≤ the buffer's spare capacity) onto the end of `buf`,
    /// straight into its spare capacity: no scratch buffer, no copy. A socket is read
    /// with `recv` into uninitialised memory, TLS copies rustls' plaintext onto the end;
    /// pipes need initialised memory, so their `n` bytes are zeroed first.
    #[inline]
    pub(crate) fn read_into(&self, buf: &mut BytesMut, n: usize) -> io::Result<usize> {
        debug_assert!(n <= buf.capacity() - buf.len());
        match self {
            Socket::Tcp(s) => recv_into(s.as_fd(), buf, n),
            Socket::Unix(s) => recv_into(s.as_fd(), buf, n),
            Socket::Tls(t) => t.read_into(buf, n),
            Socket::Pipe(s) => read_zeroed(buf, n, |b| (&*s).read(b)),
        }
    }

    /// Bytes the kernel holds for reading right now (`FIONREAD`), 0 if it cannot tell
    /// or for TLS (whose reads also return what rustls already decrypted).
    pub(crate) fn queued(&self) -> usize {
        if matches!(self, Socket::Tls(_)) {
            return 0;
        }
        rustix::io::ioctl_fionread(self.as_fd())
            .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX))
    }

    pub(crate) fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => (&*s).write_vectored(bufs),
            Socket::Unix(s) => (&*s).write_vectored(bufs),
            Socket::Tls(t) => t.write_vectored(bufs),
            Socket::Pipe(s) => (&*s).write_vectored(bufs),
        }
    }

    pub(crate) fn write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => (&*s).write(buf),
            Socket::Unix(s) => (&*s).write(buf),
            Socket::Tls(t) => t.write(buf),
            Socket::Pipe(s) => (&*s).write(buf),
        }
    }

    pub(crate) fn set_nonblocking(&self) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.set_nonblocking(true),
            Socket::Unix(s) => s.set_nonblocking(true),
            Socket::Tls(t) => t.inner().set_nonblocking(),
            Socket::Pipe(s) => Ok(rustix::io::ioctl_fionbio(s, true)?),
        }
    }

    pub(crate) fn shutdown_write(&self) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.shutdown(Shutdown::Write),
            Socket::Unix(s) => s.shutdown(Shutdown::Write),
            Socket::Tls(t) => t.shutdown_write(),
            Socket::Pipe(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a pipe has no half-close: close the stream",
            )),
        }
    }

    /// The peer's address (`None` for Unix sockets and pipes).
    pub fn peer_addr(&self) -> io::Result<Option<SocketAddr>> {
        match self {
            Socket::Tcp(s) => s.peer_addr().map(Some),
            Socket::Unix(_) | Socket::Pipe(_) => Ok(None),
            Socket::Tls(t) => t.inner().peer_addr(),
        }
    }

    /// The local address (`None` for Unix sockets and pipes).
    pub fn local_addr(&self) -> io::Result<Option<SocketAddr>> {
        match self {
            Socket::Tcp(s) => s.local_addr().map(Some),
            Socket::Unix(_) | Socket::Pipe(_) => Ok(None),
            Socket::Tls(t) => t.inner().local_addr(),
        }
    }
}

impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Socket::Tcp(s) => s.as_fd(),
            Socket::Unix(s) => s.as_fd(),
            Socket::Tls(t) => t.inner().as_fd(),
            Socket::Pipe(s) => s.as_fd(),
        }
    }
}

impl From<TcpStream> for Socket {
    fn from(s: TcpStream) -> Self {
        Socket::Tcp(s)
    }
}

impl From<UnixStream> for Socket {
    fn from(s: UnixStream) -> Self {
        Socket::Unix(s)
    }
}

/// `recv` of at most `n` bytes into `buf`'s spare capacity, which it then counts as data.
#[inline]
fn recv_into(fd: BorrowedFd<'_>, buf: &mut BytesMut, n: usize) -> io::Result<usize> {
    let len = buf.len();
    let spare = buf.spare_capacity_mut();
    let n = n.min(spare.len());
    let ((filled, _), _) = rustix::net::recv(fd, &mut spare[..n], rustix::net::RecvFlags::empty())?;
    let got = filled.len();
    // SAFETY: `recv` initialised `filled`, the first `got` bytes of the spare capacity
    // (rustix hands back exactly the part the kernel wrote, never more than the `n`
    // bytes it was given), so the first `len + got` bytes of `buf` are initialised.
    unsafe { buf.set_len(len + got) };
    Ok(got)
}

/// A read of at most `n` bytes onto the end of `buf` for readers that need initialised
/// memory: the room is zeroed, read into, and cut back to what came.
fn read_zeroed(
    buf: &mut BytesMut,
    n: usize,
    read: impl FnOnce(&mut [u8]) -> io::Result<usize>,
) -> io::Result<usize> {
    let len = buf.len();
    buf.resize(len + n, 0);
    let r = read(&mut buf[len..]);
    let got = *r.as_ref().unwrap_or(&0);
    buf.truncate(len + got.min(n));
    r
}
