//! `squall::process::Subprocess` over real children: pipes as streams, exit statuses,
//! signals, many children at once, spawn failures, and a flooding child held back by its
//! pipe. No child is left a zombie.

mod support;

use std::cell::RefCell;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::rc::Rc;
use std::time::{Duration, Instant};

use squall::process::{Redirect, Subprocess};
use squall::stream::StreamOptions;
use squall::{join_all, Error, Future, Handle, Reactor};
use support::process::rss_kib;

const WAIT_LIMIT: Duration = Duration::from_secs(60);

/// True if `pid` is a zombie child of this process.
fn is_our_zombie(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next().unwrap();
    let ppid: u32 = fields.next().unwrap().parse().unwrap();
    state == "Z" && ppid == std::process::id()
}

fn gone(pid: u32) -> bool {
    !std::path::Path::new(&format!("/proc/{pid}")).exists() || !is_child_of_us(pid)
}

fn is_child_of_us(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    rest.split(' ').nth(1).unwrap().parse::<u32>().unwrap() == std::process::id()
}

/// `program args`, its stdout a stream.
fn with_stdout(handle: &Handle, program: &str, args: &[&str]) -> Subprocess {
    Subprocess::builder(program)
        .args(args)
        .stdout(Redirect::Stream)
        .spawn(handle)
        .unwrap()
}

/// A child that sleeps until killed.
fn sleeper(handle: &Handle) -> Subprocess {
    Subprocess::builder("sleep")
        .arg("1000")
        .spawn(handle)
        .unwrap()
}

#[test]
fn echo_output_is_streamed() {
    let (mut reactor, handle) = support::reactor();
    let child = with_stdout(&handle, "echo", &["hello", "world"]);
    assert!(child.stdin().is_none() && child.stderr().is_none());
    let out = child.stdout().unwrap().read_until_close();
    assert_eq!(&reactor.run_until(&out).unwrap()[..], b"hello world\n");
    let status = reactor.run_until(&child.exit()).unwrap();
    assert!(status.success());
    assert!(!is_our_zombie(child.pid()));
}

#[test]
fn stdin_to_cat_to_stdout_round_trip() {
    let (mut reactor, handle) = support::reactor();
    let mut child = Subprocess::builder("cat")
        .stdin(Redirect::Stream)
        .stdout(Redirect::Stream)
        .stderr(Redirect::Stream)
        .spawn(&handle)
        .unwrap();
    // More than a pipe holds, so writing and reading must interleave through the loop.
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let stdin = child.take_stdin().unwrap();
    stdin.write(data.clone());
    stdin.close_after_writes();
    let out = child.stdout().unwrap().read_until_close();
    let err = child.stderr().unwrap().read_until_close();
    let got = reactor.run_until(&out).unwrap();
    assert_eq!(got.len(), data.len());
    assert!(got[..] == data[..], "cat's output differs from its input");
    assert!(reactor.run_until(&err).unwrap().is_empty());
    assert_eq!(reactor.run_until(&child.exit()).unwrap().code(), Some(0));
}

#[test]
fn exit_codes_and_exit_callback() {
    let (mut reactor, handle) = support::reactor();
    let seen: Rc<RefCell<Vec<(i32, i32)>>> = Rc::default();
    let mut exits = Vec::new();
    for code in [0, 1, 2, 42, 255] {
        let child = Subprocess::builder("sh")
            .args(["-c", &format!("exit {code}")])
            .spawn(&handle)
            .unwrap();
        let seen = seen.clone();
        child.set_exit_callback(move |st| seen.borrow_mut().push((code, st.code().unwrap())));
        exits.push(child.exit());
    }
    let statuses = reactor.run_until(&join_all(exits)).unwrap();
    let codes: Vec<_> = statuses.iter().map(|s| s.code().unwrap()).collect();
    assert_eq!(codes, [0, 1, 2, 42, 255]);
    // Done-callbacks run after the join's; give them one more turn.
    let done = Future::new();
    let d = done.clone();
    handle.add_callback(move || d.set_result(()));
    reactor.run_until(&done).unwrap();
    let mut seen = seen.borrow().clone();
    seen.sort();
    assert_eq!(seen, [(0, 0), (1, 1), (2, 2), (42, 42), (255, 255)]);
}

#[test]
fn kill_and_terminate() {
    let (mut reactor, handle) = support::reactor();
    let a = sleeper(&handle);
    let b = sleeper(&handle);
    a.kill().unwrap();
    b.terminate().unwrap();
    let sa = reactor.run_until(&a.exit()).unwrap();
    let sb = reactor.run_until(&b.exit()).unwrap();
    assert_eq!((sa.code(), sa.signal()), (None, Some(9)));
    assert_eq!((sb.code(), sb.signal()), (None, Some(15)));
    // Signalling a reaped child is a no-op, not an error.
    a.kill().unwrap();
    b.terminate().unwrap();
    assert!(!is_our_zombie(a.pid()) && !is_our_zombie(b.pid()));
}

