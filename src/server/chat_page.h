// chat_page.h - GET /: one static page to chat with the model. No build step,
// no external assets: the script posts the conversation to
// /v1/chat/completions with "stream": true and reads the server-sent events.
// /?q=TEXT sends TEXT on load.
#pragma once

static const char CHAT_PAGE_HTML[] = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rwkv-cli chat</title>
<style>
  body { font: 15px/1.45 system-ui, sans-serif; margin: 0; background: #f4f4f1; color: #222; }
  header { padding: 10px 16px; background: #2d3b36; color: #fff; display: flex; gap: 12px; align-items: center; }
  header h1 { font-size: 16px; margin: 0; flex: 1; }
  header input[type=password] { width: 12em; }
  #log { max-width: 820px; margin: 0 auto; padding: 16px; }
  .msg { margin: 10px 0; padding: 10px 12px; border-radius: 8px; white-space: pre-wrap; }
  .user { background: #dbe9e3; margin-left: 15%; }
  .assistant { background: #fff; margin-right: 15%; border: 1px solid #ddd; }
  .reasoning { color: #777; font-style: italic; font-size: 13px; }
  .meta { color: #888; font-size: 12px; margin-top: 4px; }
  form { max-width: 820px; margin: 0 auto; padding: 0 16px 16px; display: flex; gap: 8px; }
  textarea { flex: 1; font: inherit; padding: 8px; min-height: 3em; }
  button { font: inherit; padding: 0 18px; }
</style>
</head>
<body>
<header>
  <h1>rwkv-cli chat <span id="model"></span></h1>
  <label><input type="checkbox" id="think"> think</label>
  <input id="key" type="password" placeholder="API key (if set)">
  <button id="reset" type="button">New chat</button>
</header>
<div id="log"></div>
<form id="form">
  <textarea id="input" placeholder="Message (Enter sends, Shift+Enter: new line)"></textarea>
  <button id="send">Send</button>
</form>
<script>
"use strict";
const log = document.getElementById("log"), input = document.getElementById("input");
let messages = [];
let busy = false;

function headers() {
  const h = { "Content-Type": "application/json" };
  const k = document.getElementById("key").value;
  if (k) h["Authorization"] = "Bearer " + k;
  return h;
}

function bubble(role, text) {
  const d = document.createElement("div");
  d.className = "msg " + role;
  const r = document.createElement("div"); r.className = "reasoning";
  const c = document.createElement("div"); c.textContent = text;
  const m = document.createElement("div"); m.className = "meta";
  d.append(r, c, m);
  log.append(d);
  d.scrollIntoView();
  return { r, c, m };
}

async function send(text) {
  busy = true;
  messages.push({ role: "user", content: text });
  bubble("user", text);
  const out = bubble("assistant", "");
  const body = { messages, stream: true, stream_options: { include_usage: true }, max_tokens: 500 };
  if (document.getElementById("think").checked) body.think = true;
  let content = "", reasoning = "";
  try {
    const res = await fetch("/v1/chat/completions", { method: "POST", headers: headers(), body: JSON.stringify(body) });
    if (!res.ok) {
      const e = await res.json().catch(() => ({}));
      throw new Error((e.error && e.error.message) || res.statusText);
    }
    const reader = res.body.getReader(), dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const line = buf.slice(0, i); buf = buf.slice(i + 2);
        if (!line.startsWith("data: ")) continue;
        const data = line.slice(6);
        if (data === "[DONE]") continue;
        const ev = JSON.parse(data);
        if (ev.error) throw new Error(ev.error.message);
        if (ev.usage) {
          const u = ev.usage;
          out.m.textContent = u.prompt_tokens + " prompt tokens (" + u.prompt_tokens_details.cached_tokens +
                              " cached), " + u.completion_tokens + " generated";
        }
        const d = ev.choices && ev.choices[0] && ev.choices[0].delta;
        if (!d) continue;
        if (d.reasoning_content) { reasoning += d.reasoning_content; out.r.textContent = reasoning; }
        if (d.content) { content += d.content; out.c.textContent = content; }
      }
    }
    messages.push({ role: "assistant", content });
  } catch (e) {
    out.m.textContent = "error: " + e.message;
    messages.pop();
  }
  busy = false;
}

document.getElementById("form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = input.value.trim();
  if (!text || busy) return;
  input.value = "";
  send(text);
});
input.addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); document.getElementById("send").click(); }
});
document.getElementById("reset").addEventListener("click", () => { messages = []; log.textContent = ""; });
// /?q=TEXT sends TEXT at once (a link that opens a chat with a question)
const q = new URLSearchParams(location.search).get("q");
if (q) send(q);
fetch("/v1/models", { headers: headers() }).then(r => r.json()).then(j => {
  document.getElementById("model").textContent = "(" + j.data[0].id + ")";
}).catch(() => {});
</script>
</body>
</html>
)HTML";
