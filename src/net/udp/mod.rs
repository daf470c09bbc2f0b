//! [`UdpSocket`]: datagrams on the loop, with callbacks or futures and backpressure on
//! send (asyncio's `DatagramProtocol`, in squall's style).

mod options;
mod socket;

pub use options::UdpOptions;
pub use socket::UdpSocket;
