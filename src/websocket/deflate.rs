//! permessage-deflate (RFC 7692): negotiation of its parameters, and the per-message
//! compressor and inflater (raw deflate through `flate2`, feature `deflate`).
//!
//! The inflater is bounded *while* inflating: output is produced in 16 KiB steps and
//! inflation stops as soon as the message would exceed its limit, so a deflate bomb never
//! allocates its output. Without context takeover, neither side keeps deflate state
//! between messages (an idle connection holds none): a compressor that keeps no context
//! is shared by every connection of the thread, and held by one connection only while it
//! compresses a message in pieces ([`Compressor::compress_piece`]).
//!
//! Memory per connection (zlib-rs through `flate2`): an inflater that keeps the peer's
//! context holds ~42 KiB (a 32 KiB window whatever the window bits, of which only
//! 2^bits bytes are touched, plus its state); a compressor that keeps its context holds
//! 2^(bits+2) bytes of window and chains, a fixed 128 KiB hash table and 112 KiB of
//! buffers (zlib's memLevel 8, which `flate2` does not let us change): 368 KiB at 15
//! bits, 256 KiB at 12. Hence [`DeflateSettings`]'s default: the server's compressor
//! keeps no context.

use bytes::{Bytes, BytesMut};

use super::close::ProtocolError;
use super::header::Role;

/// The extension's token.
pub const NAME: &str = "permessage-deflate";

/// What was agreed for one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeflateParams {
    /// The server resets its compressor after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message.
    pub client_no_context_takeover: bool,
    /// The server compresses with at most this LZ77 window (2^n bytes; default 15).
    pub server_max_window_bits: Option<u8>,
    /// The client compresses with at most this window (default 15).
    pub client_max_window_bits: Option<u8>,
}

impl DeflateParams {
    /// Whether `role`'s own compressor resets after each message.
    pub fn compress_resets(&self, role: Role) -> bool {
        match role {
            Role::Server => self.server_no_context_takeover,
            Role::Client => self.client_no_context_takeover,
        }
    }

    /// Whether the peer's compressor resets (so `role`'s inflater may too).
    pub fn inflate_resets(&self, role: Role) -> bool {
        match role {
            Role::Server => self.client_no_context_takeover,
            Role::Client => self.server_no_context_takeover,
        }
    }

    /// The window `role` compresses with.
    pub fn compress_window_bits(&self, role: Role) -> u8 {
        match role {
            Role::Server => self.server_max_window_bits,
            Role::Client => self.client_max_window_bits,
        }
        .unwrap_or(15)
    }

    /// The header value describing these parameters (a server's response).
    pub fn to_header(&self) -> String {
        let mut s = String::from(NAME);
        if self.server_no_context_takeover {
            s.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            s.push_str("; client_no_context_takeover");
        }
        if let Some(b) = self.server_max_window_bits {
            s.push_str(&format!("; server_max_window_bits={b}"));
        }
        if let Some(b) = self.client_max_window_bits {
            s.push_str(&format!("; client_max_window_bits={b}"));
        }
        s
    }
}

/// What one side is willing to agree to (built from
/// [`WebSocketOptions`](super::WebSocketOptions)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateSettings {
    /// The server's compressor keeps nothing between messages (the server answers with
    /// `server_no_context_takeover`; a client asks for it).
    pub server_no_context_takeover: bool,
    /// The client's compressor keeps nothing between messages (asked of the client).
    pub client_no_context_takeover: bool,
    /// Largest window the server compresses with (9–15; below 15 it is announced).
    pub server_max_window_bits: u8,
    /// Largest window a client that supports the parameter is asked to compress with
    /// (9–15): the window the server keeps per connection to inflate its messages.
    pub client_max_window_bits: u8,
}

