#![doc = include_str!("../README.md")]
#![deny(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]

pub mod error;
pub mod executor;
pub mod future;
pub mod http;
pub mod locks;
pub mod metrics;
pub mod net;
pub mod process;
pub mod queues;
pub mod reactor;
pub mod redis;
pub mod stream;
mod telemetry;
pub mod testing;
pub mod tls;
pub mod web;
pub mod websocket;

pub use bytes::Bytes;
pub use error::{Error, Result};
pub use future::{chain_future, join_all, with_timeout, Future, RemoteSetter};
pub use reactor::{
    Event, Handle, Interest, PeriodicCallback, Reactor, Remote, Stats, TimerId, Token,
};

/// The user guide's examples are doc-tested so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../docs/guide.md")]
mod guide_doctests {}

/// The WebSocket chapter's examples are doc-tested too.
#[cfg(doctest)]
#[doc = include_str!("../docs/websocket.md")]
mod websocket_doctests {}

/// So are the deployment chapter's.
#[cfg(doctest)]
#[doc = include_str!("../docs/deployment.md")]
mod deployment_doctests {}
