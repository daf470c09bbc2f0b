//! Where a queue keeps its items: first-in first-out, last-in first-out, or smallest
//! first. The waiting rules are the same for all three and live in `queue.rs`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// The order a queue hands its items out in.
pub(crate) trait Store<T>: 'static {
    fn new() -> Self;
    fn push(&mut self, item: T);
    fn pop(&mut self) -> Option<T>;
    fn len(&self) -> usize;
}

/// First in, first out (Tornado's `Queue`).
pub(crate) struct Fifo<T>(VecDeque<T>);

impl<T: 'static> Store<T> for Fifo<T> {
    fn new() -> Self {
        Fifo(VecDeque::new())
    }
    fn push(&mut self, item: T) {
        self.0.push_back(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Last in, first out (Tornado's `LifoQueue`).
pub(crate) struct Lifo<T>(Vec<T>);

impl<T: 'static> Store<T> for Lifo<T> {
    fn new() -> Self {
        Lifo(Vec::new())
    }
    fn push(&mut self, item: T) {
        self.0.push(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Smallest first (Tornado's `PriorityQueue`, a min-heap like Python's `heapq`).
pub(crate) struct Priority<T>(BinaryHeap<Reverse<T>>);

impl<T: Ord + 'static> Store<T> for Priority<T> {
    fn new() -> Self {
        Priority(BinaryHeap::new())
    }
    fn push(&mut self, item: T) {
        self.0.push(Reverse(item));
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop().map(|Reverse(item)| item)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain<S: Store<u8>>(mut s: S) -> Vec<u8> {
        for i in [3, 1, 2] {
            s.push(i);
        }
        assert_eq!(s.len(), 3);
        std::iter::from_fn(|| s.pop()).collect()
    }

    #[test]
    fn each_store_hands_items_out_in_its_order() {
        assert_eq!(drain(Fifo::new()), [3, 1, 2]);
        assert_eq!(drain(Lifo::new()), [2, 1, 3]);
        assert_eq!(drain(Priority::new()), [1, 2, 3]);
    }
}