impl Default for DeflateSettings {
    /// Agree to whatever the peer offers: full windows, context kept unless asked.
    fn default() -> Self {
        DeflateSettings {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }
}

impl DeflateSettings {
    /// Settings that agree to the peer's offer and, with `no_context_takeover`, ask both
    /// sides to reset after each message.
    pub fn new(no_context_takeover: bool) -> Self {
        DeflateSettings {
            server_no_context_takeover: no_context_takeover,
            client_no_context_takeover: no_context_takeover,
            ..DeflateSettings::default()
        }
    }
}

/// One parsed offer or response: `Ok(params)` or `Err` when malformed (unknown or
/// repeated parameter, bad value). `client_max_window_bits` without a value reads as
/// `Some(0)` (the client merely supports it).
fn parse_params<'a>(params: impl Iterator<Item = &'a str>) -> Result<DeflateParams, ()> {
    let mut p = DeflateParams::default();
    let mut seen = [false; 4];
    for param in params {
        let (name, value) = match param.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
            None => (param.trim(), None),
        };
        let bits = |v: Option<&str>| -> Result<u8, ()> {
            let v = v.ok_or(())?;
            if v.is_empty() || v.len() > 2 || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(());
            }
            let n: u8 = v.parse().map_err(|_| ())?;
            if (8..=15).contains(&n) {
                Ok(n)
            } else {
                Err(())
            }
        };
        let slot = match name.to_ascii_lowercase().as_str() {
            "server_no_context_takeover" if value.is_none() => {
                p.server_no_context_takeover = true;
                0
            }
            "client_no_context_takeover" if value.is_none() => {
                p.client_no_context_takeover = true;
                1
            }
            "server_max_window_bits" => {
                p.server_max_window_bits = Some(bits(value)?);
                2
            }
            "client_max_window_bits" => {
                p.client_max_window_bits = Some(match value {
                    None => 0,
                    v => bits(v)?,
                });
                3
            }
            _ => return Err(()),
        };
        if std::mem::replace(&mut seen[slot], true) {
            return Err(());
        }
    }
    Ok(p)
}

/// The extensions of a `Sec-WebSocket-Extensions` value: name and parameter list.
fn extensions(header: &str) -> impl Iterator<Item = (&str, std::str::Split<'_, char>)> {
    header.split(',').filter_map(|ext| {
        let mut parts = ext.split(';');
        let name = parts.next()?.trim();
        (!name.is_empty()).then_some((name, parts))
    })
}

/// Server side: picks the first acceptable permessage-deflate offer in `offers` (the
/// client's `Sec-WebSocket-Extensions`), or `None` (answer without compression).
///
/// `no_context_takeover`: ask both sides to reset after each message (less memory per
/// connection, worse ratio). Offers asking for a 256-byte server window are declined
/// (zlib cannot compress raw deflate with it).
///
/// ```
/// use squall::websocket::deflate::negotiate;
/// let (p, answer) = negotiate("permessage-deflate; client_max_window_bits", false).unwrap();
/// assert_eq!(answer, "permessage-deflate");
/// assert!(!p.server_no_context_takeover);
/// let (_, answer) = negotiate("x-foo, permessage-deflate; server_max_window_bits=10", true).unwrap();
/// assert_eq!(answer, "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10");
/// assert!(negotiate("permessage-deflate; bogus=1", false).is_none());
/// ```
pub fn negotiate(offers: &str, no_context_takeover: bool) -> Option<(DeflateParams, String)> {
    negotiate_with(offers, &DeflateSettings::new(no_context_takeover))
}

/// Server side: as [`negotiate`], under `settings`: context takeover is refused as they
/// say, the server's window is at most `server_max_window_bits` (announced when below
/// 15), and a client that supports `client_max_window_bits` is asked for at most
/// `client_max_window_bits` (RFC 7692 §7.1.2).
///
/// ```
/// use squall::websocket::deflate::{negotiate_with, DeflateSettings};
/// let mut s = DeflateSettings::default();
/// s.server_no_context_takeover = true;
/// s.client_max_window_bits = 12;
/// let (_, answer) = negotiate_with("permessage-deflate; client_max_window_bits", &s).unwrap();
/// assert_eq!(answer, "permessage-deflate; server_no_context_takeover; client_max_window_bits=12");
/// // A client that does not support the parameter cannot be asked (it keeps 15 bits).
/// let (p, _) = negotiate_with("permessage-deflate", &s).unwrap();
/// assert_eq!(p.client_max_window_bits, None);
/// ```
pub fn negotiate_with(offers: &str, settings: &DeflateSettings) -> Option<(DeflateParams, String)> {
    if !AVAILABLE {
        return None;
    }
    for (name, params) in extensions(offers) {
        if !name.eq_ignore_ascii_case(NAME) {
            continue;
        }
        let Ok(offer) = parse_params(params) else {
            continue;
        };
        if offer.server_max_window_bits == Some(8) {
            continue;
        }
        let ours = |bits: u8| (bits < 15).then_some(bits.max(9));
        let agreed = DeflateParams {
            server_no_context_takeover: offer.server_no_context_takeover
                || settings.server_no_context_takeover,
            client_no_context_takeover: offer.client_no_context_takeover
                || settings.client_no_context_takeover,
            server_max_window_bits: match offer.server_max_window_bits {
                Some(n) => Some(n.min(settings.server_max_window_bits.max(9))),
                None => ours(settings.server_max_window_bits),
            },
            client_max_window_bits: match offer.client_max_window_bits {
                None => None,
                Some(0) => ours(settings.client_max_window_bits),
                Some(n) => ours(n.min(settings.client_max_window_bits)),
            },
        };
        let header = agreed.to_header();
        return Some((agreed, header));
    }
    None
}

