//! Happy eyeballs across address families on loopback: `TcpClient::connect` with a name
//! resolving to `[::1]` and `127.0.0.1`. The primary family wins when it answers; a
//! refused primary hands over to the other family at once; a primary whose handshake
//! hangs gets the other family started after `SECOND_FAMILY_DELAY`, and that one wins.
//! Every test is skipped (with a message) where `[::1]` cannot be bound.

mod support;

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::time::{Duration, Instant};

use squall::net::{OverrideResolver, TcpClient, SECOND_FAMILY_DELAY};
use squall::Reactor;
use support::net::*;
use support::{run_for, wait};

const NAME: &str = "dual.test";

/// A listener on `[::1]:0`, or `None` (after saying so) where IPv6 loopback is missing.
fn v6_listener(test: &str) -> Option<TcpListener> {
    match TcpListener::bind("[::1]:0") {
        Ok(l) => Some(l),
        Err(e) => {
            println!("skipping {test}: cannot bind [::1] on this machine ({e})");
            None
        }
    }
}

fn client(reactor: &Reactor, addrs: &[SocketAddr]) -> TcpClient {
    let mut r = OverrideResolver::new();
    for a in addrs {
        r = r.with_addr(NAME, 80, *a);
    }
    TcpClient::with_resolver(&reactor.handle(), Rc::new(r))
}

fn nothing_accepted(l: &TcpListener) -> bool {
    l.set_nonblocking(true).unwrap();
    matches!(l.accept(), Err(e) if e.kind() == ErrorKind::WouldBlock)
}

#[test]
fn primary_family_that_answers_wins_and_the_other_is_never_tried() {
    let Some(v6) = v6_listener("primary_family_that_answers_wins") else {
        return;
    };
    let v4 = TcpListener::bind("127.0.0.1:0").unwrap();
    let (a6, a4) = (v6.local_addr().unwrap(), v4.local_addr().unwrap());
    for (order, winner, loser) in [([a6, a4], a6, &v4), ([a4, a6], a4, &v6)] {
        let mut reactor = Reactor::new().unwrap();
        let c = client(&reactor, &order);
        let f = c.connect(NAME, 80, Some(Duration::from_secs(5)));
        let stream = wait(&mut reactor, &f).unwrap();
        assert_eq!(stream.peer_addr().unwrap(), Some(winner), "order {order:?}");
        // Take the winner's connection off its listener's queue.
        let won = if winner == a6 { &v6 } else { &v4 };
        assert_eq!(Some(won.accept().unwrap().1), stream.local_addr().unwrap());
        // Run past the second-family delay: no attempt on the other family may start.
        run_for(
            &mut reactor,
            SECOND_FAMILY_DELAY + Duration::from_millis(100),
        );
        assert!(
            nothing_accepted(loser),
            "order {order:?}: the other family was connected too"
        );
        assert_eq!(reactor.handle().stats().timers_pending, 0);
        drop(stream);
    }
}

#[test]
fn refused_primary_hands_over_to_the_other_family_at_once() {
    let Some(v6) = v6_listener("refused_primary_hands_over") else {
        return;
    };
    drop(v6);
    let v4 = TcpListener::bind("127.0.0.1:0").unwrap();
    let a4 = v4.local_addr().unwrap();
    let closed6 = support::ReservedPort::closed_on("[::1]:0");
    let refused6 = closed6.addr();
    let mut reactor = Reactor::new().unwrap();
    let c = client(&reactor, &[refused6, a4]);
    let start = Instant::now();
    let stream = wait(
        &mut reactor,
        &c.connect(NAME, 80, Some(Duration::from_secs(5))),
    )
    .unwrap();
    let took = start.elapsed();
    assert_eq!(stream.peer_addr().unwrap(), Some(a4));
    assert!(
        took < SECOND_FAMILY_DELAY,
        "IPv4 used only after {took:?}: the refusal did not start it early"
    );
    // And the other way round: refused IPv4 first, IPv6 answers.
    let v6 = v6_listener("refused_primary_hands_over").unwrap();
    let a6 = v6.local_addr().unwrap();
    let closed4 = support::ReservedPort::closed();
    let refused4 = closed4.addr();
    let c = client(&reactor, &[refused4, a6]);
    let start = Instant::now();
    let stream = wait(
        &mut reactor,
        &c.connect(NAME, 80, Some(Duration::from_secs(5))),
    )
    .unwrap();
    assert_eq!(stream.peer_addr().unwrap(), Some(a6));
    assert!(
        start.elapsed() < SECOND_FAMILY_DELAY,
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn hanging_primary_gets_the_other_family_after_the_delay_and_it_wins() {
    if v6_listener("hanging_primary_gets_the_other_family").is_none() {
        return;
    }
    let (_listener, hanging6, _fillers) = unanswered_listener("[::1]:0").expect("[::1] listener");
    let v4 = TcpListener::bind("127.0.0.1:0").unwrap();
    let a4 = v4.local_addr().unwrap();
    let mut reactor = Reactor::new().unwrap();
    let c = client(&reactor, &[hanging6, a4]);
    let start = Instant::now();
    let stream = wait(
        &mut reactor,
        &c.connect(NAME, 80, Some(Duration::from_secs(10))),
    )
    .unwrap();
    let took = start.elapsed();
    assert_eq!(stream.peer_addr().unwrap(), Some(a4));
    assert!(
        took >= SECOND_FAMILY_DELAY,
        "IPv4 started before the delay ({took:?}) although IPv6 was still pending"
    );
    assert!(
        took < SECOND_FAMILY_DELAY * 5,
        "IPv4 won only after {took:?}"
    );
    assert_eq!(reactor.handle().stats().timers_pending, 0);
    // The IPv4 side sees exactly this connection.
    v4.set_nonblocking(true).unwrap();
    let (_, peer) = v4.accept().unwrap();
    assert_eq!(Some(peer), stream.local_addr().unwrap());
    // Once the winner is closed nothing is left registered: the abandoned IPv6 attempt
    // was deregistered.
    drop(stream);
    assert_eq!(reactor.handle().stats().handlers, 0);
}
