//! The timer store: an indexed binary heap over a slab.
//!
//! Insert, cancel and pop are O(log n); cancelling removes the entry at once (no
//! tombstones), so set-and-cancel churn never grows memory. Equal deadlines fire in the
//! order they were set (ties are broken by a sequence number).

use std::panic::Location;
use std::time::Instant;

use slab::Slab;

use super::token::TimerId;

/// A boxed timer callback and where it was scheduled from.
pub(crate) type TimerTask = (Box<dyn FnOnce()>, &'static Location<'static>);

struct Entry {
    seq: u64,
    pos: usize,
    task: TimerTask,
}

#[derive(Clone, Copy)]
struct HeapItem {
    deadline: Instant,
    seq: u64,
    index: usize,
}

impl HeapItem {
    fn before(&self, other: &HeapItem) -> bool {
        (self.deadline, self.seq) < (other.deadline, other.seq)
    }
}

/// Timers ordered by (deadline, sequence).
#[derive(Default)]
pub(crate) struct Timers {
    entries: Slab<Entry>,
    heap: Vec<HeapItem>,
    next_seq: u64,
}

impl Timers {
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.first().map(|h| h.deadline)
    }

    pub(crate) fn insert(&mut self, deadline: Instant, task: TimerTask) -> TimerId {
        let seq = self.next_seq;
        self.next_seq += 1;
        let pos = self.heap.len();
        let index = self.entries.insert(Entry { seq, pos, task });
        self.heap.push(HeapItem {
            deadline,
            seq,
            index,
        });
        self.sift_up(pos);
        TimerId { index, seq }
    }

    /// Removes a pending timer; `None` if it already fired or was cancelled.
    pub(crate) fn cancel(&mut self, id: TimerId) -> Option<TimerTask> {
        match self.entries.get(id.index) {
            Some(e) if e.seq == id.seq => {
                let pos = e.pos;
                Some(self.remove_at(pos))
            }
            _ => None,
        }
    }

    /// Pops the earliest timer if its deadline is at or before `now`.
    #[cfg(test)]
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<TimerTask> {
        self.pop_due_before(now, u64::MAX)
    }

    /// Pops the earliest timer if its deadline is at or before `now` and it was set
    /// before sequence number `limit` (see [`next_seq`](Self::next_seq)).
    pub(crate) fn pop_due_before(&mut self, now: Instant, limit: u64) -> Option<TimerTask> {
        match self.heap.first() {
            Some(h) if h.deadline <= now && h.seq < limit => Some(self.remove_at(0)),
            _ => None,
        }
    }

    /// The sequence number the next inserted timer will get.
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Takes every timer out (used when the reactor is dropped).
    pub(crate) fn drain(&mut self) -> Vec<TimerTask> {
        self.heap.clear();
        self.entries.drain().map(|e| e.task).collect()
    }

    fn remove_at(&mut self, pos: usize) -> TimerTask {
        let item = self.heap.swap_remove(pos);
        if pos < self.heap.len() {
            self.entries[self.heap[pos].index].pos = pos;
            self.sift_down(pos);
            self.sift_up(pos);
        }
        self.entries.remove(item.index).task
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.entries[self.heap[a].index].pos = a;
        self.entries[self.heap[b].index].pos = b;
    }

    fn sift_up(&mut self, mut pos: usize) {
        while pos > 0 {
            let parent = (pos - 1) / 2;
            if self.heap[pos].before(&self.heap[parent]) {
                self.swap(pos, parent);
                pos = parent;
            } else {
                break;
            }
        }
    }

    fn sift_down(&mut self, mut pos: usize) {
        let len = self.heap.len();
        loop {
            let left = 2 * pos + 1;
            if left >= len {
                break;
            }
            let right = left + 1;
            let child = if right < len && self.heap[right].before(&self.heap[left]) {
                right
            } else {
                left
            };
            if self.heap[child].before(&self.heap[pos]) {
                self.swap(pos, child);
                pos = child;
            } else {
                break;
            }
        }
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
    }
}