/// Client side: the offer to send.
pub fn client_offer(no_context_takeover: bool) -> String {
    client_offer_with(&DeflateSettings::new(no_context_takeover))
}

/// Client side: the offer to send under `settings` (the client's own window is the
/// server's choice: it offers `client_max_window_bits` without a value).
///
/// ```
/// use squall::websocket::deflate::{client_offer_with, DeflateSettings};
/// let mut s = DeflateSettings::default();
/// s.server_no_context_takeover = true;
/// assert_eq!(client_offer_with(&s), "permessage-deflate; client_max_window_bits; server_no_context_takeover");
/// ```
pub fn client_offer_with(settings: &DeflateSettings) -> String {
    let mut s = format!("{NAME}; client_max_window_bits");
    if settings.server_no_context_takeover {
        s.push_str("; server_no_context_takeover");
    }
    if settings.client_no_context_takeover {
        s.push_str("; client_no_context_takeover");
    }
    if settings.server_max_window_bits < 15 {
        s.push_str(&format!(
            "; server_max_window_bits={}",
            settings.server_max_window_bits.max(9)
        ));
    }
    s
}

/// Client side: checks the server's `Sec-WebSocket-Extensions` answer to
/// [`client_offer`].
///
/// # Errors
/// A description when the answer is not one valid permessage-deflate response (the
/// client then fails the connection).
pub fn accept_response(header: &str) -> Result<DeflateParams, &'static str> {
    let mut exts = extensions(header);
    let Some((name, params)) = exts.next() else {
        return Err("empty Sec-WebSocket-Extensions");
    };
    if exts.next().is_some() || !name.eq_ignore_ascii_case(NAME) {
        return Err("server accepted an extension that was not offered");
    }
    let p = parse_params(params).map_err(|_| "invalid permessage-deflate parameters")?;
    match p.client_max_window_bits {
        Some(0) => Err("client_max_window_bits without a value in a response"),
        Some(8) => Err("client_max_window_bits=8 is not supported"),
        _ => Ok(p),
    }
}

/// The tail every sync-flushed deflate block ends with (removed on the wire, RFC 7692
/// §7.2.1).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Whether this build has the deflate codec (feature `deflate`).
pub const AVAILABLE: bool = cfg!(feature = "deflate");

/// Compresses outgoing messages.
pub struct Compressor {
    level: u32,
    window_bits: u8,
    reset: bool,
    #[cfg(feature = "deflate")]
    state: Option<flate2::Compress>,
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressor")
            .field("level", &self.level)
            .field("window_bits", &self.window_bits)
            .field("reset", &self.reset)
            .finish()
    }
}

impl Compressor {
    /// A compressor for `role` under `params`, at zlib `level` (0–9).
    pub fn new(params: &DeflateParams, role: Role, level: u32) -> Self {
        Compressor {
            level: level.min(9),
            window_bits: params.compress_window_bits(role).max(9),
            reset: params.compress_resets(role),
            #[cfg(feature = "deflate")]
            state: None,
        }
    }

