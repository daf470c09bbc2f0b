#![doc = include_str!("../README.md")]
#![deny(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod error;
pub mod http;

pub use error::{Error, Result};
