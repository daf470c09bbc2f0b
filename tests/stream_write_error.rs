//! A peer that answers and then stops reading (an HTTP server's early 413): the stream's
//! failing write must not lose what the peer sent, and a pending `read_with` parser gets
//! that data and the close from the loop, never inside the `write` call that failed.

mod support;

use std::cell::Cell;
use std::io::Write;
use std::rc::Rc;

use bytes::BytesMut;
use squall::stream::IoStream;
use squall::Reactor;
use support::{tcp_pair, wait};

#[test]
fn a_failed_write_hands_the_peers_last_bytes_to_the_pending_read_with_from_the_loop() {
    let mut reactor = Reactor::new().unwrap();
    let (a, mut peer) = tcp_pair();
    let stream = IoStream::new(&reactor.handle(), a).unwrap();
    let in_write = Rc::new(Cell::new(false));
    let flag = in_write.clone();
    let answer = stream.read_with(move |buf: &mut BytesMut, closed| {
        assert!(!flag.get(), "parser called from inside write()");
        if closed {
            return Ok(Some(buf.split().freeze()));
        }
        Ok(None)
    });
    // The client sent something the peer will not read; the peer answers and closes
    // with it unread, so its kernel resets the connection.
    stream.write_and_forget(vec![b'x'; 1024]);
    reactor.run_once(Some(std::time::Duration::ZERO)).unwrap();
    peer.write_all(b"HTTP/1.1 413 Payload Too Large\r\n\r\n")
        .unwrap();
    drop(peer);
    // Writing more now fails (EPIPE or ECONNRESET) inside this call.
    in_write.set(true);
    for _ in 0..64 {
        if !stream.write_and_forget(vec![b'y'; 64 * 1024]) {
            break;
        }
    }
    in_write.set(false);
    let got = wait(&mut reactor, &answer).unwrap();
    assert_eq!(&got[..], b"HTTP/1.1 413 Payload Too Large\r\n\r\n");
}