    /// Compresses one whole message payload (the trailing `00 00 ff ff` removed).
    pub fn compress(&mut self, data: &[u8]) -> Bytes {
        #[cfg(feature = "deflate")]
        {
            let (level, bits) = (self.level, self.window_bits);
            if !self.reset {
                let c = self.state.get_or_insert_with(|| new_compress(level, bits));
                return nonempty(sync_compress(c, data, true));
            }
            // Without context takeover nothing is kept between messages: one compressor
            // per thread (and setting) serves every such connection, reset after use.
            let mut c = take_shared(level, bits).unwrap_or_else(|| new_compress(level, bits));
            let out = sync_compress(&mut c, data, true);
            give_back(level, bits, c);
            nonempty(out)
        }
        #[cfg(not(feature = "deflate"))]
        {
            let _ = data;
            unreachable!("permessage-deflate is never negotiated without the deflate feature")
        }
    }

    /// Compresses the next piece of a message sent in several frames: the compressed
    /// payload of a fragmented message may be split across its frames (RFC 7692 §6.1),
    /// so a large message is compressed a bounded piece at a time and each piece sent as
    /// it is ready. Every piece is sync-flushed (it can be inflated as it arrives); only
    /// the `last` one has its trailing `00 00 ff ff` removed, as for a whole message.
    ///
    /// From the first piece to the last this compressor holds its deflate state, even
    /// when it keeps no context between messages: the thread's shared compressor is
    /// taken for the duration (or a fresh one made) and is given back after the last
    /// piece, so it is never lent to another connection mid-message. Use
    /// [`compress`](Self::compress) only between messages.
    ///
    /// ```
    /// use squall::websocket::deflate::{Compressor, DeflateParams, Inflater};
    /// use squall::websocket::frame::Role;
    /// let text = "a long message, compressed in pieces. ".repeat(1000);
    /// let mut c = Compressor::new(&DeflateParams::default(), Role::Server, 6);
    /// let (a, b) = text.as_bytes().split_at(20_000);
    /// let wire = [c.compress_piece(a, false), c.compress_piece(b, true)].concat();
    /// let mut i = Inflater::new(&DeflateParams::default(), Role::Client);
    /// let mut out = bytes::BytesMut::new();
    /// i.inflate(&wire, &mut out, 1 << 20, usize::MAX).unwrap();
    /// i.finish(&mut out, 1 << 20, usize::MAX).unwrap();
    /// assert_eq!(&out[..], text.as_bytes());
    /// ```
    pub fn compress_piece(&mut self, data: &[u8], last: bool) -> Bytes {
        #[cfg(feature = "deflate")]
        {
            let (level, bits, reset) = (self.level, self.window_bits, self.reset);
            let c = self.state.get_or_insert_with(|| {
                let shared = if reset {
                    take_shared(level, bits)
                } else {
                    None
                };
                shared.unwrap_or_else(|| new_compress(level, bits))
            });
            let out = sync_compress(c, data, last);
            if last
                && reset
                && let Some(c) = self.state.take()
            {
                give_back(level, bits, c);
            }
            out
        }
        #[cfg(not(feature = "deflate"))]
        {
            let _ = (data, last);
            unreachable!("permessage-deflate is never negotiated without the deflate feature")
        }
    }

    /// Gives up a message whose pieces were not all compressed (its connection is
    /// closing, nothing more is sent): the deflate state is dropped.
    pub fn abandon(&mut self) {
        #[cfg(feature = "deflate")]
        {
            self.state = None;
        }
    }
}

/// Compressors kept per thread for connections that keep no context (at most one per
/// level and window in use, at most this many).
#[cfg(feature = "deflate")]
const SHARED_MAX: usize = 4;

