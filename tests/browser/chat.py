"""The chat example in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

For each transport (WebSocket, and long-polling with WebSocket removed from the page):
two pages join, one sends, the other must show it; every message must arrive, in the
order sent, and user text escaped; then the server is restarted on the same port and
both pages must reconnect and keep chatting. On failure, screenshots of both pages are
saved and the script exits 1.

This is a functional test: each wait is bounded generously (WAIT_MS, a hang guard on a
loaded machine), never a speed goal. The delivery latency (measured inside the browser:
both pages share its clock) is printed for information; latency goals are measured by
the load tools (examples/chat/load.rs, ws_load.rs), not asserted here.

usage: chat.py --binary PATH_TO_CHAT --screenshots DIR
       chat.py --pages URL1,URL2 --screenshots DIR   (servers run by the caller)
"""

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time

from playwright.sync_api import sync_playwright

from common import CHROMIUM_ARGS

WAIT_MS = 20_000  # failure bound of each wait, never what a check waits for

# Records, in each page, when a message with a given body was sent or first shown.
PROBE = """
window.__sent = {};
window.__seen = {};
document.addEventListener("DOMContentLoaded", () => {
  const inbox = document.getElementById("inbox");
  new MutationObserver(() => {
    for (const el of inbox.querySelectorAll(".message")) {
      if (!(el.textContent in window.__seen)) window.__seen[el.textContent] = Date.now();
    }
  }).observe(inbox, { childList: true, subtree: true });
  document.getElementById("messageform").addEventListener("submit", () => {
    window.__sent[document.getElementById("message").value] = Date.now();
  }, true);
});
"""
NO_WEBSOCKET = "delete window.WebSocket;"


