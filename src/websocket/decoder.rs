//! [`Decoder`]: frames in, messages and control frames out. Data frames are consumed as
//! they arrive (not when complete), so invalid UTF-8 or an oversized message fails the
//! connection at once, and a compressed message is inflated piece by piece under its
//! limit and in steps: one call inflates at most a budget of bytes, then pauses
//! ([`Decoder::paused`]) so the caller can let other connections run before going on.

use bytes::{Buf, Bytes, BytesMut};

use super::close::ProtocolError;
use super::close::{self, parse_close_payload};
use super::deflate::Inflater;
use super::header::{parse_header, Opcode, Role};
use super::mask::apply_mask;
use super::message::Message;
use super::text::Text;
use super::utf8::Utf8Validator;

/// What the decoder delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A complete data message.
    Message(Message),
    /// A ping with its payload (answer it with a pong carrying the same data).
    Ping(Bytes),
    /// A pong with its payload.
    Pong(Bytes),
    /// A close frame: its code and reason, or `None` when it had no payload. The decoder
    /// ignores everything after it.
    Close(Option<(u16, String)>),
}

/// The data frame being read.
#[derive(Debug)]
struct Frame {
    remaining: u64,
    mask: Option<[u8; 4]>,
    offset: usize,
    fin: bool,
}

/// A whole-message frame of at most [`IN_PLACE_MAX`] bytes waiting in the read buffer
/// (header at its front): its payload is unmasked and UTF-8-checked in place as it
/// arrives, then split off without a copy.
#[derive(Debug)]
struct InPlace {
    hlen: usize,
    len: usize,
    mask: Option<[u8; 4]>,
    text: bool,
    /// Payload bytes already unmasked (and checked, for text).
    done: usize,
    utf8: Utf8Validator,
}

/// Largest frame assembled in the read buffer itself; bigger ones are streamed into a
/// message buffer piece by piece (the read buffer stays small).
const IN_PLACE_MAX: usize = 64 * 1024;

/// The message being assembled.
#[derive(Debug)]
struct Partial {
    text: bool,
    compressed: bool,
    data: BytesMut,
    /// Bytes of `data` already checked as UTF-8.
    checked: usize,
    utf8: Utf8Validator,
    /// Compressed payload (unmasked) not inflated yet: the rest of a piece whose inflating
    /// paused.
    pending: Bytes,
    /// The last frame's payload is all in: the message ends once `pending` is inflated
    /// and the inflater finished it.
    last: bool,
}

const TOO_BIG: ProtocolError = ProtocolError::new(close::MESSAGE_TOO_BIG, "message too big");
const BAD_UTF8: ProtocolError = ProtocolError::new(close::INVALID_PAYLOAD, "invalid UTF-8 in text");

/// Decodes one direction of a connection (sans-IO).
///
/// Feed it the read buffer; it consumes what it used. After an error or a close frame
/// it consumes and ignores everything.
#[derive(Debug)]
pub struct Decoder {
    role: Role,
    max_message_size: usize,
    // Boxed: an idle connection's decoder is a few words (no message in progress, no
    // deflate unless negotiated).
    inflater: Option<Box<Inflater>>,
    frame: Option<Box<Frame>>,
    in_place: Option<Box<InPlace>>,
    msg: Option<Box<Partial>>,
    done: bool,
    /// Inflating stopped because the budget was spent; the next `decode` goes on.
    paused: bool,
    /// Bytes that may still be inflated before pausing, and the amount each turn gets
    /// (`u32`: the decoder is part of every idle connection; `u32::MAX`: no bound).
    budget: u32,
    step: u32,
    /// Data-frame payload bytes taken so far, wrapping (see [`progress`](Decoder::progress)).
    taken: u32,
}

impl Decoder {
    /// A decoder for `role` (a server requires masked frames, a client refuses them)
    /// delivering messages of at most `max_message_size` bytes (after decompression).
    pub fn new(role: Role, max_message_size: usize) -> Self {
        Decoder {
            role,
            max_message_size,
            inflater: None,
            frame: None,
            in_place: None,
            msg: None,
            done: false,
            paused: false,
            budget: u32::MAX,
            step: u32::MAX,
            taken: 0,
        }
    }

