//! HTTP/1.1: a sans-IO core ([`h1`]) shared by the [`server`] and the [`client`].

pub mod client;
pub mod h1;
pub mod server;

pub use client::{AsyncHttpClient, HttpClient, HttpRequest, HttpResponse};
pub use server::{Headers, HttpServer, HttpServerOptions, Request, Responder};

/// The `http` crate's types that squall's HTTP API takes and returns, re-exported so an
/// application needs no extra dependency for them.
pub use ::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version};

/// Bodies are [`Bytes`] (from the `bytes` crate), re-exported here and at
/// the crate root.
pub use bytes::Bytes;
