// The chat page's WebSocket mode (Tornado's websocket demo): messages arrive and are sent
// over /chatsocket; the page falls back to chat.js's long-polling when WebSocket is not
// available (no WebSocket in this browser, `?transport=poll`, or a first connection
// that never opens, e.g. a proxy that does not pass upgrades). After the connection
// drops (a server restart), it reconnects with back-off; on each join the server sends
// the recent messages and `show` skips those already on the page.
"use strict";

let socket = null;
let socketWorked = false;
let socketDelay = 250;

function setTransport(name) {
  document.body.dataset.transport = name;
}

function connectSocket() {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const ws = new WebSocket(scheme + location.host + "/chatsocket");
  ws.onopen = () => {
    socket = ws;
    socketWorked = true;
    socketDelay = 250;
    setTransport("websocket");
  };
  ws.onmessage = (ev) => show(JSON.parse(ev.data).messages, true);
  ws.onclose = () => {
    if (socket === ws) socket = null;
    if (!socketWorked) {
      setTransport("poll");
      poll();
      return;
    }
    setTransport("reconnecting");
    setTimeout(connectSocket, socketDelay);
    socketDelay = Math.min(socketDelay * 2, 5000);
  };
}

// Sends over the socket when it is open; false tells the caller to POST instead.
function sendOverSocket(body) {
  if (!socket || socket.readyState !== WebSocket.OPEN) return false;
  socket.send(JSON.stringify({ body: body }));
  return true;
}

function startChat() {
  const forcePoll = new URLSearchParams(location.search).get("transport") === "poll";
  if (forcePoll || !("WebSocket" in window)) {
    setTransport("poll");
    poll();
  } else {
    connectSocket();
  }
}
