// The chat page: posts messages and long-polls for new ones (Tornado's demo, without
// jQuery). Messages arrive as JSON; their `html` is escaped by the server.
"use strict";

let cursor = null;
let errorSleep = 500;

function show(messages, advance) {
  const inbox = document.getElementById("inbox");
  for (const m of messages) {
    if (advance) cursor = m.id;
    if (document.getElementById("m" + m.id)) continue;
    inbox.insertAdjacentHTML("beforeend", m.html);
  }
}

async function poll() {
  for (;;) {
    const form = new URLSearchParams();
    if (cursor) form.set("cursor", cursor);
    try {
      const resp = await fetch("/a/message/updates", { method: "POST", body: form });
      if (!resp.ok) throw new Error("status " + resp.status);
      show((await resp.json()).messages, true);
      errorSleep = 500;
    } catch (e) {
      errorSleep = Math.min(errorSleep * 2, 30000);
      await new Promise((r) => setTimeout(r, errorSleep));
    }
  }
}

document.getElementById("messageform").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const input = document.getElementById("message");
  const form = new URLSearchParams({ body: input.value });
  const resp = await fetch("/a/message/new", { method: "POST", body: form });
  if (resp.ok) {
    show([await resp.json()], false);
    input.value = "";
  }
});

poll();
