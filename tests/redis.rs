//! The Redis client against a real `redis-server` (started per test on a free port).

mod support;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use squall::redis::{Redis, RedisOptions, Subscriber, Value};
use squall::{with_timeout, Error, Future, Handle, Reactor};
use support::redis::{available, RedisServer};
use support::wait;
use support::ReservedPort;

const LIMIT: Duration = Duration::from_secs(20);

fn fast() -> RedisOptions {
    RedisOptions::default()
        .reconnect_min(Duration::from_millis(20))
        .reconnect_max(Duration::from_millis(200))
        .connect_timeout(Duration::from_secs(5))
}

/// Collects messages; `next()` resolves with the next one.
#[derive(Clone, Default)]
struct Inbox {
    got: Rc<RefCell<Vec<(Bytes, Bytes)>>>,
    waiter: Rc<RefCell<Option<Future<()>>>>,
}

impl Inbox {
    fn attach(&self, sub: &Subscriber) {
        let me = self.clone();
        sub.on_message(move |ch, payload| {
            me.got.borrow_mut().push((ch, payload));
            if let Some(f) = me.waiter.borrow_mut().take() {
                f.set_result(());
            }
        });
    }

    /// Resolves once at least `n` messages arrived.
    fn until(&self, n: usize) -> Future<()> {
        let f = Future::new();
        if self.got.borrow().len() >= n {
            f.set_result(());
        } else {
            *self.waiter.borrow_mut() = Some(f.clone());
        }
        f
    }

    fn wait_for(&self, reactor: &mut Reactor, n: usize) {
        while self.got.borrow().len() < n {
            wait(reactor, &self.until(n)).expect("message");
        }
    }
}

#[test]
fn publish_reaches_every_subscriber_in_order() {
    if !available("publish_reaches_every_subscriber_in_order") {
        return;
    }
    let server = RedisServer::start();
    let (mut reactor, handle) = support::reactor();
    let (a, b) = (Inbox::default(), Inbox::default());
    let sub_a = Subscriber::connect(&handle, &server.url(), fast()).unwrap();
    let sub_b = Subscriber::connect(&handle, &server.url(), fast()).unwrap();
    a.attach(&sub_a);
    b.attach(&sub_b);
    wait(&mut reactor, &sub_a.subscribe("room")).unwrap();
    wait(&mut reactor, &sub_b.subscribe("room")).unwrap();
    wait(&mut reactor, &sub_b.subscribe("other")).unwrap();
    // Subscribing again to a confirmed channel resolves at once.
    assert!(sub_a.subscribe("room").is_done());

    let redis = Redis::connect(&handle, &server.url(), fast()).unwrap();
    let binary = Bytes::from_static(b"bin\r\n\x00\xff");
    let mut counts: Vec<_> = (0..100)
        .map(|i| redis.publish("room", format!("m{i}")))
        .collect();
    counts.push(redis.publish("other", &binary[..]));
    counts.push(redis.publish("nobody", "x"));
    let counts = wait(&mut reactor, &squall::join_all(counts)).unwrap();
    assert!(counts[..100].iter().all(|&n| n == 2), "{counts:?}");
    assert_eq!(&counts[100..], &[1, 0]);
    a.wait_for(&mut reactor, 100);
    b.wait_for(&mut reactor, 101);
    let a_got = a.got.borrow();
    for (i, (ch, payload)) in a_got.iter().enumerate() {
        assert_eq!(
            (&ch[..], &payload[..]),
            (&b"room"[..], format!("m{i}").as_bytes())
        );
    }
    let b_got = b.got.borrow();
    assert_eq!(b_got.len(), 101, "{b_got:?}");
    assert_eq!(b_got[100], (Bytes::from_static(b"other"), binary));
}

