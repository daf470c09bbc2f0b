//! Parked long-polls whose clients vanish are all told (`on_connection_close`) and
//! freed: every descriptor and timer the server held for them is released. Alone in its
//! binary so that the descriptor count is not blurred by other tests' sockets.

mod support;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::Write;
use std::net::TcpStream;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use squall::http::{HttpServer, Responder};
use support::{open_fds, run_until};

const GET: &[u8] = b"GET /poll HTTP/1.1\r\nHost: x\r\n\r\n";

#[test]
fn a_thousand_parked_long_polls_whose_clients_vanish_are_all_notified_and_freed() {
    const N: usize = 1000;
    let (mut reactor, handle) = support::reactor();
    let parked: Rc<RefCell<HashMap<usize, Responder>>> = Rc::default();
    let notified = Rc::new(Cell::new(0usize));
    let next_id = Rc::new(Cell::new(0usize));
    let (all_parked_tx, all_parked_rx) = mpsc::channel::<()>();
    let (p, n, id) = (parked.clone(), notified.clone(), next_id.clone());
    let server = HttpServer::new(&handle, move |_req, mut resp: Responder| {
        let key = id.get();
        id.set(key + 1);
        let (p2, n2) = (p.clone(), n.clone());
        resp.on_connection_close(move || {
            n2.set(n2.get() + 1);
            // Free the responder: dropping it sends nothing to a closed connection.
            drop(p2.borrow_mut().remove(&key));
        });
        p.borrow_mut().insert(key, resp);
        if key + 1 == N {
            all_parked_tx.send(()).unwrap();
        }
    });
    let addr = server.listen("127.0.0.1:0").unwrap();
    let fds_before = open_fds();
    let timers_before = handle.stats().timers_pending;
    let client = std::thread::spawn(move || {
        let mut conns: Vec<TcpStream> = Vec::with_capacity(N);
        for _ in 0..N {
            let mut s = TcpStream::connect(addr).expect("connect");
            s.write_all(GET).unwrap();
            conns.push(s);
        }
        all_parked_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("not all requests were parked");
        drop(conns); // every client vanishes
    });
    run_until(&mut reactor, "all requests parked", || next_id.get() == N);
    run_until(&mut reactor, "every parked responder notified", || {
        notified.get() == N
    });
    client.join().unwrap();
    assert!(parked.borrow().is_empty());
    assert_eq!(server.connection_count(), 0);
    assert_eq!(open_fds(), fds_before, "descriptors leaked");
    assert_eq!(
        handle.stats().timers_pending,
        timers_before,
        "timers leaked"
    );
}
