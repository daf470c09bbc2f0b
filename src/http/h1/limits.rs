//! Size limits shared by the head parsers and the trailer parser.

/// Bounds on a message head (request/status line plus header fields), and on trailers.
///
/// ```
/// let l = squall::http::h1::HeadLimits::default();
/// assert_eq!((l.max_header_size, l.max_headers), (64 * 1024, 100));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLimits {
    /// Largest head in bytes, start line and leading empty lines included (default
    /// 64 KiB). A longer head is answered with 431.
    pub max_header_size: usize,
    /// Most header fields in one head (default 100). More is answered with 431.
    pub max_headers: usize,
}

impl Default for HeadLimits {
    fn default() -> Self {
        HeadLimits {
            max_header_size: 64 * 1024,
            max_headers: 100,
        }
    }
}
