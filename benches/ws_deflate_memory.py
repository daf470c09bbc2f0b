#!/usr/bin/env python3
"""Memory of compressed WebSocket connections: the server's RSS before, with N
permessage-deflate connections open (each has sent and received a few messages, so its
deflate state exists), and after they all closed.

    cargo build --release --example ws_echo
    target/release/examples/ws_echo --port 0 --deflate &    # prints its address
    python3 benches/ws_deflate_memory.py --port PORT --pid PID [--connections 2000]

The clients are Python `websockets` with its default permessage-deflate offer
(`client_max_window_bits`, context takeover, memLevel 5), as a browser offers.
Bounded: connecting and messaging time out after --timeout seconds.
"""

import argparse
import asyncio
import resource

import websockets

MESSAGE = '{"type": "chat", "user": "someone", "text": "hello everyone, how is it going?"}'


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def one(port: int, opened: list, ready: asyncio.Event, release: asyncio.Event):
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/", max_size=None)
    opened.append(ws.response.headers.get("Sec-WebSocket-Extensions"))
    for i in range(3):
        await ws.send(f"{MESSAGE} #{i}")
        await ws.recv()
    ready.set()
    await release.wait()
    await ws.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--connections", type=int, default=2000)
    ap.add_argument("--timeout", type=float, default=120)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, a.connections + 100)), hard))
    before = rss_kib(a.pid)
    opened, release = [], asyncio.Event()
    readies = [asyncio.Event() for _ in range(a.connections)]
    tasks = []
    for r in readies:
        tasks.append(asyncio.create_task(one(a.port, opened, r, release)))
        if len(tasks) % 100 == 0:
            await asyncio.sleep(0.05)  # keep the accept backlog from overflowing
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), a.timeout)
    await asyncio.sleep(0.5)
    during = rss_kib(a.pid)
    release.set()
    await asyncio.wait_for(asyncio.gather(*tasks), a.timeout)
    await asyncio.sleep(2)
    after = rss_kib(a.pid)
    n = a.connections
    print(f"extensions agreed: {opened[0]}")
    print(
        f"server RSS: {before / 1024:.1f} MiB before, {during / 1024:.1f} MiB with {n} "
        f"compressed connections ({(during - before) / n:.1f} KiB each), "
        f"{after / 1024:.1f} MiB after they closed"
    )


if __name__ == "__main__":
    asyncio.run(main())