#[cfg(feature = "deflate")]
thread_local! {
    static SHARED: std::cell::RefCell<Vec<(u32, u8, flate2::Compress)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

#[cfg(feature = "deflate")]
fn new_compress(level: u32, bits: u8) -> flate2::Compress {
    flate2::Compress::new_with_window_bits(flate2::Compression::new(level), false, bits)
}

/// Takes this thread's shared compressor for `level` and `bits`, if one is idle.
#[cfg(feature = "deflate")]
fn take_shared(level: u32, bits: u8) -> Option<flate2::Compress> {
    SHARED.with(|s| {
        let mut s = s.borrow_mut();
        let at = s.iter().position(|(l, b, _)| (*l, *b) == (level, bits))?;
        Some(s.swap_remove(at).2)
    })
}

/// Resets a compressor that keeps no context and keeps it for the next message, unless
/// one for its setting is kept already (two are in use at once only while messages are
/// compressed in pieces).
#[cfg(feature = "deflate")]
fn give_back(level: u32, bits: u8, mut c: flate2::Compress) {
    SHARED.with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < SHARED_MAX && !s.iter().any(|(l, b, _)| (*l, *b) == (level, bits)) {
            c.reset();
            s.push((level, bits, c));
        }
    });
}

/// A whole message compressed to nothing is sent as one `00` byte (an empty block).
#[cfg(feature = "deflate")]
fn nonempty(out: Bytes) -> Bytes {
    if out.is_empty() {
        Bytes::from_static(&[0])
    } else {
        out
    }
}

/// Compresses `data` with a sync flush; with `strip`, the trailing `00 00 ff ff` removed.
#[cfg(feature = "deflate")]
fn sync_compress(c: &mut flate2::Compress, data: &[u8], strip: bool) -> Bytes {
    use flate2::FlushCompress;
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    let start = c.total_in();
    loop {
        let consumed = (c.total_in() - start) as usize;
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(256));
        }
        // A sync flush into a buffer with room left is complete.
        let _ = c.compress_vec(&data[consumed..], &mut out, FlushCompress::Sync);
        if (c.total_in() - start) as usize == data.len() && out.len() < out.capacity() {
            break;
        }
    }
    if strip && out.ends_with(&TAIL) {
        out.truncate(out.len() - 4);
    }
    Bytes::from(out)
}

/// Inflates incoming compressed messages, bounded while it inflates and in steps.
///
/// Output is produced under two bounds: the message's size limit (a bomb fails with
/// 1009 before its output is allocated) and a *budget* per call, so that one call never
/// inflates more than the caller allows: [`inflate`](Self::inflate) then reports that it
/// stopped early, and the caller continues on a later turn of the loop.
///
/// A peer may end its DEFLATE stream with a final block (BFINAL, RFC 7692 §7.2.3.6): what
/// follows then starts a new stream, with no history carried over (as a compressor that
/// finished its stream starts afresh). Data that refers back beyond it is corrupt (1007);
/// it is never delivered empty or wrong.
pub struct Inflater {
    reset: bool,
    window_bits: u8,
    /// The stream ended (final block) and nothing of the next one arrived yet: the
    /// message's removed tail is not fed (it belongs to no stream).
    ended: bool,
    /// Bytes of the tail fed for the message being finished.
    tail_at: u8,
    #[cfg(feature = "deflate")]
    state: Option<flate2::Decompress>,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("reset", &self.reset)
            .field("window_bits", &self.window_bits)
            .finish()
    }
}

#[cfg(feature = "deflate")]
const TOO_BIG: ProtocolError = ProtocolError::new(super::close::MESSAGE_TOO_BIG, "message too big");
#[cfg(feature = "deflate")]
const CORRUPT: ProtocolError =
    ProtocolError::new(super::close::INVALID_PAYLOAD, "invalid deflate data");

impl Inflater {
    /// An inflater for `role` under `params` (its window is the one the peer compresses
    /// with).
    pub fn new(params: &DeflateParams, role: Role) -> Self {
        let peer = match role {
            Role::Server => Role::Client,
            Role::Client => Role::Server,
        };
        Inflater {
            reset: params.inflate_resets(role),
            window_bits: params.compress_window_bits(peer).clamp(9, 15),
            ended: false,
            tail_at: 0,
            #[cfg(feature = "deflate")]
            state: None,
        }
    }

    /// Inflates a piece of a compressed message into `out`, which may not grow beyond
    /// `limit` bytes in total, producing at most about `budget` bytes in this call.
    ///
    /// Returns the input bytes consumed and whether it stopped because the budget was
    /// spent: then call again (with the input not consumed, possibly none) to go on.
    /// Otherwise all of `input` was consumed and no output is pending.
    ///
    /// # Errors
    /// 1009 as soon as the output would exceed `limit`; 1007 for corrupt data.
    pub fn inflate(
        &mut self,
        input: &[u8],
        out: &mut BytesMut,
        limit: usize,
        budget: usize,
    ) -> Result<(usize, bool), ProtocolError> {
        self.run(input, out, limit, budget, false)
    }

