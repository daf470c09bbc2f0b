//! Queues between callbacks on one loop (Tornado's `tornado.queues`): [`Queue`] (first
//! in, first out), [`PriorityQueue`] (smallest first) and [`LifoQueue`] (last in, first
//! out).
//!
//! A queue may be bounded (`maxsize > 0`): then [`put`](Queue::put) waits while it is
//! full, which is how a fast producer is slowed to its consumers' pace. [`get`](Queue::get)
//! waits while it is empty. Both return a [`Future`](crate::Future); the `_nowait` forms
//! answer at once with [`PutError`] ([`Error::QueueFull`](crate::Error::QueueFull), the
//! item handed back) or [`Error::QueueEmpty`](crate::Error::QueueEmpty).
//! [`task_done`](Queue::task_done) and [`join`](Queue::join) let a producer wait until
//! every item was processed. The waiting rules are those of [`crate::locks`]: FIFO,
//! optional timeouts, and a timed-out or cancelled waiter skipped without losing the item
//! or the room it was waiting for.
//!
//! A producer and a consumer, the consumer slower than the producer:
//!
//! ```
//! # fn main() -> squall::Result<()> {
//! use std::cell::RefCell;
//! use std::rc::Rc;
//! use squall::queues::Queue;
//! use squall::Future;
//!
//! let mut reactor = squall::Reactor::new()?;
//! let q: Queue<u32> = Queue::new(2);
//! let seen = Rc::new(RefCell::new(Vec::new()));
//!
//! // The consumer takes one item per callback and asks for the next.
//! fn consume(q: Queue<u32>, seen: Rc<RefCell<Vec<u32>>>) {
//!     q.get().add_done_callback(move |f| {
//!         if let Some(Ok(n)) = f.take_result() {
//!             seen.borrow_mut().push(n);
//!             q.task_done().expect("one task_done per item");
//!             consume(q, seen);
//!         }
//!     });
//! }
//! consume(q.clone(), seen.clone());
//!
//! // The producer waits for room before each put.
//! let mut produced = Future::ready(());
//! for n in 0..5 {
//!     let q = q.clone();
//!     produced = produced.and_then(move |()| q.put(n));
//! }
//! reactor.run_until(&produced)?;
//! reactor.run_until(&q.join())?;
//! assert_eq!(*seen.borrow(), [0, 1, 2, 3, 4]);
//! # Ok(()) }
//! ```

mod queue;
mod store;

pub use queue::{LifoQueue, PriorityQueue, PutError, Queue};
