//! The waiting rules all three queues share (Tornado's `queues.Queue`), and the public
//! types built on them.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use super::store::{Fifo, Lifo, Priority, Store};
use crate::error::{Error, Result};
use crate::future::Future;
use crate::locks::waiters::{park, Waiters};
use crate::locks::Event;
use crate::reactor::Handle;

/// [`put_nowait`](Queue::put_nowait)'s refusal: the queue was full. The item is handed
/// back, not dropped. Converts into [`Error::QueueFull`] for `?`.
///
/// ```
/// use squall::queues::Queue;
/// let q = Queue::new(1);
/// q.put_nowait("a").unwrap();
/// let refused = q.put_nowait("b").unwrap_err();
/// assert_eq!(refused.into_item(), "b");
/// ```
pub struct PutError<T> {
    item: T,
}

impl<T> PutError<T> {
    /// The item that was refused.
    pub fn item(&self) -> &T {
        &self.item
    }

    /// Takes the refused item back.
    pub fn into_item(self) -> T {
        self.item
    }
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PutError").finish_non_exhaustive()
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&Error::QueueFull, f)
    }
}

impl<T> std::error::Error for PutError<T> {}

impl<T> From<PutError<T>> for Error {
    fn from(_: PutError<T>) -> Self {
        Error::QueueFull
    }
}

struct Core<T: 'static, S> {
    maxsize: usize,
    items: S,
    /// Parked `get`s; pending ones exist only while the queue is empty.
    getters: Waiters<T>,
    /// Parked `put`s with their items; pending ones exist only while the queue is full.
    putters: Waiters<(), T>,
    unfinished: usize,
}

impl<T: 'static, S: Store<T>> Core<T, S> {
    fn is_full(&self) -> bool {
        self.maxsize > 0 && self.items.len() >= self.maxsize
    }
}

/// The state one queue's handles share. `finished` sits outside the `RefCell` so setting
/// it never happens inside the core's borrow.
struct Shared<T: 'static, S> {
    core: Rc<RefCell<Core<T, S>>>,
    finished: Event,
}

impl<T: 'static, S> Clone for Shared<T, S> {
    fn clone(&self) -> Self {
        Shared {
            core: self.core.clone(),
            finished: self.finished.clone(),
        }
    }
}

impl<T: 'static, S: Store<T>> Shared<T, S> {
    fn new(maxsize: usize) -> Self {
        let finished = Event::new();
        finished.set(); // no unfinished tasks yet
        Shared {
            core: Rc::new(RefCell::new(Core {
                maxsize,
                items: S::new(),
                getters: Waiters::new(),
                putters: Waiters::new(),
                unfinished: 0,
            })),
            finished,
        }
    }

    fn put_nowait(&self, item: T) -> std::result::Result<(), PutError<T>> {
        let getter = {
            let mut c = self.core.borrow_mut();
            let getter = c.getters.pop_pending();
            if getter.is_none() && c.is_full() {
                return Err(PutError { item });
            }
            c.unfinished += 1;
            getter
        };
        self.finished.clear();
        match getter {
            // A pending getter means the queue is empty: the item goes straight to it.
            // It is pending, so the item cannot be refused and lost.
            Some((getter, ())) => getter.set_result(item),
            None => self.core.borrow_mut().items.push(item),
        }
        Ok(())
    }

    fn get_nowait(&self) -> Result<T> {
        let (item, putter) = {
            let mut c = self.core.borrow_mut();
            match c.putters.pop_pending() {
                // A pending putter means the queue is full: its item joins before one
                // leaves, so a priority queue still hands out its smallest. It counts
                // as a task like any other put.
                Some((putter, item)) => {
                    c.items.push(item);
                    c.unfinished += 1;
                    (c.items.pop(), Some(putter))
                }
                None => (c.items.pop(), None),
            }
        };
        if let Some(putter) = putter {
            self.finished.clear();
            putter.set_result(());
        }
        item.ok_or(Error::QueueEmpty)
    }

    #[track_caller]
    fn put(&self, item: T, timeout: Option<(&Handle, Duration)>) -> Future<()> {
        match self.put_nowait(item) {
            Ok(()) => Future::ready(()),
            Err(PutError { item }) => park(
                &self.core,
                |c| &mut c.putters,
                item,
                timeout,
                |f| f.set_error(Error::Timeout),
            ),
        }
    }

    #[track_caller]
    fn get(&self, timeout: Option<(&Handle, Duration)>) -> Future<T> {
        match self.get_nowait() {
            Ok(item) => Future::ready(item),
            Err(_) => park(
                &self.core,
                |c| &mut c.getters,
                (),
                timeout,
                |f| f.set_error(Error::Timeout),
            ),
        }
    }

    fn task_done(&self) -> Result<()> {
        let now_zero = {
            let mut c = self.core.borrow_mut();
            if c.unfinished == 0 {
                return Err(Error::invalid_state("task_done() called too many times"));
            }
            c.unfinished -= 1;
            c.unfinished == 0
        };
        if now_zero {
            self.finished.set();
        }
        Ok(())
    }

    fn debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.core.borrow();
        f.debug_struct(name)
            .field("maxsize", &c.maxsize)
            .field("qsize", &c.items.len())
            .field("getters", &c.getters.len())
            .field("putters", &c.putters.len())
            .field("tasks", &c.unfinished)
            .finish()
    }
}

