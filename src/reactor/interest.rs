//! [`Interest`] (what a handler waits for) and [`Event`] (what happened).

use std::fmt;
use std::ops::{BitOr, BitOrAssign};

/// The readiness a handler is interested in: [`READABLE`](Interest::READABLE),
/// [`WRITABLE`](Interest::WRITABLE), both, or [`NONE`](Interest::NONE) (registered but
/// paused: costs nothing per iteration).
///
/// ```
/// use squall::Interest;
/// let both = Interest::READABLE | Interest::WRITABLE;
/// assert!(both.is_readable() && both.is_writable());
/// assert!(!Interest::NONE.is_readable());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Interest(u8);

impl Interest {
    /// No interest: the source stays registered but produces no events, not even an
    /// error or hang-up (those are reported once interest returns).
    pub const NONE: Interest = Interest(0);
    /// Interest in readability (data to read, a connection to accept, EOF or an error).
    pub const READABLE: Interest = Interest(1);
    /// Interest in writability (room in the send buffer, a finished connect).
    pub const WRITABLE: Interest = Interest(2);

    /// True if this includes readability.
    pub const fn is_readable(self) -> bool {
        self.0 & 1 != 0
    }

    /// True if this includes writability.
    pub const fn is_writable(self) -> bool {
        self.0 & 2 != 0
    }

    /// True if this is [`Interest::NONE`].
    pub const fn is_none(self) -> bool {
        self.0 == 0
    }

    /// This interest without the bits of `other`.
    pub const fn remove(self, other: Interest) -> Interest {
        Interest(self.0 & !other.0)
    }

    pub(crate) fn to_poll_event(self, key: usize) -> polling::Event {
        polling::Event::new(key, self.is_readable(), self.is_writable())
    }
}

impl BitOr for Interest {
    type Output = Interest;
    fn bitor(self, rhs: Interest) -> Interest {
        Interest(self.0 | rhs.0)
    }
}

impl BitOrAssign for Interest {
    fn bitor_assign(&mut self, rhs: Interest) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for Interest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.is_readable(), self.is_writable()) {
            (false, false) => f.write_str("NONE"),
            (true, false) => f.write_str("READABLE"),
            (false, true) => f.write_str("WRITABLE"),
            (true, true) => f.write_str("READABLE | WRITABLE"),
        }
    }
}

/// A readiness event delivered to a handler.
///
/// Errors and hang-ups are reported as readable (and writable, if that was asked for),
/// as with `poll(2)`: the next read or write tells what happened.
///
/// ```
/// use squall::Event;
/// let ev = Event::new(true, false);
/// assert!(ev.is_readable() && !ev.is_writable());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    readable: bool,
    writable: bool,
}

impl Event {
    /// Builds an event (useful to call a handler function directly in tests).
    pub const fn new(readable: bool, writable: bool) -> Event {
        Event { readable, writable }
    }

    /// The source can be read without blocking (or is at EOF / in error).
    pub const fn is_readable(self) -> bool {
        self.readable
    }

    /// The source can be written without blocking (or is in error).
    pub const fn is_writable(self) -> bool {
        self.writable
    }

    /// Keeps only the readiness that `interest` asked for.
    pub(crate) fn masked(self, interest: Interest) -> Event {
        Event {
            readable: self.readable && interest.is_readable(),
            writable: self.writable && interest.is_writable(),
        }
    }
}
