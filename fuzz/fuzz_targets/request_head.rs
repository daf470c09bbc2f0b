//! The request-head parser alone: never panics; a complete head never consumes more
//! than it was given nor leaves framing the server cannot handle; every prefix of a
//! complete head is "need more" (or an error the whole head shares).
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use squall::http::h1::{parse_request_head, parse_request_head_into, BodyKind, RequestHead};
use squall_fuzz::small_limits;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, input)) = data.split_first() else { return };
    let limits = small_limits(sel);
    let mut buf = BytesMut::from(input);
    let whole = parse_request_head(&mut buf, &limits);
    // The allocation-reusing variant agrees, even with a dirty head to parse into.
    let mut reused = RequestHead::default();
    let _ = parse_request_head_into(&mut BytesMut::from(&b"POST /x HTTP/1.0\r\nA: b\r\nContent-Length: 1\r\n\r\n"[..]), &limits, &mut reused);
    let mut buf2 = BytesMut::from(input);
    let into = parse_request_head_into(&mut buf2, &limits, &mut reused);
    match (&whole, &into) {
        (Ok(Some(h)), Ok(true)) => {
            assert_eq!(
                (&h.method, &h.uri, h.version, &h.headers, h.body, h.keep_alive, h.expect_continue),
                (&reused.method, &reused.uri, reused.version, &reused.headers, reused.body, reused.keep_alive, reused.expect_continue)
            );
            assert_eq!(buf.len(), buf2.len());
        }
        (Ok(None), Ok(false)) | (Err(_), Err(_)) => {}
        (a, b) => panic!("parse_request_head {a:?} but parse_request_head_into {b:?}"),
    }
    if let Ok(Some(h)) = &whole {
        assert_ne!(h.body, BodyKind::Close);
        let used = input.len() - buf.len();
        assert_eq!(&buf[..], &input[used..]);
        // Any strict prefix of the head is incomplete, not an error.
        let cut = usize::from(sel) % used;
        let r = parse_request_head(&mut BytesMut::from(&input[..cut]), &limits);
        assert!(matches!(r, Ok(None)), "prefix of {used} bytes cut at {cut}: {r:?}");
    }
});