#[test]
fn a_thousand_children_in_flight() {
    const N: usize = 1000;
    let (mut reactor, handle) = support::reactor();
    let mut pids = Vec::new();
    let mut all: Vec<Future<(usize, ExitStatus, squall::Bytes)>> = Vec::new();
    for i in 0..N {
        let mut child = if i % 2 == 0 {
            with_stdout(
                &handle,
                "sh",
                &["-c", &format!("echo {i}; exit $(({i} % 7))")],
            )
        } else {
            Subprocess::builder("true").spawn(&handle).unwrap()
        };
        pids.push(child.pid());
        // Keep the stdout stream (a dropped stream closes its pipe), but drop the
        // Subprocess handle at once: the exit watcher still reaps the child.
        let stdout = child.take_stdout();
        let out = match &stdout {
            Some(s) => s.read_until_close(),
            None => Future::ready(squall::Bytes::new()),
        };
        let exit = child.exit();
        drop(child);
        all.push(exit.and_then(move |st| {
            out.map(move |o| {
                drop(stdout);
                o.map(|o| (i, st, o))
            })
        }));
    }
    let results = reactor.run_until(&join_all(all)).unwrap();
    assert_eq!(results.len(), N);
    for (i, status, out) in results {
        if i % 2 == 0 {
            assert_eq!(status.code(), Some((i % 7) as i32), "child {i}");
            assert_eq!(out, format!("{i}\n").as_bytes(), "child {i}");
        } else {
            assert_eq!(status.code(), Some(0), "child {i}");
            assert!(out.is_empty());
        }
    }
    let zombies = pids.iter().filter(|&&p| is_our_zombie(p)).count();
    assert_eq!(zombies, 0, "zombies left among {N} children");
}

#[test]
fn exit_before_and_after_pipes_close() {
    let (mut reactor, handle) = support::reactor();
    // Exit first, output read afterwards.
    let a = with_stdout(&handle, "sh", &["-c", "echo late; exit 5"]);
    assert_eq!(reactor.run_until(&a.exit()).unwrap().code(), Some(5));
    let out = a.stdout().unwrap().read_until_close();
    assert_eq!(&reactor.run_until(&out).unwrap()[..], b"late\n");
    // Stdout closed first, exit later (once stdin says so).
    let mut b = Subprocess::builder("sh")
        .args(["-c", "exec 1>&-; read x; exit 6"])
        .stdin(Redirect::Stream)
        .stdout(Redirect::Stream)
        .spawn(&handle)
        .unwrap();
    let out = b.stdout().unwrap().read_until_close();
    assert!(reactor.run_until(&out).unwrap().is_empty());
    assert!(!b.exit().is_done());
    let stdin = b.take_stdin().unwrap();
    stdin.write(&b"go\n"[..]);
    assert_eq!(reactor.run_until(&b.exit()).unwrap().code(), Some(6));
    assert!(!is_our_zombie(a.pid()) && !is_our_zombie(b.pid()));
}

#[test]
fn missing_program_fails_spawn() {
    let reactor = Reactor::new().unwrap();
    let handle = reactor.handle();
    let err = Subprocess::builder("/nonexistent/squall-no-such-program")
        .stdout(Redirect::Stream)
        .spawn(&handle)
        .unwrap_err();
    assert_eq!(err.io_kind(), Some(std::io::ErrorKind::NotFound));
    assert!(
        err.to_string().contains("squall-no-such-program"),
        "error does not name the program: {err}"
    );
}

#[test]
fn dropped_reactor_still_reaps_the_child() {
    let (mut reactor, handle) = support::reactor();
    let child = sleeper(&handle);
    let pid = child.pid();
    // Let the loop turn once with the child registered.
    let f = Future::new();
    let g = f.clone();
    handle.add_callback(move || g.set_result(()));
    reactor.run_until(&f).unwrap();
    drop(child);
    drop(handle);
    drop(reactor);
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid as i32).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    let deadline = Instant::now() + WAIT_LIMIT;
    while !gone(pid) {
        assert!(Instant::now() < deadline, "child {pid} never reaped");
        std::thread::yield_now();
    }
}

#[test]
fn flooding_child_is_held_back_by_the_pipe() {
    let (mut reactor, handle) = support::reactor();
    let before = rss_kib(std::process::id());
    let child = Subprocess::builder("cat")
        .arg("/dev/zero")
        .stdout(Redirect::Stream)
        .stream_options(StreamOptions::default().max_buffer_size(1 << 20))
        .spawn(&handle)
        .unwrap();
    let stdout = child.stdout().unwrap().clone();
    // Nobody reads for a while: the loop runs, the child writes into a full pipe.
    let window = Future::new();
    let w = window.clone();
    handle.call_later(Duration::from_millis(300), move || w.set_result(()));
    reactor.run_until(&window).unwrap();
    assert_eq!(
        stdout.buffered(),
        0,
        "the stream read without a pending read"
    );
    assert!(!child.exit().is_done(), "cat /dev/zero stopped by itself");
    // A read takes what it asks for.
    let some = stdout.read_bytes(256 * 1024, false);
    assert_eq!(reactor.run_until(&some).unwrap().len(), 256 * 1024);
    assert!(stdout.buffered() <= 1 << 20);
    // Reading the whole endless stream hits the read buffer's bound instead of growing.
    let all = stdout.read_until_close();
    let err = reactor.run_until(&all).unwrap_err();
    assert!(matches!(err, Error::StreamBufferFull), "{err}");
    let grown = rss_kib(std::process::id()).saturating_sub(before);
    assert!(grown < 32 * 1024, "memory grew by {grown} KiB");
    child.kill().unwrap();
    let st = reactor.run_until(&child.exit()).unwrap();
    assert!(st.signal() == Some(9) || st.signal() == Some(13), "{st:?}");
}

/// The zombie check above is real: a child spawned without squall and never waited for is
/// seen as one.
#[test]
fn zombie_detector_sees_an_unreaped_child() {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    let deadline = Instant::now() + WAIT_LIMIT;
    while !is_our_zombie(pid) {
        assert!(
            Instant::now() < deadline,
            "an unreaped child never showed as a zombie"
        );
        std::thread::yield_now();
    }
    child.wait().unwrap();
    assert!(!is_our_zombie(pid));
}
