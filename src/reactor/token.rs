//! [`Token`] and [`TimerId`]: generation-checked names for handlers and timers.

use std::num::{NonZeroU64, NonZeroUsize};

/// Names a registered handler. It carries a generation, so a token of a removed handler
/// never reaches a new handler that reuses its storage slot.
///
/// The token is also the key registered with the poller: a slot index in the low bits
/// and a generation in the high bits, sized to the pointer width (32 + 32 bits on 64-bit
/// targets; 20 + 12 on 32-bit ones, where at most about a million handlers fit).
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
///
/// A generation is never 0, so neither is a token: an `Option<Token>` takes one word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(pub(crate) NonZeroUsize);

/// Bits of a token that hold the slot index.
#[cfg(target_pointer_width = "64")]
const INDEX_BITS: u32 = 32;
#[cfg(not(target_pointer_width = "64"))]
const INDEX_BITS: u32 = 20;

/// The packing for a word of `word_bits` (a parameter, so the 32-bit layout is tested
/// on 64-bit machines too).
#[derive(Clone, Copy)]
struct Layout {
    word_bits: u32,
    index_bits: u32,
}

impl Layout {
    const fn max_index(self) -> usize {
        (1 << self.index_bits) - 1
    }

    /// The largest generation; one less than all ones, so no token equals
    /// `usize::MAX` (a key `polling` keeps for itself).
    const fn max_generation(self) -> u32 {
        let bits = self.word_bits - self.index_bits;
        let all = if bits >= 32 {
            u32::MAX
        } else {
            (1u32 << bits) - 1
        };
        all - 1
    }

    const fn pack(self, index: usize, generation: u32) -> usize {
        ((generation as usize) << self.index_bits) | (index & self.max_index())
    }

    const fn index(self, token: usize) -> usize {
        token & self.max_index()
    }

    const fn generation(self, token: usize) -> u32 {
        (token >> self.index_bits) as u32
    }
}

const LAYOUT: Layout = Layout {
    word_bits: usize::BITS,
    index_bits: INDEX_BITS,
};

impl Token {
    /// The largest slot index a token can name.
    pub(crate) const MAX_INDEX: usize = LAYOUT.max_index();
    /// Generations run from 1 to this, then wrap to 1.
    pub(crate) const MAX_GENERATION: u32 = LAYOUT.max_generation();

    pub(crate) fn new(index: usize, generation: u32) -> Token {
        debug_assert!(index <= Self::MAX_INDEX && generation <= Self::MAX_GENERATION);
        let packed = LAYOUT.pack(index, generation);
        Token(NonZeroUsize::new(packed).expect("a generation is at least 1"))
    }

    /// The token registered under the poller key `key`, if it can be one.
    pub(crate) fn from_key(key: usize) -> Option<Token> {
        NonZeroUsize::new(key).map(Token)
    }

    /// The poller key of this token.
    pub(crate) fn key(self) -> usize {
        self.0.get()
    }

    pub(crate) fn index(self) -> usize {
        LAYOUT.index(self.0.get())
    }

    pub(crate) fn generation(self) -> u32 {
        LAYOUT.generation(self.0.get())
    }
}

/// Names a timer set with [`Handle::call_later`](crate::Handle::call_later) or
/// [`Handle::call_at`](crate::Handle::call_at); pass it to
/// [`Handle::cancel_timer`](crate::Handle::cancel_timer).
///
/// Its sequence number is never 0, so an `Option<TimerId>` is as small as a `TimerId`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerId {
    pub(crate) index: usize,
    pub(crate) seq: NonZeroU64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips(layout: Layout) {
        let max_gen = layout.max_generation();
        let max_index = layout.max_index();
        let word_max = if layout.word_bits == usize::BITS {
            usize::MAX
        } else {
            (1usize << layout.word_bits) - 1
        };
        for (index, generation) in [(0, 1), (max_index, 1), (0, max_gen), (max_index, max_gen)] {
            let t = layout.pack(index, generation);
            assert_eq!(layout.index(t), index);
            assert_eq!(layout.generation(t), generation);
            // Fits the word, and is never all ones (polling's own key).
            assert!(t < word_max, "token {t:#x} for ({index}, {generation})");
        }
    }

    #[test]
    fn options_of_ids_need_no_extra_word() {
        // Per connection, a stream and its owner keep several of these.
        assert_eq!(size_of::<Option<Token>>(), size_of::<usize>());
        assert_eq!(size_of::<Option<TimerId>>(), size_of::<TimerId>());
    }

    #[test]
    fn the_native_layout_round_trips() {
        round_trips(LAYOUT);
        assert_eq!(Token::new(5, 9).index(), 5);
        assert_eq!(Token::new(5, 9).generation(), 9);
    }

    #[test]
    fn the_32_bit_layout_fits_32_bits() {
        let layout = Layout {
            word_bits: 32,
            index_bits: 20,
        };
        assert_eq!(layout.max_index(), (1 << 20) - 1);
        assert_eq!(layout.max_generation(), (1 << 12) - 2);
        round_trips(layout);
    }
}