/// Defines a public queue type over one [`Store`], with the shared documentation.
macro_rules! queue_type {
    ($(#[$meta:meta])* $name:ident, $store:ident, [$($bound:tt)*]) => {
        $(#[$meta])*
        pub struct $name<T: 'static> {
            shared: Shared<T, $store<T>>,
        }

        impl<T: 'static> Clone for $name<T> {
            fn clone(&self) -> Self {
                $name { shared: self.shared.clone() }
            }
        }

        impl<T: $($bound)* 'static> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.shared.debug(stringify!($name), f)
            }
        }

        impl<T: $($bound)* 'static> $name<T> {
            /// A queue holding at most `maxsize` items; `0` means unbounded.
            pub fn new(maxsize: usize) -> Self {
                $name { shared: Shared::new(maxsize) }
            }

            /// The capacity given to [`new`](Self::new) (`0`: unbounded).
            pub fn maxsize(&self) -> usize {
                self.shared.core.borrow().maxsize
            }

            /// Items in the queue now.
            pub fn qsize(&self) -> usize {
                self.shared.core.borrow().items.len()
            }

            /// True if the queue holds no item.
            pub fn is_empty(&self) -> bool {
                self.qsize() == 0
            }

            /// True if the queue holds `maxsize` items (never for an unbounded queue).
            pub fn is_full(&self) -> bool {
                self.shared.core.borrow().is_full()
            }

            /// Puts `item` now: hands it to the oldest pending [`get`](Self::get), or
            /// stores it.
            ///
            /// # Errors
            /// [`PutError`] (holding the item) if the queue is full.
            pub fn put_nowait(&self, item: T) -> std::result::Result<(), PutError<T>> {
                self.shared.put_nowait(item)
            }

            /// Puts `item`, waiting (FIFO among putters) while the queue is full. The
            /// future resolves once the item is in the queue or handed to a getter.
            /// Cancelling it withdraws the item (it is dropped).
            #[track_caller]
            pub fn put(&self, item: T) -> Future<()> {
                self.shared.put(item, None)
            }

            /// Like [`put`](Self::put), but fails with [`Error::Timeout`] (and drops the
            /// item) if no room was made for it within `timeout`.
            #[track_caller]
            pub fn put_timeout(&self, item: T, handle: &Handle, timeout: Duration) -> Future<()> {
                self.shared.put(item, Some((handle, timeout)))
            }

            /// Takes an item now (letting the oldest pending putter's item in).
            ///
            /// # Errors
            /// [`Error::QueueEmpty`] if there is none.
            pub fn get_nowait(&self) -> Result<T> {
                self.shared.get_nowait()
            }

            /// A future of the next item, waiting (FIFO among getters) while the queue
            /// is empty. Cancelling it withdraws the request; no item is lost to it.
            /// Cancel a get you no longer want rather than only dropping its future: a
            /// parked get that was merely dropped still receives the next item.
            #[track_caller]
            pub fn get(&self) -> Future<T> {
                self.shared.get(None)
            }

            /// Like [`get`](Self::get), but fails with [`Error::Timeout`] if no item
            /// reached it within `timeout`.
            #[track_caller]
            pub fn get_timeout(&self, handle: &Handle, timeout: Duration) -> Future<T> {
                self.shared.get(Some((handle, timeout)))
            }

            /// Marks one item taken earlier as processed. Every put counts a task;
            /// [`join`](Self::join) waits until each has been marked done.
            ///
            /// # Errors
            /// [`Error::InvalidState`] if called more times than items were put.
            pub fn task_done(&self) -> Result<()> {
                self.shared.task_done()
            }

            /// A future resolved once every item put so far was marked
            /// [`task_done`](Self::task_done) (at once if there is none).
            #[track_caller]
            pub fn join(&self) -> Future<()> {
                self.shared.finished.wait()
            }

            /// Like [`join`](Self::join), but fails with [`Error::Timeout`] after
            /// `timeout`.
            #[track_caller]
            pub fn join_timeout(&self, handle: &Handle, timeout: Duration) -> Future<()> {
                self.shared.finished.wait_timeout(handle, timeout)
            }
        }
    };
}