    /// Data-frame payload bytes received so far, all messages together, wrapping at 2^32:
    /// a message in progress ([`in_message`](Self::in_message)) whose count does not move
    /// is stalled.
    pub fn progress(&self) -> u32 {
        self.taken
    }

    /// Gives up: drops the message in progress and ignores everything from now on.
    pub fn abort(&mut self) {
        self.done = true;
        self.paused = false;
        self.msg = None;
        self.frame = None;
        self.in_place = None;
    }

    /// Inflates at most `bytes` per turn (see [`start_turn`](Self::start_turn)); by
    /// default there is no such bound.
    pub fn set_inflate_step(&mut self, bytes: usize) {
        self.step = bytes.clamp(1, u32::MAX as usize) as u32;
        self.budget = self.step;
    }

    /// Starts a turn: the inflate budget is full again.
    pub fn start_turn(&mut self) {
        self.budget = self.step;
    }

    /// True when the last [`decode`](Self::decode) returned `Ok(None)` because the
    /// turn's inflate budget was spent (not because bytes are missing): start a new turn
    /// and call it again, even with no new bytes.
    pub fn paused(&self) -> bool {
        self.paused && !self.done
    }

    /// Enables permessage-deflate (RSV1 marks a compressed message).
    pub fn set_inflater(&mut self, inflater: Inflater) {
        self.inflater = Some(Box::new(inflater));
    }

    /// True while a message is partly received.
    pub fn in_message(&self) -> bool {
        self.msg.is_some() || self.frame.is_some() || self.in_place.is_some()
    }