    #[cfg(feature = "deflate")]
    fn run(
        &mut self,
        input: &[u8],
        out: &mut BytesMut,
        limit: usize,
        budget: usize,
        tail: bool,
    ) -> Result<(usize, bool), ProtocolError> {
        use bytes::BufMut;
        use flate2::{Decompress, FlushDecompress, Status};
        let bits = self.window_bits;
        let mut scratch = [0u8; 16 * 1024];
        let mut at = 0;
        let mut produced_total = 0;
        loop {
            if produced_total >= budget {
                return Ok((at, true));
            }
            let room = (limit + 1)
                .saturating_sub(out.len())
                .min(scratch.len())
                .min(budget - produced_total);
            if out.len() > limit {
                return Err(TOO_BIG);
            }
            let d = self
                .state
                .get_or_insert_with(|| Decompress::new_with_window_bits(false, bits));
            let (in0, out0) = (d.total_in(), d.total_out());
            let status = d
                .decompress(&input[at..], &mut scratch[..room], FlushDecompress::Sync)
                .map_err(|_| CORRUPT)?;
            let consumed = (d.total_in() - in0) as usize;
            let produced = (d.total_out() - out0) as usize;
            at += consumed;
            produced_total += produced;
            out.put_slice(&scratch[..produced]);
            if out.len() > limit {
                return Err(TOO_BIG);
            }
            if status == Status::StreamEnd {
                // A final block: what follows is a new stream (or, in the tail, nothing).
                self.state = None;
                self.ended = true;
                if tail {
                    return Ok((input.len(), false));
                }
                continue;
            }
            if consumed > 0 {
                self.ended = false;
            }
            if produced < room {
                if at == input.len() {
                    return Ok((at, false));
                }
                if consumed == 0 && produced == 0 {
                    return Err(CORRUPT); // no progress with input and room left
                }
            }
        }
    }

    #[cfg(not(feature = "deflate"))]
    fn run(
        &mut self,
        input: &[u8],
        out: &mut BytesMut,
        limit: usize,
        budget: usize,
        tail: bool,
    ) -> Result<(usize, bool), ProtocolError> {
        let _ = (input, out, limit, budget, tail);
        unreachable!("permessage-deflate is never negotiated without the deflate feature")
    }

    /// Ends a message: feeds the removed `00 00 ff ff` tail (unless the peer's stream
    /// ended with a final block) and drops the state if the peer does not take context
    /// over. Returns `true` when it stopped because `budget` was spent: call it again.
    ///
    /// # Errors
    /// As [`inflate`](Self::inflate).
    pub fn finish(
        &mut self,
        out: &mut BytesMut,
        limit: usize,
        budget: usize,
    ) -> Result<bool, ProtocolError> {
        // After a final block the rest of the tail belongs to no stream.
        let r = if self.ended {
            Ok(false)
        } else {
            let at = usize::from(self.tail_at);
            self.run(&TAIL[at..], out, limit, budget, true)
                .map(|(n, more)| {
                    self.tail_at = (at + n) as u8;
                    more
                })
        };
        if matches!(r, Ok(true)) {
            return r;
        }
        self.tail_at = 0;
        if self.reset || r.is_err() {
            self.drop_state();
        }
        r
    }

    fn drop_state(&mut self) {
        self.ended = false;
        #[cfg(feature = "deflate")]
        {
            self.state = None;
        }
    }
}

#[cfg(all(test, feature = "deflate"))]
mod tests {
    use super::*;

    fn roundtrip(params: DeflateParams, msgs: &[&[u8]]) {
        let mut c = Compressor::new(&params, Role::Server, 6);
        let mut i = Inflater::new(&params, Role::Client);
        for m in msgs {
            let z = c.compress(m);
            let mut out = BytesMut::new();
            i.inflate(&z, &mut out, 1 << 20, usize::MAX).unwrap();
            i.finish(&mut out, 1 << 20, usize::MAX).unwrap();
            assert_eq!(&out[..], *m);
        }
    }

