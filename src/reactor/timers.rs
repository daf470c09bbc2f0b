//! The timer store: a binary min-heap of (deadline, sequence) over a slab of callbacks.
//!
//! Insert and pop are O(log n). Cancelling removes the callback from the slab at once
//! (the closure is dropped, `len` drops) and leaves its heap item as a tombstone, so
//! cancelling is O(1). Tombstones are popped when they reach the top (`next_deadline`,
//! `pop_due`) and all are swept in O(n) once they outnumber live timers, so
//! set-and-cancel churn keeps the heap within about twice the live timers. Equal deadlines fire in the
//! order they were set (ties are broken by a sequence number).

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::num::NonZeroU64;
use std::panic::Location;
use std::time::Instant;

use slab::Slab;

use super::token::TimerId;

/// A boxed timer callback and where it was scheduled from.
pub(crate) type TimerTask = (Box<dyn FnOnce()>, &'static Location<'static>);

struct Entry {
    seq: u64,
    task: TimerTask,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct HeapItem {
    deadline: Instant,
    seq: u64,
    index: usize,
}

impl Ord for HeapItem {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest (deadline, seq).
    fn cmp(&self, other: &Self) -> Ordering {
        (other.deadline, other.seq).cmp(&(self.deadline, self.seq))
    }
}

impl PartialOrd for HeapItem {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Timers ordered by (deadline, sequence).
#[derive(Default)]
pub(crate) struct Timers {
    entries: Slab<Entry>,
    heap: BinaryHeap<HeapItem>,
    next_seq: u64,
}

impl Timers {
    /// Pending (not cancelled, not fired) timers.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The earliest live deadline (tombstones on top are popped first).
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(top) = self.heap.peek() {
            if Self::is_live(&self.entries, top) {
                return Some(top.deadline);
            }
            self.heap.pop();
        }
        None
    }

    pub(crate) fn insert(&mut self, deadline: Instant, task: TimerTask) -> TimerId {
        let seq = self.take_seq();
        let index = self.entries.insert(Entry {
            seq: seq.get(),
            task,
        });
        self.heap.push(HeapItem {
            deadline,
            seq: seq.get(),
            index,
        });
        TimerId { index, seq }
    }

    /// Stores a timer that never fires (its deadline is beyond what `Instant` can
    /// hold): it is pending and cancellable, but not in the heap, so the loop never
    /// waits for it.
    pub(crate) fn insert_never(&mut self, task: TimerTask) -> TimerId {
        let seq = self.take_seq();
        let index = self.entries.insert(Entry {
            seq: seq.get(),
            task,
        });
        TimerId { index, seq }
    }

    /// Removes a pending timer; `None` if it already fired or was cancelled.
    pub(crate) fn cancel(&mut self, id: TimerId) -> Option<TimerTask> {
        match self.entries.get(id.index) {
            Some(e) if e.seq == id.seq.get() => {
                let task = self.entries.remove(id.index).task;
                if self.heap.len() > 2 * self.entries.len() + 64 {
                    let entries = &self.entries;
                    self.heap.retain(|item| Self::is_live(entries, item));
                }
                Some(task)
            }
            _ => None,
        }
    }

    /// Pops the earliest timer if its deadline is at or before `now`.
    #[cfg(test)]
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<TimerTask> {
        self.pop_due_before(now, u64::MAX)
    }

    /// Pops the earliest live timer if its deadline is at or before `now` and it was set
    /// before sequence number `limit` (see [`next_seq`](Self::next_seq)). Placeholders of
    /// cancelled timers met on the way are cleared.
    pub(crate) fn pop_due_before(&mut self, now: Instant, limit: u64) -> Option<TimerTask> {
        loop {
            let top = *self.heap.peek().filter(|h| h.deadline <= now)?;
            if !Self::is_live(&self.entries, &top) {
                self.heap.pop();
                continue;
            }
            if top.seq >= limit {
                return None;
            }
            self.heap.pop();
            return Some(self.entries.remove(top.index).task);
        }
    }

    /// The sequence number the next inserted timer will get.
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq + 1
    }

    /// A new timer's sequence number: they count from 1 (so a `TimerId` is never all
    /// zeros and `Option<TimerId>` needs no extra word).
    fn take_seq(&mut self) -> NonZeroU64 {
        self.next_seq += 1;
        NonZeroU64::new(self.next_seq).unwrap_or(NonZeroU64::MAX)
    }

    /// Takes every timer out (used when the reactor is dropped).
    pub(crate) fn drain(&mut self) -> Vec<TimerTask> {
        self.heap.clear();
        self.entries.drain().map(|e| e.task).collect()
    }

    fn is_live(entries: &Slab<Entry>, item: &HeapItem) -> bool {
        entries.get(item.index).is_some_and(|e| e.seq == item.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::time::Duration;

    fn task(log: &Rc<RefCell<Vec<u32>>>, n: u32) -> TimerTask {
        let log = log.clone();
        (
            Box::new(move || log.borrow_mut().push(n)),
            Location::caller(),
        )
    }

    #[test]
    fn pops_in_deadline_then_set_order() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut t = Timers::default();
        let now = Instant::now();
        for (i, ms) in [5u64, 1, 5, 3, 1, 0].iter().enumerate() {
            t.insert(now + Duration::from_millis(*ms), task(&log, i as u32));
        }
        while let Some((f, _)) = t.pop_due(now + Duration::from_secs(1)) {
            f();
        }
        assert_eq!(*log.borrow(), vec![5, 1, 4, 3, 0, 2]);
    }

    #[test]
    fn churn_keeps_the_heap_bounded() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut t = Timers::default();
        let now = Instant::now();
        let keep = t.insert(now + Duration::from_secs(1), task(&log, 0));
        for i in 0..100_000u64 {
            let id = t.insert(now + Duration::from_secs(2 + i % 7), task(&log, 1));
            assert!(t.cancel(id).is_some());
            assert!(t.heap.len() <= 2 * t.len() + 65);
        }
        assert_eq!(t.len(), 1);
        assert_eq!(t.next_deadline(), Some(now + Duration::from_secs(1)));
        assert!(t.cancel(keep).is_some());
        assert_eq!(t.next_deadline(), None);
        assert!(t.heap.is_empty());
    }

    #[test]
    fn cancel_removes_immediately() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut t = Timers::default();
        let now = Instant::now();
        let ids: Vec<_> = (0..1000)
            .map(|i| t.insert(now + Duration::from_millis(i % 17), task(&log, i as u32)))
            .collect();
        for id in ids.iter().step_by(2) {
            assert!(t.cancel(*id).is_some());
            assert!(t.cancel(*id).is_none());
        }
        assert_eq!(t.len(), 500);
        let mut last = None;
        while let Some((f, _)) = t.pop_due(now + Duration::from_secs(1)) {
            f();
            let n = *log.borrow().last().unwrap();
            assert_eq!(n % 2, 1);
            let key = (n % 17, n);
            if let Some(prev) = last {
                assert!(prev < key);
            }
            last = Some(key);
        }
        assert_eq!(t.len(), 0);
        assert_eq!(t.entries.len(), 0);
        assert!(t.heap.is_empty());
    }
}