    /// Decodes from the front of `buf`: `Ok(Some(_))` for the next message or control
    /// frame, `Ok(None)` when more bytes are needed.
    ///
    /// # Errors
    /// A [`ProtocolError`] with the close code to fail the connection with.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Incoming>, ProtocolError> {
        if self.done {
            buf.clear();
            return Ok(None);
        }
        let r = self.step(buf);
        if r.is_err() {
            self.abort();
        }
        r
    }

    fn step(&mut self, buf: &mut BytesMut) -> Result<Option<Incoming>, ProtocolError> {
        if self.in_place.is_some() {
            return self.in_place_step(buf);
        }
        if self.paused {
            self.paused = false;
            self.pump()?;
            if self.paused {
                return Ok(None);
            }
            if self.msg.as_ref().is_some_and(|m| m.last) {
                return self.finish_message();
            }
        }
        loop {
            if let Some(frame) = &mut self.frame {
                let n = frame.remaining.min(buf.len() as u64) as usize;
                if n == 0 && frame.remaining > 0 {
                    return Ok(None);
                }
                let mut chunk = buf.split_to(n);
                if let Some(k) = frame.mask {
                    apply_mask(&mut chunk, k, frame.offset);
                }
                frame.offset += n;
                frame.remaining -= n as u64;
                self.taken = self.taken.wrapping_add(n as u32);
                let end = frame.remaining == 0;
                let fin = frame.fin;
                if end {
                    self.frame = None;
                    if let Some(m) = &mut self.msg {
                        m.last = fin;
                    }
                }
                self.feed(chunk)?;
                if self.paused {
                    return Ok(None);
                }
                if end && fin {
                    return self.finish_message();
                }
                continue;
            }
            let Some((h, hlen)) = parse_header(buf, self.inflater.is_some())? else {
                return Ok(None);
            };
            match (self.role, h.mask.is_some()) {
                (Role::Server, false) => {
                    return Err(ProtocolError::new(
                        close::PROTOCOL_ERROR,
                        "unmasked client frame",
                    ))
                }
                (Role::Client, true) => {
                    return Err(ProtocolError::new(
                        close::PROTOCOL_ERROR,
                        "masked server frame",
                    ))
                }
                _ => {}
            }
            if h.opcode.is_control() {
                let total = hlen + h.len as usize;
                if buf.len() < total {
                    return Ok(None);
                }
                buf.advance(hlen);
                let mut payload = buf.split_to(h.len as usize);
                if let Some(k) = h.mask {
                    apply_mask(&mut payload, k, 0);
                }
                return Ok(Some(match h.opcode {
                    Opcode::Ping => Incoming::Ping(payload.freeze()),
                    Opcode::Pong => Incoming::Pong(payload.freeze()),
                    _ => {
                        let c = parse_close_payload(&payload)?;
                        self.done = true;
                        buf.clear();
                        Incoming::Close(c)
                    }
                }));
            }
            let uncompressed_len = if h.rsv1 { 0 } else { h.len };
            match (h.opcode, &self.msg) {
                (Opcode::Continuation, None) => {
                    return Err(ProtocolError::new(
                        close::PROTOCOL_ERROR,
                        "continuation frame without a message",
                    ))
                }
                (Opcode::Continuation, Some(m)) => {
                    if h.rsv1 {
                        return Err(ProtocolError::new(
                            close::PROTOCOL_ERROR,
                            "RSV1 on a continuation frame",
                        ));
                    }
                    if !m.compressed && m.data.len() as u64 + h.len > self.max_message_size as u64 {
                        return Err(TOO_BIG);
                    }
                }
                (_, Some(_)) => {
                    return Err(ProtocolError::new(
                        close::PROTOCOL_ERROR,
                        "new data frame inside a fragmented message",
                    ))
                }
                (opcode, None) => {
                    if uncompressed_len > self.max_message_size as u64 {
                        return Err(TOO_BIG);
                    }
                    let text = opcode == Opcode::Text;
                    // Fast path: a whole, uncompressed message in one buffered frame is
                    // unmasked in place and handed out without a copy.
                    if h.fin && !h.rsv1 && buf.len() as u64 >= hlen as u64 + h.len {
                        buf.advance(hlen);
                        let mut payload = buf.split_to(h.len as usize);
                        if let Some(k) = h.mask {
                            apply_mask(&mut payload, k, 0);
                        }
                        return whole(text, payload, false).map(|m| Some(Incoming::Message(m)));
                    }
                    if h.fin && !h.rsv1 && h.len as usize <= IN_PLACE_MAX {
                        // Wait for the rest in the read buffer, sized for it at once.
                        buf.reserve(hlen + h.len as usize - buf.len());
                        self.in_place = Some(Box::new(InPlace {
                            hlen,
                            len: h.len as usize,
                            mask: h.mask,
                            text,
                            done: 0,
                            utf8: Utf8Validator::default(),
                        }));
                        return self.in_place_step(buf);
                    }
                    // A whole message in one frame: its size is known (and within the
                    // limit), so up to 1 MiB is allocated at once; beyond, the buffer
                    // grows as the payload arrives (a peer announcing a big frame and
                    // sending nothing does not get memory reserved for it).
                    let cap = if h.fin {
                        uncompressed_len.min(1 << 20)
                    } else {
                        uncompressed_len.min(64 * 1024)
                    } as usize;
                    self.msg = Some(Box::new(Partial {
                        text,
                        compressed: h.rsv1,
                        data: BytesMut::with_capacity(cap),
                        checked: 0,
                        utf8: Utf8Validator::default(),
                        pending: Bytes::new(),
                        last: false,
                    }));
                }
            }
            buf.advance(hlen);
            self.frame = Some(Box::new(Frame {
                remaining: h.len,
                mask: h.mask,
                offset: 0,
                fin: h.fin,
            }));
        }
    }

    /// Unmasks and checks what arrived of an in-place frame; hands it out once whole.
    fn in_place_step(&mut self, buf: &mut BytesMut) -> Result<Option<Incoming>, ProtocolError> {
        let Some(p) = &mut self.in_place else {
            return Ok(None);
        };
        let avail = buf.len().saturating_sub(p.hlen).min(p.len);
        if avail > p.done {
            self.taken = self.taken.wrapping_add((avail - p.done) as u32);
            let new = &mut buf[p.hlen + p.done..p.hlen + avail];
            if let Some(k) = p.mask {
                apply_mask(new, k, p.done);
            }
            if p.text {
                p.utf8.feed(new).map_err(|_| BAD_UTF8)?;
            }
            p.done = avail;
        }
        if p.done < p.len {
            return Ok(None);
        }
        let (hlen, len, text) = (p.hlen, p.len, p.text);
        if text && !p.utf8.is_complete() {
            return Err(BAD_UTF8);
        }
        self.in_place = None;
        buf.advance(hlen);
        let payload = buf.split_to(len);
        whole(text, payload, true).map(|m| Some(Incoming::Message(m)))
    }

    /// Adds a piece of payload to the message: inflated if compressed, size-checked, and
    /// UTF-8-checked if text.
    fn feed(&mut self, chunk: BytesMut) -> Result<(), ProtocolError> {
        let max = self.max_message_size;
        let Some(m) = &mut self.msg else {
            return Ok(());
        };
        if m.compressed {
            m.pending = chunk.freeze();
            return self.pump();
        }
        if m.data.len() + chunk.len() > max {
            return Err(TOO_BIG);
        }
        m.data.extend_from_slice(&chunk);
        check_utf8(m)
    }

    /// Inflates the pending compressed bytes within the turn's budget; sets `paused`
    /// when the budget ran out first.
    fn pump(&mut self) -> Result<(), ProtocolError> {
        let max = self.max_message_size;
        let Some(m) = &mut self.msg else {
            return Ok(());
        };
        let inflater = self.inflater.as_mut().ok_or(TOO_BIG)?;
        let before = m.data.len();
        let (n, more) = inflater.inflate(&m.pending, &mut m.data, max, budget(self.budget))?;
        m.pending.advance(n);
        self.budget = spend(self.budget, m.data.len() - before);
        self.paused = more;
        check_utf8(m)
    }

    fn finish_message(&mut self) -> Result<Option<Incoming>, ProtocolError> {
        let mut m = self.msg.take().expect("a message is in progress");
        if m.compressed {
            let inflater = self.inflater.as_mut().ok_or(TOO_BIG)?;
            let before = m.data.len();
            let more = inflater.finish(&mut m.data, self.max_message_size, budget(self.budget))?;
            self.budget = spend(self.budget, m.data.len() - before);
            check_utf8(&mut m)?;
            if more {
                self.paused = true;
                self.msg = Some(m);
                return Ok(None);
            }
        }
        if m.text && !m.utf8.is_complete() {
            return Err(BAD_UTF8);
        }
        whole(m.text, m.data, true).map(|m| Some(Incoming::Message(m)))
    }
}

