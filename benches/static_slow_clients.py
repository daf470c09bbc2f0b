#!/usr/bin/env python3
"""Static files under non-reading clients: a bounded load against `static_server`.

Each burst opens --clients connections that request a large file and never read it,
holds them --seconds, then closes them all; --bursts times. Throughout, a normal client
fetches a small file every --interval seconds on a fresh connection and the time to its
whole response is recorded, and the server's RSS is sampled from /proc/PID/status.
Prints the normal client's latencies (median, p99, max) per burst and the peak RSS.

    python3 benches/static_slow_clients.py --port 8888 --server-pid PID \
        [--clients 1000] [--large /static/large.bin] [--small /static/small.txt]
"""
import argparse
import socket
import threading
import time


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def fetch(port, path):
    """Time to the whole response of GET path on a fresh connection, in seconds."""
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    if not data.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"bad answer: {data[:80]!r}")
    return time.monotonic() - t0


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8888)
    ap.add_argument("--server-pid", type=int, required=True)
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--bursts", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--interval", type=float, default=0.02)
    ap.add_argument("--large", default="/static/large.bin")
    ap.add_argument("--small", default="/static/small.txt")
    a = ap.parse_args()

    print(f"server RSS before: {rss_kib(a.server_pid) / 1024:.1f} MiB")
    peak_rss = 0
    for burst in range(a.bursts):
        lat, stop = [], threading.Event()

        def sampler():
            while not stop.is_set():
                lat.append(fetch(a.port, a.small))
                time.sleep(a.interval)

        th = threading.Thread(target=sampler)
        th.start()
        t0 = time.monotonic()
        req = f"GET {a.large} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        conns = []
        for _ in range(a.clients):
            s = socket.create_connection(("127.0.0.1", a.port), timeout=30)
            s.sendall(req)
            conns.append(s)  # never read
        opened = time.monotonic() - t0
        while time.monotonic() - t0 < a.seconds:
            peak_rss = max(peak_rss, rss_kib(a.server_pid))
            time.sleep(0.05)
        stop.set()
        th.join()
        for s in conns:
            s.close()
        print(
            f"burst {burst + 1}: {a.clients} clients opened in {opened * 1000:.0f} ms; "
            f"normal client {len(lat)} requests: median {pct(lat, 0.5) * 1000:.1f} ms, "
            f"p99 {pct(lat, 0.99) * 1000:.1f} ms, max {max(lat) * 1000:.1f} ms"
        )
        time.sleep(0.5)
    print(
        f"server peak RSS sampled: {peak_rss / 1024:.1f} MiB, "
        f"VmHWM: {rss_kib(a.server_pid, 'VmHWM') / 1024:.1f} MiB"
    )


if __name__ == "__main__":
    main()
