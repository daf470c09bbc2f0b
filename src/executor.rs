//! A small thread pool for blocking work: [`Handle::run_in_executor`] (Tornado's
//! `IOLoop.run_in_executor`).
//!
//! Workers start lazily on first use (as many as the machine has cores, at least 2,
//! at most 16) and are shared by every reactor in the process. A job's result travels
//! back through a [`RemoteSetter`](crate::future::RemoteSetter) (the generic
//! thread-to-loop bridge, built on [`Remote`](crate::Remote)) and resolves the returned
//! [`Future`] on the loop thread. The reactor knows nothing of the executor.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

use crate::error::{Error, Result};
use crate::future::Future;
use crate::reactor::Handle;

type Job = Box<dyn FnOnce() + Send>;

struct Pool {
    queue: Mutex<VecDeque<Job>>,
    ready: Condvar,
}

fn pool() -> &'static Arc<Pool> {
    static POOL: OnceLock<Arc<Pool>> = OnceLock::new();
    POOL.get_or_init(|| {
        let pool = Arc::new(Pool {
            queue: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
        });
        let n = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(2, 16);
        for i in 0..n {
            let p = pool.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("squall-executor-{i}"))
                .spawn(move || worker(&p));
            if let Err(e) = spawned {
                log::error!("could not start executor thread: {e}");
            }
        }
        pool
    })
}

fn worker(pool: &Pool) {
    loop {
        let job = {
            let mut q = pool.queue.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if let Some(job) = q.pop_front() {
                    break job;
                }
                q = pool.ready.wait(q).unwrap_or_else(|p| p.into_inner());
            }
        };
        job(); // panics are caught inside the job
    }
}

fn submit(job: Job) {
    let p = pool();
    p.queue
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push_back(job);
    p.ready.notify_one();
}

impl Handle {
    /// Runs the blocking function `f` on the executor pool and returns a future for its
    /// result, resolved on this loop's thread. A panicking `f` fails the future with
    /// [`Error::Panicked`]; the pool keeps going.
    ///
    /// Cancelling the future resolves it with [`Error::Cancelled`] at once. A job still
    /// waiting for a worker then never starts; one already running finishes (a thread
    /// cannot be interrupted) and its result is dropped.
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// let mut reactor = squall::Reactor::new()?;
    /// let f = reactor.handle().run_in_executor(|| (1..=10u64).product::<u64>());
    /// assert_eq!(reactor.run_until(&f)?, 3_628_800);
    /// # Ok(()) }
    /// ```
    #[track_caller]
    pub fn run_in_executor<T, F>(&self, f: F) -> Future<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (future, setter) = self.remote_future();
        if future.is_done() {
            return future; // the reactor is gone
        }
        submit(Box::new(move || {
            if setter.is_cancelled() {
                return; // cancelled while queued: never started (the setter's drop is ignored)
            }
            let result: Result<T> =
                catch_unwind(AssertUnwindSafe(f)).map_err(|p| Error::from_panic(&*p));
            setter.set(result);
        }));
        future
    }
}