/// The inflate budget as a byte count (`u32::MAX`: unbounded).
fn budget(b: u32) -> usize {
    if b == u32::MAX {
        usize::MAX
    } else {
        b as usize
    }
}

fn spend(b: u32, used: usize) -> u32 {
    if b == u32::MAX {
        b
    } else {
        b.saturating_sub(used.min(u32::MAX as usize) as u32)
    }
}

fn check_utf8(m: &mut Partial) -> Result<(), ProtocolError> {
    if m.text {
        m.utf8.feed(&m.data[m.checked..]).map_err(|_| BAD_UTF8)?;
        m.checked = m.data.len();
    }
    Ok(())
}

/// The message of `payload`; a text payload is checked here unless `checked` says its
/// UTF-8 was already checked (incrementally, to its end) as it arrived: never twice.
fn whole(text: bool, payload: BytesMut, checked: bool) -> Result<Message, ProtocolError> {
    if !text {
        return Ok(Message::Binary(payload.freeze()));
    }
    if !checked && std::str::from_utf8(&payload).is_err() {
        return Err(BAD_UTF8);
    }
    Ok(Message::Text(Text::from_checked(payload.freeze())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::websocket::frame::encode_frame;

    const K: Option<[u8; 4]> = Some([0xde, 0xad, 0xbe, 0xef]);

    fn frame(op: Opcode, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode_frame(&mut out, op, fin, false, payload, K);
        out.to_vec()
    }

    /// Decodes everything in `wire`, fed in pieces of `step` bytes.
    fn decode_all(wire: &[u8], step: usize) -> Result<Vec<Incoming>, ProtocolError> {
        let mut d = Decoder::new(Role::Server, 1000);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for piece in wire.chunks(step.max(1)) {
            buf.extend_from_slice(piece);
            while let Some(i) = d.decode(&mut buf)? {
                out.push(i);
            }
        }
        Ok(out)
    }

    #[test]
    fn bad_utf8_is_refused_on_every_path_in_every_split() {
        // One frame ending inside a sequence, one with a byte that never starts one, and
        // a fragmented message cut inside a sequence: whole-frame, in-place and
        // fragment paths (by split size) all refuse them.
        let cut = frame(Opcode::Text, true, b"caf\xc3");
        let bad = frame(Opcode::Text, true, b"ab\xffcd");
        let mut frag = frame(Opcode::Text, false, b"caf");
        frag.extend(frame(Opcode::Continuation, true, b"\xc3"));
        for wire in [cut, bad, frag] {
            for step in 1..=wire.len() {
                let got = decode_all(&wire, step);
                assert!(
                    matches!(&got, Err(e) if e.code == close::INVALID_PAYLOAD),
                    "step {step}: {got:?}"
                );
            }
        }
    }

    #[test]
    fn a_text_message_is_handed_out_without_a_copy() {
        // The whole frame in the buffer (fast path) and a frame completed in place: the
        // text's bytes are those of the read buffer, not a copy.
        for first in [usize::MAX, 10] {
            let text = "κόσμε ".repeat(100);
            let wire = frame(Opcode::Text, true, text.as_bytes());
            let mut d = Decoder::new(Role::Server, 1 << 20);
            let mut buf = BytesMut::with_capacity(wire.len());
            let range = buf.as_ptr() as usize..buf.as_ptr() as usize + wire.len();
            let split = first.min(wire.len());
            buf.extend_from_slice(&wire[..split]);
            let mut got = d.decode(&mut buf).unwrap();
            if got.is_none() {
                buf.extend_from_slice(&wire[split..]);
                got = d.decode(&mut buf).unwrap();
            }
            let Some(Incoming::Message(Message::Text(t))) = got else {
                panic!("{got:?}");
            };
            assert_eq!(t, text);
            assert!(range.contains(&(t.as_ptr() as usize)), "copied ({first})");
        }
    }

    #[test]
    fn fragmented_text_with_interleaved_ping_in_every_split() {
        let mut wire = frame(Opcode::Text, false, "κό".as_bytes());
        wire.extend(frame(Opcode::Ping, true, b"p"));
        wire.extend(frame(Opcode::Continuation, false, "σ".as_bytes()));
        wire.extend(frame(Opcode::Continuation, true, "με".as_bytes()));
        wire.extend(frame(Opcode::Binary, true, b""));
        for step in 1..wire.len() {
            let got = decode_all(&wire, step).unwrap();
            assert_eq!(
                got,
                vec![
                    Incoming::Ping(Bytes::from_static(b"p")),
                    Incoming::Message(Message::Text("κόσμε".into())),
                    Incoming::Message(Message::Binary(Bytes::new())),
                ],
                "step {step}"
            );
        }
    }

    #[cfg(feature = "deflate")]
    #[test]
    fn inflating_is_done_in_bounded_steps_and_in_order() {
        use crate::websocket::deflate::{Compressor, DeflateParams, Inflater};
        let p = DeflateParams::default();
        let mut c = Compressor::new(&p, Role::Client, 9);
        let big = "squall ".repeat(300_000); // 2.1 MB, a few KiB compressed
        let mut wire = BytesMut::new();
        encode_frame(
            &mut wire,
            Opcode::Text,
            true,
            true,
            &c.compress(big.as_bytes()),
            K,
        );
        encode_frame(&mut wire, Opcode::Ping, true, false, b"p", K);
        encode_frame(
            &mut wire,
            Opcode::Text,
            true,
            true,
            &c.compress(b"after"),
            K,
        );
        let step = 64 * 1024;
        let mut d = Decoder::new(Role::Server, 4 << 20);
        d.set_inflater(Inflater::new(&p, Role::Server));
        d.set_inflate_step(step);
        let (mut got, mut pauses) = (Vec::new(), 0);
        while got.len() < 3 {
            d.start_turn();
            let before = d.msg.as_ref().map_or(0, |m| m.data.len());
            match d.decode(&mut wire).unwrap() {
                Some(i) => got.push(i),
                None => {
                    assert!(d.paused(), "needs bytes it was given");
                    let grown = d.msg.as_ref().map_or(0, |m| m.data.len()) - before;
                    assert!(grown <= step, "{grown} bytes inflated in one turn");
                    pauses += 1;
                }
            }
        }
        assert_eq!(
            got,
            vec![
                Incoming::Message(Message::Text(big.into())),
                Incoming::Ping(Bytes::from_static(b"p")),
                Incoming::Message(Message::Text("after".into())),
            ]
        );
        assert!(pauses >= 2_100_000 / step, "{pauses} pauses");
        assert!(!d.paused());
    }

    #[test]
    fn fragmentation_errors() {
        let cont = frame(Opcode::Continuation, true, b"x");
        assert_eq!(decode_all(&cont, 100).unwrap_err().code, 1002);
        let mut two = frame(Opcode::Text, false, b"a");
        two.extend(frame(Opcode::Binary, true, b"b"));
        assert_eq!(decode_all(&two, 100).unwrap_err().code, 1002);
    }

    #[test]
    fn masking_rules_by_role() {
        let mut unmasked = BytesMut::new();
        encode_frame(&mut unmasked, Opcode::Text, true, false, b"a", None);
        assert_eq!(decode_all(&unmasked, 100).unwrap_err().code, 1002);
        let mut client = Decoder::new(Role::Client, 100);
        let mut masked = BytesMut::from(&frame(Opcode::Text, true, b"a")[..]);
        assert_eq!(client.decode(&mut masked).unwrap_err().code, 1002);
        let mut d = Decoder::new(Role::Client, 100);
        assert_eq!(
            d.decode(&mut unmasked).unwrap(),
            Some(Incoming::Message(Message::Text("a".into())))
        );
    }

    #[test]
    fn invalid_utf8_fails_fast_before_the_frame_ends() {
        // Header announces 20 bytes; only the first 3 (one of them invalid) arrived.
        let wire = frame(Opcode::Text, true, b"ab\xffxxxxxxxxxxxxxxxxx");
        let mut d = Decoder::new(Role::Server, 1000);
        let mut buf = BytesMut::from(&wire[..6 + 3]);
        assert_eq!(d.decode(&mut buf).unwrap_err().code, 1007);
        // Split sequence across fragments is fine; truncated at the end is not.
        let mut wire = frame(Opcode::Text, false, &[0xe2, 0x82]);
        wire.extend(frame(Opcode::Continuation, true, &[0xac]));
        assert_eq!(
            decode_all(&wire, 100).unwrap(),
            vec![Incoming::Message(Message::Text("€".into()))]
        );
        let wire = frame(Opcode::Text, true, &[0xe2, 0x82]);
        assert_eq!(decode_all(&wire, 100).unwrap_err().code, 1007);
    }

    #[test]
    fn too_big_is_1009_from_the_header() {
        let mut d = Decoder::new(Role::Server, 10);
        let mut buf = BytesMut::from(&frame(Opcode::Binary, true, &[0; 11])[..6]);
        assert_eq!(d.decode(&mut buf).unwrap_err().code, 1009);
        let mut wire = frame(Opcode::Binary, false, &[0; 6]);
        wire.extend(frame(Opcode::Continuation, true, &[0; 6]));
        let mut d = Decoder::new(Role::Server, 10);
        let mut buf = BytesMut::from(&wire[..]);
        assert_eq!(d.decode(&mut buf).unwrap_err().code, 1009);
    }

    #[test]
    fn close_frames_and_what_follows() {
        let mut wire = frame(Opcode::Close, true, b"\x03\xe8ok");
        wire.extend(frame(Opcode::Text, true, b"ignored"));
        assert_eq!(
            decode_all(&wire, 100).unwrap(),
            vec![Incoming::Close(Some((1000, "ok".into())))]
        );
        assert_eq!(
            decode_all(&frame(Opcode::Close, true, b"\x03"), 100)
                .unwrap_err()
                .code,
            1002
        );
        assert_eq!(
            decode_all(&frame(Opcode::Close, true, b"\x03\xed"), 100)
                .unwrap_err()
                .code,
            1002
        );
        assert_eq!(
            decode_all(&frame(Opcode::Close, true, b""), 100).unwrap(),
            vec![Incoming::Close(None)]
        );
    }
}
