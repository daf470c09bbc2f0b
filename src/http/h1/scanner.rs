//! Incremental end-of-head detection, so a head that trickles in is parsed once rather
//! than once per read.

/// Remembers how far a read buffer was searched for the empty line that ends a head.
///
/// The head parsers are stateless: each call re-parses the buffer from its start, so a
/// head arriving one byte per read would cost quadratic time. Ask [`ready`](Self::ready)
/// before parsing: it says yes only for the first bytes of a head (so garbage is rejected
/// at once), when an empty line arrived since the last call, or when the buffer is over
/// the size limit (so the parser reports 431).
///
/// ```
/// use bytes::BytesMut;
/// use squall::http::h1::{parse_request_head, HeadLimits, HeadScanner};
///
/// let limits = HeadLimits::default();
/// let mut scanner = HeadScanner::new(&limits);
/// let mut buf = BytesMut::new();
/// let mut parses = 0;
/// for &b in b"GET / HTTP/1.1\r\nHost: a\r\n\r\n" {
///     buf.extend_from_slice(&[b]);
///     if scanner.ready(&buf) {
///         parses += 1;
///         if let Some(head) = parse_request_head(&mut buf, &limits)? {
///             scanner.reset();
///             assert_eq!(head.path(), "/");
///         }
///     }
/// }
/// assert_eq!(parses, 2);
/// # Ok::<(), squall::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct HeadScanner {
    /// How much of the buffer was searched (saturating: a buffer that long is over any
    /// head limit anyway). Two `u32`s keep an idle connection's scanner at 8 bytes.
    searched: u32,
    max: u32,
}

impl HeadScanner {
    /// A scanner for heads bounded by `limits.max_header_size`.
    pub fn new(limits: &super::HeadLimits) -> Self {
        HeadScanner {
            searched: 0,
            max: u32::try_from(limits.max_header_size).unwrap_or(u32::MAX),
        }
    }

    /// Whether parsing `buf` now may give an answer other than "need more bytes".
    pub fn ready(&mut self, buf: &[u8]) -> bool {
        let len = buf.len();
        if len < self.searched as usize {
            self.searched = 0;
        }
        let first = self.searched == 0 && len > 0;
        let from = (self.searched as usize).saturating_sub(2);
        self.searched = u32::try_from(len).unwrap_or(u32::MAX);
        // The first bytes are always parsed (a complete head in one read, the common
        // case, is then not scanned twice).
        first || len > self.max as usize || ends_head(&buf[from..])
    }

    /// Forgets the search, after a head was split off the buffer.
    pub fn reset(&mut self) {
        self.searched = 0;
    }
}

/// Whether `tail` holds an empty line (`\n\n` or `\n\r\n`), in one pass.
fn ends_head(tail: &[u8]) -> bool {
    let mut i = 0;
    while let Some(p) = tail[i..].iter().position(|&b| b == b'\n') {
        let at = i + p + 1;
        if let Some([b'\n', ..] | [b'\r', b'\n', ..]) = tail.get(at..) {
            return true;
        }
        i = at;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::h1::HeadLimits;

    #[test]
    fn ends_head_finds_lf_lf_and_crlf_crlf_only() {
        for (tail, want) in [
            (&b"a\n\n"[..], true),
            (b"a\r\n\r\n", true),
            (b"\n\r\n", true),
            (b"a\r\n", false),
            (b"\n", false),
            (b"\n\r", false),
            (b"x\ny\nz", false),
            (b"", false),
        ] {
            assert_eq!(ends_head(tail), want, "{tail:?}");
        }
    }

    #[test]
    fn ready_on_first_bytes_empty_line_and_overflow() {
        let mut s = HeadScanner::new(&HeadLimits {
            max_header_size: 40,
            max_headers: 10,
        });
        assert!(!s.ready(b""));
        assert!(s.ready(b"G"));
        assert!(!s.ready(b"GE"));
        assert!(!s.ready(b"GET / HTTP/1.1\r\nA: b\r\n"));
        assert!(!s.ready(b"GET / HTTP/1.1\r\nA: b\r\n\r"));
        assert!(s.ready(b"GET / HTTP/1.1\r\nA: b\r\n\r\n"));
        assert!(!s.ready(b"GET / HTTP/1.1\r\nA: b\r\n\r\nxx"));
        assert!(s.ready(&[b'a'; 41]));
        s.reset();
        assert!(s.ready(b"x"));
        let mut s = HeadScanner::new(&HeadLimits::default());
        assert!(s.ready(b"G"));
        assert!(!s.ready(b"GET / HTTP/1.0\n"));
        assert!(s.ready(b"GET / HTTP/1.0\n\n"));
        assert!(s.ready(b"P"), "a consumed buffer starts a new search");
    }
}
