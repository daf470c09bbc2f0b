//! [`Token`] and [`TimerId`]: generation-checked names for handlers and timers.

/// Names a registered handler. It carries a generation, so a token of a removed handler
/// never reaches a new handler that reuses its storage slot.
///
/// ```
/// # fn main() -> squall::Result<()> {
/// let reactor = squall::Reactor::new()?;
/// let handle = reactor.handle();
/// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
/// let token = handle.add_handler(a, squall::Interest::READABLE, |_s, _ev| {})?;
/// handle.remove_handler(token)?;
/// assert!(handle.remove_handler(token).is_err()); // stale token
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(pub(crate) usize);

impl Token {
    pub(crate) fn new(index: usize, generation: u32) -> Token {
        debug_assert!(index < (1 << 32));
        Token(((generation as usize) << 32) | index)
    }

    pub(crate) fn index(self) -> usize {
        self.0 & 0xFFFF_FFFF
    }

    pub(crate) fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

/// Names a timer set with [`Handle::call_later`](crate::Handle::call_later) or
/// [`Handle::call_at`](crate::Handle::call_at); pass it to
/// [`Handle::cancel_timer`](crate::Handle::cancel_timer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerId {
    pub(crate) index: usize,
    pub(crate) seq: u64,
}
