//! UDP echo server on a single-threaded (current_thread) tokio runtime: every datagram is
//! sent back to its sender. The command line and first line of squall's `udp_echo`
//! (`--port 0` prints `listening on udp://HOST:PORT`).

use squall_peers::Args;
use tokio::net::UdpSocket;

const USAGE: &str = "tokio_udp_echo [--port 9000] [--bind 127.0.0.1]";

fn main() {
    let args = Args::parse(&[]);
    args.usage_if_help(USAGE);
    let port: u16 = args.get("port", 9000);
    let bind = args.str_or("bind", "127.0.0.1");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async move {
        let socket = UdpSocket::bind((bind.as_str(), port)).await.expect("bind");
        println!("listening on udp://{}", socket.local_addr().unwrap());
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let Ok((n, from)) = socket.recv_from(&mut buf).await else { continue };
            let _ = socket.send_to(&buf[..n], from).await;
        }
    });
}
