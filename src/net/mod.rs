//! TCP: [`TcpServer`], [`TcpClient`], resolvers and [`bind_sockets`] (Tornado's
//! `tcpserver`, `tcpclient` and `netutil`); UDP: [`UdpSocket`].

mod bind;
mod client;
mod resolver;
mod server;
mod udp;

pub use bind::{bind_sockets, BindOptions};
pub use client::{TcpClient, SECOND_FAMILY_DELAY};
pub use resolver::{DefaultResolver, OverrideResolver, Resolver};
pub use server::TcpServer;
pub use udp::{UdpOptions, UdpSocket};
