#!/usr/bin/env python3
"""Inflating fairness: a normal client's echo latency while other connections send
compressed messages that inflate to 16 MiB (about 16 KB on the wire).

    cargo build --release --example ws_echo
    target/release/examples/ws_echo --port 0 --deflate      # prints its address
    python3 benches/ws_inflate_fairness.py --port PORT [--heavy 4] [--seconds 20] [--mode echo|bomb]

--mode echo: each heavy connection sends one 16 MiB - 1 KiB text message, reads the whole
(compressed) echo, one frame or fragmented, and sends the next: the server inflates and
compresses.
--mode bomb: each heavy message inflates to 16 MiB + 1 KiB, beyond ws_echo's 16 MiB
limit: the server inflates 16 MiB, fails the connection with 1009, and the client
reconnects; this isolates the cost of inflating.

The normal client (no compression) sends a 16-byte text every 10 ms and waits for its
echo; printed: its round trips (median, p99, max, in ms) and the heavy messages handled.
Bounded: the run stops after --seconds.
"""

import argparse
import asyncio
import base64
import os
import statistics
import struct
import time
import zlib

import websockets

UPGRADE = (
    "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
)


def frame(payload: bytes, opcode=1, rsv1=True) -> bytes:
    """A masked client frame."""
    b0 = 0x80 | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", b0, 0x80 | 127, n)
    key = os.urandom(4)
    masked = bytes(c ^ key[i & 3] for i, c in enumerate(payload))
    return head + key + masked


def compressed(size: int) -> bytes:
    """`size` bytes of text, deflated with a sync flush, tail removed (no context kept:
    each message is its own stream, so every message can be sent on any connection)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    text = (b"squall " * (size // 7 + 1))[:size]
    out = c.compress(text) + c.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4]


async def read_frame(reader):
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    payload = await reader.readexactly(n)
    return b0 & 0x80 != 0, b0 & 0x0F, payload


async def read_message(reader):
    """The opcode of the next whole message (or close frame): a reply may come as one
    frame or fragmented (continuation frames until FIN); pings and pongs are skipped."""
    opcode = None
    while True:
        fin, op, _ = await read_frame(reader)
        if op == 8:
            return op
        if op in (9, 10):
            continue
        if opcode is None:
            opcode = op
        if fin:
            return opcode


async def heavy(port, wire, mode, stop, counts):
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            key = base64.b64encode(os.urandom(16)).decode()
            writer.write(UPGRADE.format(key=key).encode())
            await reader.readuntil(b"\r\n\r\n")
            while not stop.is_set():
                writer.write(wire)
                await writer.drain()
                op = await read_message(reader)
                counts["heavy"] += 1
                if op == 8 or mode == "bomb":
                    break
            writer.close()
        except (OSError, asyncio.IncompleteReadError):
            await asyncio.sleep(0.01)


async def normal(port, stop, rtts):
    async with websockets.connect(
        f"ws://127.0.0.1:{port}/", compression=None, max_size=None
    ) as ws:
        while not stop.is_set():
            t = time.perf_counter()
            await ws.send("0123456789abcdef")
            await ws.recv()
            rtts.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(0.01)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--heavy", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--mode", choices=["echo", "bomb"], default="echo")
    a = ap.parse_args()
    size = (16 << 20) - 1024 if a.mode == "echo" else (16 << 20) + 1024
    z = compressed(size)
    wire = frame(z)
    stop = asyncio.Event()
    counts = {"heavy": 0}
    rtts = []
    tasks = [asyncio.create_task(heavy(a.port, wire, a.mode, stop, counts)) for _ in range(a.heavy)]
    tasks.append(asyncio.create_task(normal(a.port, stop, rtts)))
    await asyncio.sleep(a.seconds)
    stop.set()
    await asyncio.wait(tasks, timeout=5)
    rtts.sort()
    print(
        f"mode={a.mode} heavy={a.heavy} message={size} B inflated from {len(z)} B; "
        f"heavy messages handled: {counts['heavy']}"
    )
    if rtts:
        p99 = rtts[min(len(rtts) - 1, int(len(rtts) * 0.99))]
        print(
            f"normal client: {len(rtts)} round trips, median {statistics.median(rtts):.2f} ms, "
            f"p99 {p99:.2f} ms, max {rtts[-1]:.2f} ms"
        )


if __name__ == "__main__":
    asyncio.run(main())
