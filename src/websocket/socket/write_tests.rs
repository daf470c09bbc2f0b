//! A frame whose payload is not copied behind its header (more than `COPY_MAX` bytes)
//! still reaches the kernel in one write with its header. Over a `SOCK_SEQPACKET` pair
//! every write is one record, so the peer sees where each write ended.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use socket2::{Domain, Socket, Type};

use super::WebSocket;
use crate::reactor::Reactor;
use crate::stream::IoStream;
use crate::websocket::frame::{Role, COPY_MAX};
use crate::websocket::WebSocketOptions;

fn seqpacket_pair() -> (UnixStream, UnixStream) {
    let (a, b) = Socket::pair(Domain::UNIX, Type::SEQPACKET, None).unwrap();
    (
        UnixStream::from(OwnedFd::from(a)),
        UnixStream::from(OwnedFd::from(b)),
    )
}

/// Sends a binary message of `len` bytes as `role` and returns the peer's first record,
/// checked to be the whole frame: `header` bytes and the payload.
fn first_record(role: Role, len: usize, header: usize) -> Vec<u8> {
    let mut reactor = Reactor::new().unwrap();
    let (ours, mut theirs) = seqpacket_pair();
    theirs
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let stream = IoStream::new(&reactor.handle(), ours).unwrap();
    let options = WebSocketOptions::default();
    let ws = WebSocket::start(&reactor.handle(), stream, role, &options, None, None);
    let sent = ws.send_binary(vec![7u8; len]);
    reactor.run_until(&sent).unwrap();
    let mut record = vec![0u8; 2 * len];
    let n = theirs.read(&mut record).unwrap();
    record.truncate(n);
    assert_eq!(
        n,
        header + len,
        "the first write carried {n} bytes, not the whole frame"
    );
    record
}

#[test]
fn a_large_server_frame_is_one_write_with_its_header() {
    let len = COPY_MAX + 1000;
    let record = first_record(Role::Server, len, 4);
    assert_eq!(record[..4], [0x82, 126, (len >> 8) as u8, len as u8]);
    assert!(record[4..].iter().all(|&b| b == 7));
}

#[test]
fn a_large_client_frame_is_one_write_with_its_header() {
    let len = COPY_MAX + 1000;
    // Header, mask key, masked payload.
    let record = first_record(Role::Client, len, 8);
    assert_eq!(record[..4], [0x82, 126 | 0x80, (len >> 8) as u8, len as u8]);
    let key = [record[4], record[5], record[6], record[7]];
    let unmasked = record[8..]
        .iter()
        .enumerate()
        .all(|(i, &b)| b ^ key[i % 4] == 7);
    assert!(unmasked, "the payload is the message, masked");
}