queue_type!(
    /// A first-in first-out queue for callbacks on one loop (Tornado's `queues.Queue`):
    /// producers [`put`](Self::put) and consumers [`get`](Self::get), each waiting in
    /// FIFO order while the queue is full or empty.
    ///
    /// Every wait has a `*_timeout(&handle, duration)` form that fails with
    /// [`Error::Timeout`]; a timed-out or cancelled waiter is skipped, so the item or
    /// the room it was waiting for goes to the next waiter. Cloning gives another handle
    /// to the same queue; dropping the last one cancels its parked waiters.
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// use squall::queues::Queue;
    /// let mut reactor = squall::Reactor::new()?;
    /// let q = Queue::new(2);
    /// let next = q.get(); // parked: nothing yet
    /// q.put_nowait(1)?;   // handed straight to the parked get
    /// assert_eq!(reactor.run_until(&next)?, 1);
    /// q.task_done()?;
    /// reactor.run_until(&q.join())?; // every item processed
    /// # Ok(()) }
    /// ```
    Queue, Fifo, []
);

queue_type!(
    /// A [`Queue`] that hands out its smallest item first (Tornado's
    /// `queues.PriorityQueue`); use tuples such as `(priority, item)`.
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// use squall::queues::PriorityQueue;
    /// let q = PriorityQueue::new(0);
    /// q.put_nowait((1, "medium"))?;
    /// q.put_nowait((0, "high"))?;
    /// q.put_nowait((10, "low"))?;
    /// assert_eq!(q.get_nowait()?, (0, "high"));
    /// assert_eq!(q.get_nowait()?, (1, "medium"));
    /// # Ok(()) }
    /// ```
    PriorityQueue, Priority, [Ord +]
);

queue_type!(
    /// A [`Queue`] that hands out its most recently put item first (Tornado's
    /// `queues.LifoQueue`).
    ///
    /// ```
    /// # fn main() -> squall::Result<()> {
    /// use squall::queues::LifoQueue;
    /// let q = LifoQueue::new(0);
    /// for i in 1..=3 {
    ///     q.put_nowait(i)?;
    /// }
    /// assert_eq!(q.get_nowait()?, 3);
    /// # Ok(()) }
    /// ```
    LifoQueue, Lifo, []
);
