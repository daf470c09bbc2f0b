//! HTTP/1.1: a sans-IO core ([`h1`]) shared by the [`server`] and the [`client`].

pub mod client;
pub mod h1;
pub mod server;

pub use client::{AsyncHttpClient, HttpClient, HttpRequest, HttpResponse};
pub use server::{HttpServer, HttpServerOptions, Request, Responder};
