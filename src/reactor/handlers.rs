//! The handler table: one slot per registered source, and every call into the poller
//! that names a source's descriptor.
//!
//! `polling` needs `unsafe` for two things: registering a raw descriptor (the caller
//! promises to delete it before it is closed) and borrowing a descriptor it holds by
//! number. Both are sound for the same reason, provable in this file alone: **a slot's
//! descriptor belongs to the source owned by that slot's handler, and the handler is
//! dropped only after the descriptor was deleted from the poller.** The handler lives
//! either in its slot or, while it runs, in a [`Running`] value that only
//! [`Handlers::put_back`] consumes; every path that frees a slot ([`Handlers::remove`],
//! [`Handlers::drain`], a failed [`Handlers::insert`]) deletes the descriptor first and
//! hands the handler back to be dropped by the caller, outside any borrow.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::panic::Location;
use std::sync::Arc;

use polling::{PollMode, Poller};
use slab::Slab;

use super::{Event, Interest, Token};
use crate::error::{Error, Result};

/// A type-erased handler: the source it owns plus the closure called with it.
pub(crate) trait Dispatch {
    fn dispatch(&mut self, ev: Event);
    /// The owned source's descriptor.
    fn fd(&self) -> BorrowedFd<'_>;
}

pub(crate) struct Bound<S, F> {
    pub(crate) source: S,
    pub(crate) callback: F,
}

impl<S: AsFd, F: FnMut(&mut S, Event)> Dispatch for Bound<S, F> {
    fn dispatch(&mut self, ev: Event) {
        (self.callback)(&mut self.source, ev)
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.source.as_fd()
    }
}

struct Slot {
    generation: u32,
    /// The descriptor registered with the poller: its handler's source's.
    fd: RawFd,
    interest: Interest,
    /// `None` while the handler runs (it is in a [`Running`]).
    handler: Option<Box<dyn Dispatch>>,
    location: &'static Location<'static>,
}

/// A handler taken out of its slot to run. Give it back with [`Handlers::put_back`],
/// which drops it only if its slot was removed (and its descriptor deleted) meanwhile.
#[must_use = "a running handler must be put back"]
pub(crate) struct Running {
    handler: Box<dyn Dispatch>,
}

impl Running {
    pub(crate) fn dispatch(&mut self, ev: Event) {
        self.handler.dispatch(ev);
    }
}

/// Registered handlers, by [`Token`].
pub(crate) struct Handlers {
    poller: Arc<Poller>,
    slots: Slab<Slot>,
    next_generation: u32,
}

