"""The peer of the chat demo's load check: the same long-poll routes on Tornado.

    python3 benches/peers/tornado_chat.py --port 8889

Serves POST /a/message/new (form field body -> {"id", "body", "html"}) and
POST /a/message/updates (optional form field cursor -> {"messages": [...]}) with a
200-message cache and a tornado.locks.Condition, as Tornado's chat demo does, so
`chat_load` measures both servers the same way.
"""

import argparse
import asyncio
import uuid

import tornado.escape
import tornado.locks
import tornado.web


class Buffer:
    def __init__(self):
        self.cond = tornado.locks.Condition()
        self.cache = []

    def since(self, cursor):
        out = []
        for msg in reversed(self.cache):
            if msg["id"] == cursor:
                break
            out.append(msg)
        out.reverse()
        return out

    def add(self, msg):
        self.cache.append(msg)
        self.cache = self.cache[-200:]
        self.cond.notify_all()


BUFFER = Buffer()


class New(tornado.web.RequestHandler):
    def post(self):
        msg = {"id": str(uuid.uuid4()), "body": self.get_argument("body")}
        msg["html"] = '<div class="message" id="m%s">%s</div>\n' % (
            msg["id"],
            tornado.escape.xhtml_escape(msg["body"]),
        )
        BUFFER.add(msg)
        self.write(msg)


class Updates(tornado.web.RequestHandler):
    async def post(self):
        cursor = self.get_argument("cursor", None)
        messages = BUFFER.since(cursor)
        while not messages:
            self.wait_future = BUFFER.cond.wait()
            try:
                await self.wait_future
            except asyncio.CancelledError:
                return
            messages = BUFFER.since(cursor)
        if self.request.connection.stream.closed():
            return
        self.write({"messages": messages})

    def on_connection_close(self):
        self.wait_future.cancel()


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8889)
    args = parser.parse_args()
    app = tornado.web.Application(
        [(r"/a/message/new", New), (r"/a/message/updates", Updates)]
    )
    app.listen(args.port, address="127.0.0.1")
    print("listening on http://127.0.0.1:%d" % args.port, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