    #[test]
    fn roundtrips_with_and_without_context_takeover() {
        let msgs: &[&[u8]] = &[
            b"hello hello hello",
            b"",
            b"hello hello hello",
            &[7u8; 100_000],
        ];
        roundtrip(DeflateParams::default(), msgs);
        roundtrip(
            DeflateParams {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                server_max_window_bits: Some(9),
                client_max_window_bits: None,
            },
            msgs,
        );
    }

    /// Compresses `msg` in pieces of `step` bytes: the frames' payloads, in order.
    fn pieces(c: &mut Compressor, msg: &[u8], step: usize) -> Vec<Bytes> {
        let chunks: Vec<&[u8]> = msg.chunks(step).collect();
        let n = chunks.len();
        chunks
            .into_iter()
            .enumerate()
            .map(|(k, piece)| c.compress_piece(piece, k + 1 == n))
            .collect()
    }

    #[test]
    fn a_message_compressed_in_pieces_inflates_whole_and_context_carries_on() {
        let text: Vec<u8> = (0..300_000u32)
            .flat_map(|i| format!("{} ", i % 977).into_bytes())
            .collect();
        for params in [
            DeflateParams::default(),
            DeflateParams {
                server_no_context_takeover: true,
                ..DeflateParams::default()
            },
        ] {
            let mut c = Compressor::new(&params, Role::Server, 6);
            let mut i = Inflater::new(&params, Role::Client);
            for _ in 0..2 {
                let frames = pieces(&mut c, &text, 256 * 1024);
                assert!(frames.len() >= 4, "{}", frames.len());
                // Every piece but the last keeps its sync-flush tail.
                for f in &frames[..frames.len() - 1] {
                    assert!(f.ends_with(&TAIL));
                }
                let mut out = BytesMut::new();
                for f in &frames {
                    i.inflate(f, &mut out, 16 << 20, usize::MAX).unwrap();
                }
                i.finish(&mut out, 16 << 20, usize::MAX).unwrap();
                assert!(out[..] == text[..], "{params:?}");
                // A whole message after it, on the same compressor and inflater.
                assert_eq!(message(&mut i, &c.compress(b"after")).unwrap(), b"after");
            }
        }
    }

    #[test]
    fn the_shared_compressor_is_not_lent_to_another_connection_mid_message() {
        // Two connections that keep no context, same level and window: one is half-way
        // through a message compressed in pieces while the other compresses messages.
        let params = DeflateParams {
            server_no_context_takeover: true,
            ..DeflateParams::default()
        };
        let mut a = Compressor::new(&params, Role::Server, 6);
        let mut b = Compressor::new(&params, Role::Server, 6);
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let first = a.compress_piece(&big[..100_000], false);
        let other = b.compress(b"another connection's message");
        let second = b.compress(b"and another");
        let last = a.compress_piece(&big[100_000..], true);
        let mut ia = Inflater::new(&params, Role::Client);
        let mut out = BytesMut::new();
        ia.inflate(&first, &mut out, 1 << 20, usize::MAX).unwrap();
        ia.inflate(&last, &mut out, 1 << 20, usize::MAX).unwrap();
        ia.finish(&mut out, 1 << 20, usize::MAX).unwrap();
        assert!(out[..] == big[..]);
        let mut ib = Inflater::new(&params, Role::Client);
        assert_eq!(
            message(&mut ib, &other).unwrap(),
            b"another connection's message"
        );
        assert_eq!(message(&mut ib, &second).unwrap(), b"and another");
        // After its last piece, the compressor holds nothing (it was given back).
        assert!(a.state.is_none());
        assert_eq!(SHARED.with(|s| s.borrow().len()), 1);
    }

    #[test]
    fn context_takeover_makes_repeats_smaller() {
        let mut c = Compressor::new(&DeflateParams::default(), Role::Server, 6);
        let msg = b"a message that repeats itself over and over, not short";
        let first = c.compress(msg).len();
        let second = c.compress(msg).len();
        assert!(second < first, "{second} < {first}");
    }