impl Handlers {
    pub(crate) fn new(poller: Arc<Poller>) -> Self {
        Handlers {
            poller,
            slots: Slab::new(),
            next_generation: 1,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    fn next_generation(&mut self) -> u32 {
        let g = self.next_generation;
        self.next_generation = if g >= Token::MAX_GENERATION { 1 } else { g + 1 };
        g
    }

    /// Registers `handler`'s source with `interest`. On failure the handler is handed
    /// back (its descriptor is not registered) for the caller to drop outside the
    /// borrow.
    pub(crate) fn insert(
        &mut self,
        handler: Box<dyn Dispatch>,
        interest: Interest,
        location: &'static Location<'static>,
    ) -> std::result::Result<Token, (Error, Box<dyn Dispatch>)> {
        let fd = handler.fd().as_raw_fd();
        let index = self.slots.vacant_key();
        if index > Token::MAX_INDEX {
            return Err((
                Error::invalid_state("too many handlers for this platform's token"),
                handler,
            ));
        }
        let generation = self.next_generation;
        let token = Token::new(index, generation);
        // SAFETY: `fd` is the descriptor of `handler`'s source, and `handler` goes into
        // the slot below: from now on it is dropped only after `remove`/`drain` deleted
        // `fd` (see the module docs); on failure nothing was registered.
        if let Err(e) = unsafe { add(&self.poller, fd, interest, token) } {
            return Err((e, handler));
        }
        self.next_generation();
        let inserted = self.slots.insert(Slot {
            generation,
            fd,
            interest,
            handler: Some(handler),
            location,
        });
        debug_assert_eq!(inserted, index);
        Ok(token)
    }

    /// Changes what a handler waits for.
    pub(crate) fn update(&mut self, token: Token, interest: Interest) -> Result<()> {
        let slot = live(&mut self.slots, token)?;
        if slot.interest != interest {
            // SAFETY: a live slot's source is alive: in the slot, or in its `Running`.
            let fd = unsafe { source_fd(slot.fd) };
            self.poller.modify_with_mode(
                fd,
                interest.to_poll_event(token.key()),
                mode(interest),
            )?;
            slot.interest = interest;
        }
        Ok(())
    }

    /// Removes a handler: deletes its descriptor from the poller and returns the
    /// handler to drop (`None` if it is running: its `put_back` will drop it).
    pub(crate) fn remove(&mut self, token: Token) -> Result<Option<Box<dyn Dispatch>>> {
        self.live_mut(token)?;
        let slot = self.slots.remove(token.index());
        self.delete(slot.fd);
        Ok(slot.handler)
    }

    /// Takes the handler named by `token` out of its slot to run it with `ev` masked by
    /// its current interest; `None` for a stale token, a masked-out event or a handler
    /// already running.
    pub(crate) fn take(
        &mut self,
        token: Token,
        ev: Event,
    ) -> Option<(Running, Event, &'static Location<'static>)> {
        let slot = self.live_mut(token).ok()?;
        let ev = ev.masked(slot.interest);
        if !ev.is_readable() && !ev.is_writable() {
            return None;
        }
        let handler = slot.handler.take()?;
        Some((Running { handler }, ev, slot.location))
    }

    /// Puts a handler back after it ran. If its slot was removed while it ran, its
    /// descriptor is already deleted: the handler is returned, to be dropped outside
    /// the borrow.
    pub(crate) fn put_back(&mut self, token: Token, running: Running) -> Option<Box<dyn Dispatch>> {
        match self.live_mut(token) {
            Ok(slot) if slot.handler.is_none() => {
                slot.handler = Some(running.handler);
                None
            }
            _ => Some(running.handler),
        }
    }

    /// Removes every handler (the reactor is dropped): descriptors are deleted, the
    /// handlers returned to be dropped outside the borrow.
    pub(crate) fn drain(&mut self) -> Vec<Box<dyn Dispatch>> {
        let slots: Vec<Slot> = self.slots.drain().collect();
        let mut handlers = Vec::with_capacity(slots.len());
        for slot in slots {
            self.delete(slot.fd);
            handlers.extend(slot.handler);
        }
        handlers
    }

    fn live_mut(&mut self, token: Token) -> Result<&mut Slot> {
        live(&mut self.slots, token)
    }

    /// Deletes the descriptor of a slot being freed (its source is still alive).
    fn delete(&self, fd: RawFd) {
        // SAFETY: called only by `remove` and `drain` with the descriptor of the slot
        // they are freeing, before its handler (and so its source) is dropped.
        let borrowed = unsafe { source_fd(fd) };
        if let Err(e) = self.poller.delete(borrowed) {
            log::debug!("epoll delete of fd {fd} failed: {e}");
        }
    }
}

/// The slot `token` names, if it is still the one the token was issued for.
fn live(slots: &mut Slab<Slot>, token: Token) -> Result<&mut Slot> {
    match slots.get_mut(token.index()) {
        Some(slot) if slot.generation == token.generation() => Ok(slot),
        _ => Err(Error::invalid_state("no handler for this token")),
    }
}

/// The poll mode for `interest`: level-triggered, or oneshot for no interest.
///
/// epoll reports errors and hang-ups whatever was asked for, so a paused source whose
/// peer reset would be reported (and filtered out) on every wait: the loop would spin.
/// Oneshot lets the kernel report it at most once and then disables the descriptor until
/// the next `modify` re-arms it with the interest that returned.
fn mode(interest: Interest) -> PollMode {
    if interest.is_none() {
        PollMode::Oneshot
    } else {
        PollMode::Level
    }
}

/// Registers `fd` (level-triggered, see [`mode`]) under `token`.
///
/// # Safety
/// `fd` must be open, and must be deleted from `poller` before it is closed (polling's
/// `Poller::add` contract).
unsafe fn add(poller: &Poller, fd: RawFd, interest: Interest, token: Token) -> Result<()> {
    // SAFETY: forwarded to our caller.
    unsafe { poller.add_with_mode(fd, interest.to_poll_event(token.key()), mode(interest))? };
    Ok(())
}

/// Borrows a registered slot's descriptor by number.
///
/// # Safety
/// `fd` must be the descriptor of a slot whose handler (and so source) is alive for as
/// long as the returned value is used: it is only passed straight to the poller.
unsafe fn source_fd(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: forwarded to our caller: the descriptor is open.
    unsafe { BorrowedFd::borrow_raw(fd) }
}