class Server:
    def __init__(self, binary, port=0):
        self.proc = subprocess.Popen(
            [binary, "--port", str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = self.proc.stdout.readline()
        prefix = "listening on http://"
        if not line.startswith(prefix):
            raise RuntimeError(f"chat printed {line!r}")
        self.port = int(line.strip().rsplit(":", 1)[1])

    def stop(self, graceful=True):
        if self.proc.poll() is not None:
            return
        if not graceful:
            self.proc.kill()
            self.proc.wait()
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def send(page, text):
    page.fill("#message", text)
    page.press("#message", "Enter")


def wait_seen(page, text):
    page.wait_for_function(
        "t => t in window.__seen", arg=text, timeout=WAIT_MS, polling="raf"
    )


def check_pair(sender, receiver, text):
    """One message reaches both pages (bounded by WAIT_MS); returns its latency in ms,
    printed for information only."""
    send(sender, text)
    wait_seen(receiver, text)
    wait_seen(sender, text)
    sent = sender.evaluate("t => window.__sent[t]", text)
    seen = receiver.evaluate("t => window.__seen[t]", text)
    delay = seen - sent
    print(f"  {text!r}: shown on the other page after {delay} ms (information)")
    return delay


def shown(page):
    return page.evaluate(
        "[...document.querySelectorAll('#inbox .message')].map(e => e.textContent)"
    )


def check_order(pages, texts):
    """Each page shows `texts` in the order they were sent (other messages may be
    between them, e.g. the room's recent history)."""
    for i, p in enumerate(pages):
        got = [t for t in shown(p) if t in texts]
        if got != texts:
            raise AssertionError(f"page {i} shows {got}, sent {texts}")


def check_escaped(pages):
    for p in pages:
        if p.locator("#inbox b, #inbox img").count() != 0:
            raise AssertionError("user text became markup")


def check_messages(sender, receiver, text):
    """Three messages in a row: every one arrives on both pages, in order."""
    texts = [f"{text} #{n}" for n in range(3)]
    delays = [check_pair(sender, receiver, t) for t in texts]
    check_order([sender, receiver], texts)
    print(f"  {text!r}: latencies {delays} ms (information, not a goal)")


def transport(page):
    return page.evaluate("document.body.dataset.transport")


def open_page(browser, url, mode, joined=True):
    """A page of the chat at `url` in a context of its own, WebSocket removed for the
    "poll" mode; with `joined`, once it uses that transport."""
    ctx = browser.new_context()
    ctx.add_init_script(PROBE)
    if mode == "poll":
        ctx.add_init_script(NO_WEBSOCKET)
    page = ctx.new_page()
    page.goto(url)
    if joined:
        page.wait_for_function(
            "m => document.body.dataset.transport === m", arg=mode, timeout=WAIT_MS
        )
    return page


def screenshots(pages, shots, prefix):
    os.makedirs(shots, exist_ok=True)
    for i, p in enumerate(pages):
        path = os.path.join(shots, f"{prefix}-page{i}.png")
        try:
            p.screenshot(path=path)
            print(f"screenshot: {path}", file=sys.stderr)
        except Exception as e:  # the page may be gone
            print(f"no screenshot of page {i}: {e}", file=sys.stderr)


@contextlib.contextmanager
def screenshots_on_failure(pages, shots, prefix):
    """Takes a screenshot of each of `pages` when the block fails, and lets it fail."""
    try:
        yield
    except Exception:
        screenshots(pages, shots, prefix)
        raise


def exchange(pages, first, reply, again):
    """On two joined pages: `first` from a shows literally on both (no element is made
    from it), then three messages from b (`reply`) and three from a (`again`) reach both
    pages in order."""
    a, b = pages
    check_pair(a, b, first)
    check_escaped(pages)
    check_messages(b, a, reply)
    check_messages(a, b, again)


def run(browser, binary, mode, shots):
    server = Server(binary)
    url = f"http://127.0.0.1:{server.port}/"
    pages = []
    try:
        with screenshots_on_failure(pages, shots, f"chat-{mode}"):
            for _ in range(2):
                pages.append(open_page(browser, url, mode))
            a, b = pages
            print(f"{mode}: both pages joined")
            evil = f"<b>bold</b> & <img src=x onerror=alert(1)> ({mode})"
            exchange(pages, evil, f"hello from b ({mode})", f"hello from a ({mode})")

            # A late joiner sees the recent messages.
            late = open_page(browser, url, mode, joined=False)
            wait_seen(late, evil)
            late.close()

            server.stop()
            if mode == "websocket":
                for p in pages:
                    p.wait_for_function(
                        "document.body.dataset.transport !== 'websocket'", timeout=WAIT_MS
                    )
            server = Server(binary, server.port)
            print(f"{mode}: server restarted on port {server.port}")
            if mode == "websocket":
                for p in pages:
                    p.wait_for_function(
                        "document.body.dataset.transport === 'websocket'", timeout=WAIT_MS
                    )
            check_pair(a, b, f"after restart a ({mode})")
            check_pair(b, a, f"after restart b ({mode})")
            check_messages(a, b, f"again ({mode})")
            print(f"{mode}: ok")
    finally:
        server.stop(graceful=False)


def run_fixed(browser, urls, mode, shots):
    """Pages on servers the caller runs (e.g. two processes sharing a room through Redis,
    or nginx in front of them): they join, and each one's messages reach the other."""
    pages = []
    try:
        with screenshots_on_failure(pages, shots, f"chat-fixed-{mode}"):
            for url in urls:
                pages.append(open_page(browser, url, mode))
            print(f"{mode} on {' and '.join(urls)}: both pages joined")
            exchange(
                pages,
                f"<b>first</b> & <img src=x> via {urls[0]} ({mode})",
                f"reply via {urls[1]} ({mode})",
                f"again via {urls[0]} ({mode})",
            )
            print(f"{mode} on {' and '.join(urls)}: ok")
    finally:
        for p in pages:
            p.context.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", help="the chat example: started and restarted here")
    ap.add_argument(
        "--pages", help="URL1,URL2: two pages on servers already running (no restart)"
    )
    ap.add_argument("--screenshots", required=True)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS
        )
        try:
            for mode in ["websocket", "poll"]:
                if args.pages:
                    run_fixed(browser, args.pages.split(","), mode, args.screenshots)
                else:
                    run(browser, args.binary, mode, args.screenshots)
        finally:
            browser.close()


if __name__ == "__main__":
    try:
        main()
    except Exception as e:
        print(f"FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
