//! Incremental UTF-8 validation: text arrives in fragments split anywhere, and an invalid
//! byte must fail the message at once, not when the message is complete.

/// Validates UTF-8 fed in pieces. Fails at the first byte that cannot start or continue
/// a valid sequence, even when that sequence is not complete yet.
///
/// ```
/// use squall::websocket::frame::Utf8Validator;
/// let mut v = Utf8Validator::default();
/// let euro = "€".as_bytes(); // e2 82 ac
/// assert!(v.feed(&euro[..1]).is_ok());
/// assert!(!v.is_complete());
/// assert!(v.feed(&euro[1..]).is_ok());
/// assert!(v.is_complete());
/// // 0xf4 0x90 can never be valid (beyond U+10FFFF): rejected before the sequence ends.
/// assert!(Utf8Validator::default().feed(&[0xf4, 0x90]).is_err());
/// ```
#[derive(Debug, Default, Clone)]
pub struct Utf8Validator {
    pending: [u8; 4],
    len: u8,
}

/// The bytes fed so far are not a prefix of valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUtf8;

impl Utf8Validator {
    /// Checks the next piece.
    ///
    /// # Errors
    /// [`InvalidUtf8`] when the text so far cannot be the start of valid UTF-8.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), InvalidUtf8> {
        // Finish the sequence split by the previous piece, one byte at a time.
        while self.len > 0 {
            let Some((&b, rest)) = data.split_first() else {
                return Ok(());
            };
            self.pending[self.len as usize] = b;
            self.len += 1;
            data = rest;
            match std::str::from_utf8(&self.pending[..self.len as usize]) {
                Ok(_) => self.len = 0,
                Err(e) if e.error_len().is_some() => return Err(InvalidUtf8),
                Err(_) if self.len == 4 => return Err(InvalidUtf8),
                Err(_) => {}
            }
        }
        match std::str::from_utf8(data) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(InvalidUtf8),
            Err(e) => {
                let tail = &data[e.valid_up_to()..];
                self.pending[..tail.len()].copy_from_slice(tail);
                self.len = tail.len() as u8;
                Ok(())
            }
        }
    }

    /// True when no sequence is left open (the text may end here).
    pub fn is_complete(&self) -> bool {
        self.len == 0
    }

    /// Forgets any open sequence (for the next message).
    pub fn reset(&mut self) {
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_text_in_every_split() {
        let text = "κόσμε € 𝄞 ascii".as_bytes();
        for split in 0..=text.len() {
            let mut v = Utf8Validator::default();
            v.feed(&text[..split]).unwrap();
            v.feed(&text[split..]).unwrap();
            assert!(v.is_complete(), "split {split}");
        }
        let mut v = Utf8Validator::default();
        for b in text {
            v.feed(std::slice::from_ref(b)).unwrap();
        }
        assert!(v.is_complete());
    }

    #[test]
    fn fails_fast_mid_sequence() {
        // κόσμε followed by an overlong / out-of-range start: fails on the byte itself.
        let mut v = Utf8Validator::default();
        v.feed("κόσμε".as_bytes()).unwrap();
        v.feed(&[0xf4]).unwrap();
        assert_eq!(v.feed(&[0x90]), Err(InvalidUtf8));
        let mut v = Utf8Validator::default();
        assert_eq!(v.feed(&[0xc0]), Err(InvalidUtf8)); // never valid
        let mut v = Utf8Validator::default();
        assert_eq!(v.feed(&[0xed, 0xa0]), Err(InvalidUtf8)); // surrogate
        let mut v = Utf8Validator::default();
        assert_eq!(v.feed(b"ab\xff"), Err(InvalidUtf8));
    }

    #[test]
    fn truncated_sequence_is_incomplete() {
        let mut v = Utf8Validator::default();
        v.feed(&[0xe2, 0x82]).unwrap();
        assert!(!v.is_complete());
        v.reset();
        assert!(v.is_complete());
    }
}