    #[test]
    fn rfc7692_hello_examples() {
        // §7.2.3.1: "Hello" compressed, then §7.2.3.2 with context takeover.
        let mut i = Inflater::new(&DeflateParams::default(), Role::Client);
        let mut out = BytesMut::new();
        i.inflate(
            &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
            &mut out,
            100,
            100,
        )
        .unwrap();
        i.finish(&mut out, 100, 100).unwrap();
        assert_eq!(&out[..], b"Hello");
        out.clear();
        i.inflate(&[0xf2, 0x00, 0x11, 0x00, 0x00], &mut out, 100, 100)
            .unwrap();
        i.finish(&mut out, 100, 100).unwrap();
        assert_eq!(&out[..], b"Hello");
    }

    /// Inflates one whole message (its wire payload, tail removed by the sender).
    fn message(i: &mut Inflater, payload: &[u8]) -> Result<Vec<u8>, ProtocolError> {
        let mut out = BytesMut::new();
        i.inflate(payload, &mut out, 1 << 20, usize::MAX)?;
        i.finish(&mut out, 1 << 20, usize::MAX)?;
        Ok(out.to_vec())
    }

    fn finished_stream(data: &[u8]) -> Vec<u8> {
        let mut c = flate2::Compress::new(flate2::Compression::default(), false);
        let mut out = Vec::with_capacity(data.len() + 64);
        c.compress_vec(data, &mut out, flate2::FlushCompress::Finish)
            .unwrap();
        out
    }

    #[test]
    fn a_stream_ended_by_a_final_block_is_followed_by_a_new_one() {
        let mut i = Inflater::new(&DeflateParams::default(), Role::Server);
        assert_eq!(message(&mut i, &finished_stream(b"one")).unwrap(), b"one");
        assert_eq!(message(&mut i, &finished_stream(b"two")).unwrap(), b"two");
        // RFC 7692 §7.2.3.6: a final block, then the empty stored block's first byte.
        let hello = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
        assert_eq!(message(&mut i, &hello).unwrap(), b"Hello");
        assert_eq!(message(&mut i, &hello).unwrap(), b"Hello");
        // Then a compressor that keeps its context (sync flushes) across two messages.
        let mut c = Compressor::new(&DeflateParams::default(), Role::Client, 6);
        let text = b"context is kept from here on, context is kept";
        for _ in 0..2 {
            assert_eq!(message(&mut i, &c.compress(text)).unwrap(), text);
        }
        assert_eq!(
            message(&mut i, &finished_stream(b"three")).unwrap(),
            b"three"
        );
    }

    #[test]
    fn bomb_is_stopped_while_inflating() {
        let mut c = Compressor::new(&DeflateParams::default(), Role::Client, 9);
        let bomb = c.compress(&vec![0u8; 16 << 20]); // 16 MiB of zeros: ~16 KiB
        assert!(bomb.len() < 100_000);
        let mut i = Inflater::new(&DeflateParams::default(), Role::Server);
        let mut out = BytesMut::new();
        let e = i.inflate(&bomb, &mut out, 1 << 20, usize::MAX).unwrap_err();
        assert_eq!(e.code, 1009);
        assert!(
            out.len() <= (1 << 20) + 1 && out.capacity() < 4 << 20,
            "{}",
            out.capacity()
        );
    }

    #[test]
    fn negotiation() {
        assert!(negotiate("x-webkit-deflate-frame", false).is_none());
        assert!(negotiate("permessage-deflate; server_max_window_bits=8", false).is_none());
        assert!(negotiate("permessage-deflate; server_max_window_bits=16", false).is_none());
        assert!(negotiate(
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            false
        )
        .is_none());
        let (p, h) = negotiate(
            "permessage-deflate; server_max_window_bits=8, permessage-deflate; client_no_context_takeover",
            false,
        )
        .unwrap();
        assert!(p.client_no_context_takeover && !p.server_no_context_takeover);
        assert_eq!(h, "permessage-deflate; client_no_context_takeover");
        let p = accept_response(
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=10",
        )
        .unwrap();
        assert!(p.server_no_context_takeover);
        assert_eq!(p.compress_window_bits(Role::Client), 10);
        assert!(accept_response("permessage-deflate, permessage-deflate").is_err());
        assert!(accept_response("x-foo").is_err());
        assert!(accept_response("permessage-deflate; client_max_window_bits").is_err());
    }
}
