//! One output buffer per thread for encoded heads (server responses, client requests):
//! a head is written at its end and split off as `Bytes` for the stream to queue, so a
//! connection owns no write memory between messages and a head costs no allocation
//! while the buffer has room (once every head split from it was written, `reserve`
//! reuses it from the start).

use std::cell::RefCell;

use bytes::BytesMut;

/// Capacity of the per-thread buffer: corked pipelined responses share it, so it must
/// hold many before it has to be replaced by a new allocation.
const OUT_CAPACITY: usize = 16 * 1024;

thread_local! {
    static OUT: RefCell<BytesMut> = RefCell::new(BytesMut::with_capacity(OUT_CAPACITY));
}

/// Takes the thread's buffer (empty: what was written before was split off). Give it
/// back with [`return_out_buffer`].
pub(crate) fn out_buffer() -> BytesMut {
    OUT.with(|o| std::mem::take(&mut *o.borrow_mut()))
}

/// Gives the buffer back, after splitting off what was written to it.
pub(crate) fn return_out_buffer(buf: BytesMut) {
    OUT.with(|o| *o.borrow_mut() = buf);
}