#[test]
fn commands_pipeline_in_order_and_error_replies_fail_their_future_only() {
    if !available("commands_pipeline_in_order_and_error_replies_fail_their_future_only") {
        return;
    }
    let server = RedisServer::start();
    let mut reactor = Reactor::new().unwrap();
    let redis = Redis::connect(&reactor.handle(), &server.url(), fast()).unwrap();
    let set = redis.command(&["SET", "k", "v"]);
    let bad = redis.command(&["NOSUCHCOMMAND"]);
    let incr = (0..50)
        .map(|_| redis.command(&["INCR", "n"]))
        .collect::<Vec<_>>();
    let get = redis.command(&["GET", "k"]);
    let missing = redis.command(&["GET", "missing"]);
    let list = redis.command(&["MGET", "k", "missing"]);
    let ping = redis.ping();
    wait(&mut reactor, &ping).unwrap();
    assert_eq!(set.result().unwrap().unwrap(), Value::Simple("OK".into()));
    assert!(matches!(bad.result(), Some(Err(Error::Redis(m))) if m.contains("unknown command")));
    for (i, f) in incr.iter().enumerate() {
        assert_eq!(f.result().unwrap().unwrap(), Value::Integer(i as i64 + 1));
    }
    assert_eq!(get.result().unwrap().unwrap(), Value::Bulk("v".into()));
    assert_eq!(missing.result().unwrap().unwrap(), Value::Nil);
    assert_eq!(
        list.result().unwrap().unwrap(),
        Value::Array(vec![Value::Bulk("v".into()), Value::Nil])
    );
    assert!(redis.is_connected());
}

/// Publishes until a subscriber receives it (the server counts it): how a test learns,
/// without sleeping, that a subscriber renewed its subscription.
fn publish_until_heard(reactor: &mut Reactor, redis: &Redis, channel: &str, msg: &str) {
    let handle = reactor.handle();
    let done: Future<()> = Future::new();
    fn attempt(
        handle: Handle,
        redis: Redis,
        channel: String,
        msg: String,
        done: Future<()>,
        left: u32,
    ) {
        let again = (
            handle.clone(),
            redis.clone(),
            channel.clone(),
            msg.clone(),
            done.clone(),
        );
        redis
            .publish(&channel, &msg)
            .add_done_callback(move |f| match f.result() {
                Some(Ok(n)) if n >= 1 => done.set_result(()),
                _ if left == 0 => done.set_error(Error::Timeout),
                _ => {
                    let (h, r, c, m, d) = again;
                    let h2 = h.clone();
                    h.call_later(Duration::from_millis(20), move || {
                        attempt(h2, r, c, m, d, left - 1)
                    });
                }
            });
    }
    attempt(
        handle,
        redis.clone(),
        channel.into(),
        msg.into(),
        done.clone(),
        500,
    );
    wait(reactor, &done).expect("a subscriber came back");
}

#[test]
fn both_clients_reconnect_and_resubscribe_after_a_server_restart() {
    if !available("both_clients_reconnect_and_resubscribe_after_a_server_restart") {
        return;
    }
    let port = ReservedPort::for_child();
    let server = RedisServer::start_on(&port, &[]);
    let (mut reactor, handle) = support::reactor();
    let inbox = Inbox::default();
    let sub = Subscriber::connect(&handle, &server.url(), fast()).unwrap();
    inbox.attach(&sub);
    wait(&mut reactor, &sub.subscribe("room")).unwrap();
    let redis = Redis::connect(&handle, &server.url(), fast()).unwrap();
    assert_eq!(
        wait(&mut reactor, &redis.publish("room", "before")).unwrap(),
        1
    );
    inbox.wait_for(&mut reactor, 1);

    server.kill();
    // A command on the dead connection fails (it never hangs); the ones issued while
    // reconnecting fail when the attempt is refused.
    let during = redis.publish("room", "lost");
    assert!(wait(&mut reactor, &during).is_err());
    assert!(!redis.is_connected());

    let _server = RedisServer::start_on(&port, &[]);
    publish_until_heard(&mut reactor, &redis, "room", "after");
    assert!(redis.is_connected() && sub.is_connected());
    inbox.wait_for(&mut reactor, 2);
    let got = inbox.got.borrow();
    assert_eq!(&got[0].1[..], b"before");
    assert!(got[1..].iter().all(|(_, m)| &m[..] == b"after"), "{got:?}");
}

#[test]
fn commands_fail_promptly_when_no_server_listens() {
    let mut reactor = Reactor::new().unwrap();
    let closed = ReservedPort::closed();
    let url = format!("redis://{}", closed.addr());
    let redis = Redis::connect(&reactor.handle(), &url, fast()).unwrap();
    let f = redis.ping();
    assert!(matches!(wait(&mut reactor, &f), Err(Error::Io(_))));
    let sub = Subscriber::connect(&reactor.handle(), &url, fast()).unwrap();
    let s = sub.subscribe("room");
    sub.close();
    assert!(matches!(wait(&mut reactor, &s), Err(Error::StreamClosed)));
    redis.close();
    assert!(matches!(
        wait(&mut reactor, &redis.ping()),
        Err(Error::StreamClosed)
    ));
}

