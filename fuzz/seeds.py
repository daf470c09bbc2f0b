#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets into fuzz/seeds/<target>/: real requests and
responses as curl, browsers, Python's http.client, nginx and Tornado send them, in the
input format of each target (see fuzz/README.md). Run from anywhere; idempotent."""

import os

HERE = os.path.dirname(os.path.abspath(__file__))

REQUESTS = [
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8888\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n",
    b"GET /search?q=squall&lang=en HTTP/1.1\r\nHost: example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
    b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\n"
    b"Accept-Encoding: gzip, deflate, br\r\nConnection: keep-alive\r\nCookie: session=abc; theme=dark\r\nUpgrade-Insecure-Requests: 1\r\n\r\n",
    b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"key\":\"value\"}",
    b"POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Checksum: 42\r\n\r\n",
    b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\nPOST /c HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /d HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"GET /old HTTP/1.0\r\nUser-Agent: ApacheBench/2.3\r\n\r\n",
    b"GET /ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"PUT /big HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\ndata",
    b"GET http://example.com/abs?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
    b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    b"DELETE /item/7 HTTP/1.1\r\nhost: a\r\nauthorization: Basic dXNlcjpwYXNz\r\ncontent-length: 0\r\n\r\n",
    b"\r\nGET /after-crlf HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /form HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
]

RESPONSES = [
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\nDate: Mon, 30 Nov 2026 10:00:00 GMT\r\nContent-Type: text/html\r\nContent-Length: 13\r\nConnection: keep-alive\r\n\r\nHello, squall",
    b"HTTP/1.1 200 OK\r\nServer: TornadoServer/6.4\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: yes\r\n\r\n",
    b"HTTP/1.1 304 Not Modified\r\nETag: \"abc\"\r\nContent-Length: 100\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nLocation: /item/8\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 301 Moved Permanently\r\nLocation: http://example.com/new\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.12.3\r\nContent-type: text/plain\r\n\r\nuntil the connection closes",
    b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 23\r\n\r\n\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xcbH\xcd\xc9\xc9\x07\x00\x86\xa6\x106\x05\x00\x00\x00",
    b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX-Folded: one\r\n two\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Length: 93\r\n\r\n<html><title>500: Internal Server Error</title><body>500: Internal Server Error</body></html>",
]

CHUNKED = [
    b"5\r\nhello\r\n0\r\n\r\n",
    b"3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: yes\r\nX-Other: 2\r\n\r\n",
    b"5;name=value;flag\r\nhello\r\n0;last\r\n\r\n",
    b"000000000000000000005\r\nhello\r\n0\r\n\r\n",
    b"A\r\n0123456789\r\nFFFFFFFFFFFFFFFF\r\n",
    b"1\r\nx\r\n1\r\ny\r\n1\r\nz\r\n0\r\n\r\n",
    b"5 ;a = b\t;c\r\nhello\r\n0\r\n\r\n",
    b"5 \r\nhello\r\n0\r\n\r\n",
]

# Redis replies as redis-server 7 sends them: PONG, OK, errors, integers, bulk and null
# replies, LRANGE/HGETALL arrays, pub/sub pushes, nested (EXEC, XRANGE) arrays.
RESP = [
    b"+PONG\r\n+OK\r\n",
    b"-ERR unknown command 'FOO', with args beginning with: \r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    b":0\r\n:1\r\n:-1\r\n:9223372036854775807\r\n",
    b"$5\r\nhello\r\n$0\r\n\r\n$-1\r\n$4\r\na\r\nb\r\n",
    b"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n*0\r\n*-1\r\n",
    b"*3\r\n$9\r\nsubscribe\r\n$11\r\nsquall-chat\r\n:1\r\n*3\r\n$7\r\nmessage\r\n$11\r\nsquall-chat\r\n$25\r\n{\"id\":\"ab-1\",\"body\":\"hi\"}\r\n",
    b"*2\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$5\r\nfield\r\n$5\r\nvalue\r\n*3\r\n+OK\r\n:2\r\n-ERR inner\r\n",
    b"*4\r\n$4\r\nname\r\n$6\r\nsquall\r\n$3\r\nage\r\n:7\r\n" + b":42\r\n" * 8,
]


def write(target, name, data):
    d = os.path.join(HERE, "seeds", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    for i, r in enumerate(REQUESTS):
        write("request_head", f"req{i:02}", b"\x00" + r)
        write("request_head", f"req{i:02}-small", b"\x07" + r)
        write("server_pipeline", f"req{i:02}", b"\x05\x00" + r)
        write("server_pipeline", f"req{i:02}-small", b"\x03\x01" + r)
    for i, r in enumerate(RESPONSES):
        write("response_head", f"resp{i:02}-get", b"\x05\x00" + r)
        write("response_head", f"resp{i:02}-head", b"\x07\x01" + r)
    for i, c in enumerate(CHUNKED):
        write("chunked", f"chunked{i:02}", b"\x09\x00" + c)
        write("chunked", f"chunked{i:02}-small", b"\x0b\x01" + c)
    for i, r in enumerate(RESP):
        write("resp", f"resp{i:02}", b"\x05\x00" + r)
        write("resp", f"resp{i:02}-small", b"\x07\x01" + r)


if __name__ == "__main__":
    main()
