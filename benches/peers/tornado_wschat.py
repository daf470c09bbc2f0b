"""The peer of the chat's WebSocket load check: Tornado's websocket chat demo
(demos/websocket/chatdemo.py), without its page.

    python3 benches/peers/tornado_wschat.py --port 8890

GET /chatsocket upgrades to a WebSocket; a text message {"body": ...} becomes
{"id", "body", "html"} (html-escaped), joins a 200-message cache and is sent to every
connected socket, exactly as the demo's ChatSocketHandler does. `chat_ws_load` measures
it the same way as squall's `chat`.
"""

import argparse
import asyncio
import logging
import uuid

import tornado.escape
import tornado.web
import tornado.websocket


class ChatSocketHandler(tornado.websocket.WebSocketHandler):
    waiters = set()
    cache = []
    cache_size = 200

    def get_compression_options(self):
        return {}  # as the demo: compression enabled

    def open(self):
        ChatSocketHandler.waiters.add(self)

    def on_close(self):
        ChatSocketHandler.waiters.remove(self)

    @classmethod
    def update_cache(cls, chat):
        cls.cache.append(chat)
        if len(cls.cache) > cls.cache_size:
            cls.cache = cls.cache[-cls.cache_size :]

    @classmethod
    def send_updates(cls, chat):
        for waiter in cls.waiters:
            try:
                waiter.write_message(chat)
            except Exception:
                logging.error("Error sending message", exc_info=True)

    def on_message(self, message):
        parsed = tornado.escape.json_decode(message)
        chat = {"id": str(uuid.uuid4()), "body": parsed["body"]}
        chat["html"] = '<div class="message" id="m%s">%s</div>\n' % (
            chat["id"],
            tornado.escape.xhtml_escape(chat["body"]),
        )
        ChatSocketHandler.update_cache(chat)
        ChatSocketHandler.send_updates(chat)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8890)
    args = ap.parse_args()
    app = tornado.web.Application([(r"/chatsocket", ChatSocketHandler)])
    app.listen(args.port, address="127.0.0.1", backlog=4096)
    print(f"listening on http://127.0.0.1:{args.port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
