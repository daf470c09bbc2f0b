//! What a pending read waits for, and whether the buffered bytes satisfy it (sans-IO).

/// A pending read on a stream.
#[derive(Debug)]
pub(crate) enum ReadRequest {
    /// Up to and including `delimiter`, failing if it is not within `max_bytes`
    /// (`usize::MAX`: no bound). Compact, as every stream holds one while it reads.
    Until {
        delimiter: Box<[u8]>,
        max_bytes: usize,
        /// How far the buffer has been searched already (no rescans on each packet).
        scanned: usize,
    },
    /// Exactly `n` bytes, or (with `partial`) whatever is there, 1 to `n` bytes.
    Bytes { n: usize, partial: bool },
    /// Everything until the peer closes.
    UntilClose,
}

/// Whether a read can complete from the buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Check {
    /// Complete with the first `n` buffered bytes.
    Ready(usize),
    /// Wait for more data.
    NotYet,
    /// Can never complete (delimiter not within `max_bytes`).
    Unsatisfiable,
}

impl ReadRequest {
    pub(crate) fn check(&mut self, buf: &[u8]) -> Check {
        match self {
            ReadRequest::Bytes { n, partial } => {
                if buf.len() >= *n {
                    Check::Ready(*n)
                } else if *partial && !buf.is_empty() {
                    Check::Ready(buf.len())
                } else {
                    Check::NotYet
                }
            }
            ReadRequest::UntilClose => Check::NotYet,
            ReadRequest::Until {
                delimiter,
                max_bytes,
                scanned,
            } => {
                let start = scanned.saturating_sub(delimiter.len().saturating_sub(1));
                match find(&buf[start..], delimiter) {
                    Some(pos) => {
                        let end = start + pos + delimiter.len();
                        if end > *max_bytes {
                            Check::Unsatisfiable
                        } else {
                            Check::Ready(end)
                        }
                    }
                    None => {
                        *scanned = buf.len();
                        if buf.len() >= *max_bytes {
                            Check::Unsatisfiable
                        } else {
                            Check::NotYet
                        }
                    }
                }
            }
        }
    }
}

/// Position of the first occurrence of `needle` in `hay`.
pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut from = 0;
    while let Some(i) = hay[from..].iter().position(|&b| b == first) {
        let at = from + i;
        if hay.len() - at < needle.len() {
            return None;
        }
        if &hay[at + 1..at + needle.len()] == rest {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn until(d: &[u8], max: Option<usize>) -> ReadRequest {
        ReadRequest::Until {
            delimiter: d.into(),
            max_bytes: max.unwrap_or(usize::MAX),
            scanned: 0,
        }
    }

    #[test]
    fn delimiter_split_across_packets_is_found_once_complete() {
        let mut r = until(b"\r\n\r\n", None);
        let mut buf = Vec::new();
        for (i, &b) in b"GET / HTTP/1.1\r\n\r\nrest".iter().enumerate() {
            buf.push(b);
            let c = r.check(&buf);
            if i < 17 {
                assert_eq!(c, Check::NotYet, "at {i}");
            } else {
                assert_eq!(c, Check::Ready(18));
                break;
            }
        }
    }

    #[test]
    fn max_bytes_bounds_until() {
        let mut r = until(b"\n", Some(4));
        assert_eq!(r.check(b"abc"), Check::NotYet);
        assert_eq!(r.check(b"abcd"), Check::Unsatisfiable);
        let mut r = until(b"\n", Some(4));
        assert_eq!(r.check(b"abc\n"), Check::Ready(4));
        let mut r = until(b"\n", Some(4));
        assert_eq!(r.check(b"abcd\n"), Check::Unsatisfiable);
    }

    #[test]
    fn bytes_exact_and_partial() {
        let mut r = ReadRequest::Bytes {
            n: 3,
            partial: false,
        };
        assert_eq!(r.check(b"ab"), Check::NotYet);
        assert_eq!(r.check(b"abcd"), Check::Ready(3));
        let mut r = ReadRequest::Bytes {
            n: 3,
            partial: true,
        };
        assert_eq!(r.check(b""), Check::NotYet);
        assert_eq!(r.check(b"a"), Check::Ready(1));
    }

    #[test]
    fn find_handles_prefix_overlap() {
        assert_eq!(find(b"aaab", b"aab"), Some(1));
        assert_eq!(find(b"ab", b"abc"), None);
        assert_eq!(find(b"xx\r\n", b"\r\n"), Some(2));
    }
}