#[test]
fn password_and_database_from_the_url() {
    if !available("password_and_database_from_the_url") {
        return;
    }
    let port = ReservedPort::for_child();
    let server = RedisServer::start_on(&port, &["--requirepass", "s3cr@t"]);
    let (mut reactor, handle) = support::reactor();
    let url = |pw: &str, db: u32| format!("redis://:{pw}@127.0.0.1:{}/{db}", server.port);
    let in3 = Redis::connect(&handle, &url("s3cr%40t", 3), fast()).unwrap();
    let in0 = Redis::connect(&handle, &url("s3cr%40t", 0), fast()).unwrap();
    wait(&mut reactor, &in3.command(&["SET", "k", "three"])).unwrap();
    let v = wait(&mut reactor, &in0.command(&["GET", "k"])).unwrap();
    assert_eq!(v, Value::Nil, "SELECT 3 kept the key out of database 0");
    let v = wait(&mut reactor, &in3.command(&["GET", "k"])).unwrap();
    assert_eq!(v, Value::Bulk("three".into()));

    let wrong = Redis::connect(&handle, &url("nope", 0), fast()).unwrap();
    let r = wait(&mut reactor, &wrong.ping());
    assert!(
        matches!(&r, Err(Error::Redis(m)) if m.contains("AUTH")),
        "{r:?}"
    );
    wrong.close();
}

#[test]
fn a_message_callback_may_unsubscribe_and_publish() {
    if !available("a_message_callback_may_unsubscribe_and_publish") {
        return;
    }
    let server = RedisServer::start();
    let (mut reactor, handle) = support::reactor();
    let sub = Subscriber::connect(&handle, &server.url(), fast()).unwrap();
    let redis = Redis::connect(&handle, &server.url(), fast()).unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let echoed: Future<i64> = Future::new();
    {
        let (sub2, redis2, got, echoed) = (sub.clone(), redis.clone(), got.clone(), echoed.clone());
        sub.on_message(move |ch, m| {
            got.borrow_mut().push(m.clone());
            if &ch[..] == b"a" {
                sub2.unsubscribe("a");
                let echoed = echoed.clone();
                redis2
                    .publish("b", m)
                    .add_done_callback(move |f| echoed.set(f.take_result().unwrap()));
            }
        });
    }
    wait(&mut reactor, &sub.subscribe("a")).unwrap();
    wait(&mut reactor, &sub.subscribe("b")).unwrap();
    wait(&mut reactor, &redis.publish("a", "one")).unwrap();
    assert_eq!(wait(&mut reactor, &echoed).unwrap(), 1);
    // "a" is gone: only "b" still has a subscriber.
    assert_eq!(wait(&mut reactor, &redis.publish("a", "two")).unwrap(), 0);
    while got.borrow().len() < 2 {
        reactor
            .run_until(&with_timeout(&handle, LIMIT, &redis.ping()))
            .unwrap();
    }
    assert_eq!(*got.borrow(), vec![Bytes::from("one"), Bytes::from("one")]);
}

#[test]
fn dropping_the_last_client_fails_what_is_pending_and_closes_the_socket() {
    if !available("dropping_the_last_client_fails_what_is_pending_and_closes_the_socket") {
        return;
    }
    let server = RedisServer::start();
    let (mut reactor, handle) = support::reactor();
    let redis = Redis::connect(&handle, &server.url(), fast()).unwrap();
    wait(&mut reactor, &redis.ping()).unwrap();
    let watcher = Redis::connect(&handle, &server.url(), fast()).unwrap();
    let clients = |r: &mut Reactor| match wait(r, &watcher.command(&["CLIENT", "LIST"])) {
        Ok(Value::Bulk(b)) => b.split(|&c| c == b'\n').filter(|l| !l.is_empty()).count(),
        other => panic!("{other:?}"),
    };
    assert_eq!(clients(&mut reactor), 2);
    let blocked = redis.command(&["BLPOP", "nothing", "0"]); // never answered
    drop(redis);
    assert!(matches!(
        wait(&mut reactor, &blocked),
        Err(Error::StreamClosed)
    ));
    let mut n = clients(&mut reactor);
    for _ in 0..200 {
        if n == 1 {
            break;
        }
        n = clients(&mut reactor);
    }
    assert_eq!(n, 1, "the dropped client's connection is closed");
}
