#!/usr/bin/env python3
"""rwkv-cli serve: the OpenAI API, the state cache, load and faults.

Every server binds 127.0.0.1 on a port it picks itself (--port 0, read from
its stderr) and is stopped by the test that started it; every wait is
bounded. Uses the bundled byte-level model (fast). Checks:
  - OpenAI's official Node client (npm `openai`, installed into the build
    tree by the server_npm fixture): models.list, chat and completions with
    and without streaming; streamed text == non-streamed text; a seeded
    completion == `rwkv-cli generate --no-display-prompt`;
  - the state cache: turn N's cached_tokens is the whole history, the
    tokens fed per turn stay flat, and every reply equals the one a server
    without a cache gives (a cached start is bit for bit an uncached one);
  - load: 16 concurrent streaming clients x 5 turns, each reply complete and
    equal to the reply a lone client gets with the same seed; RSS bounded;
  - faults: malformed/mistyped/out-of-range bodies (400 naming the field),
    oversized body (413), API key (401), full queue (503 + Retry-After),
    a half-sent request (dropped after --timeout), a client gone mid-stream
    (its slot freed), SIGTERM during a stream (the stream ends, exit 0, the
    cache is written), a restart with --state-dir (the cache comes back);
  - the G1 thinking mode's fields;
  - the chat page (GET /) in headless Chromium: a message sent, the reply
    streamed into the page, a screenshot (build/test_server/chat_page.png).
Prints PASS/FAIL lines and "N passed, M failed"; exit 1 on any failure.

    test_server.py --cli build/rwkv-cli --model models/rwkv7-kjv-byte.gguf \
        --npm build/test_server/npm --work build/test_server
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import harness
from harness import check

ARGS = None
SANITIZED = False


class Server:
    """rwkv-cli serve on 127.0.0.1 and a free port; stop() ends it."""

    def __init__(self, *extra, start_timeout=30):
        cmd = [ARGS.cli, "serve", "-m", ARGS.model, "--port", "0", "-t", "1"] + list(extra)
        self.p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.log = []
        self.port = None
        ready = threading.Event()

        def drain():
            for raw in self.p.stderr:
                line = raw.decode("utf-8", "replace").rstrip()
                self.log.append(line)
                m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
                if m:
                    self.port = int(m.group(1))
                    ready.set()
            ready.set()

        self.reader = threading.Thread(target=drain, daemon=True)
        self.reader.start()
        if not ready.wait(start_timeout) or self.port is None:
            self.stop(signal.SIGKILL)
            raise RuntimeError("server did not start: " + "\n".join(self.log))

    def conn(self, timeout=30):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Send sig, wait; SIGKILL after timeout. Returns the exit code (None if it had to be killed)."""
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
                return None
        self.reader.join(5)
        return self.p.returncode


def request(srv, method, path, body=None, headers=None, timeout=60):
    """(status, headers dict, parsed JSON or text)."""
    c = srv.conn(timeout)
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    raw = r.read()
    c.close()
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = raw.decode("utf-8", "replace")
    return r.status, dict(r.getheaders()), parsed


def stream(srv, path, body, timeout=60):
    """Yield each SSE event's data (parsed JSON, or the string '[DONE]')."""
    c = srv.conn(timeout)
    c.request("POST", path, body=json.dumps(dict(body, stream=True)).encode(),
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    if r.status != 200:
        raise RuntimeError(f"stream: HTTP {r.status}: {r.read()[:300]!r}")
    try:
        for line in r:
            line = line.decode().rstrip("\r\n")
            if line.startswith("data: "):
                d = line[6:]
                yield d if d == "[DONE]" else json.loads(d)
    finally:
        c.close()


def chat_stream(srv, body):
    """The streamed chat reply: (content, reasoning, finish_reason, usage, saw [DONE])."""
    content, reasoning, finish, usage, done = "", "", None, None, False
    for ev in stream(srv, "/v1/chat/completions", dict(body, stream_options={"include_usage": True})):
        if ev == "[DONE]":
            done = True
            continue
        if ev.get("usage"):
            usage = ev["usage"]
        for ch in ev["choices"]:
            content += ch["delta"].get("content") or ""
            reasoning += ch["delta"].get("reasoning_content") or ""
            finish = ch["finish_reason"] or finish
    return content, reasoning, finish, usage, done


def chat(srv, body):
    st, _, r = request(srv, "POST", "/v1/chat/completions", body)
    if st != 200:
        raise RuntimeError(f"chat: HTTP {st}: {r}")
    return r


def metrics(srv):
    _, _, text = request(srv, "GET", "/metrics")
    return {l.split(" ")[0]: float(l.split(" ")[1]) for l in text.splitlines() if l and not l.startswith("#")}


def wait_for(fn, timeout):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if fn():
            return True
        time.sleep(0.05)
    return False


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for l in f:
            if l.startswith("VmRSS:"):
                return int(l.split()[1])
    return 0


# ---------------------------------------------------------------------------

def test_openai_node_client():
    node_modules = os.path.join(ARGS.npm, "node_modules")
    if not os.path.isdir(os.path.join(node_modules, "openai")):
        if harness.in_ci():
            return check("openai node client installed", False, node_modules + " missing under CI")
        print(f"SKIP openai node client: {node_modules}/openai missing (the server_npm fixture could not install it)")
        return
    srv = Server("--slots", "2")
    try:
        p = subprocess.run(["node", os.path.join(ARGS.src, "tests", "server", "openai_client.mjs"),
                            f"http://127.0.0.1:{srv.port}/v1", node_modules],
                           capture_output=True, timeout=60)
        if not check("node client runs", p.returncode == 0, p.stderr.decode()[-800:]):
            return
        out = json.loads(p.stdout)
        check("models.list", out["models"] == ["rwkv7-kjv-byte"], out["models"])
        check("chat: non-empty reply, length", len(out["chat"]["text"]) > 0 and out["chat"]["finish"] == "length",
              out["chat"])
        check("chat: streamed text == non-streamed text", out["chat_stream"]["text"] == out["chat"]["text"],
              (out["chat_stream"]["text"], out["chat"]["text"]))
        check("chat: stream usage == non-stream usage (2nd is cached)",
              out["chat_stream"]["usage"]["completion_tokens"] == out["chat"]["usage"]["completion_tokens"]
              and out["chat_stream"]["usage"]["prompt_tokens"] == out["chat"]["usage"]["prompt_tokens"], out)
        check("completion: streamed text == non-streamed", out["completion_stream"]["text"] == out["completion"]["text"],
              (out["completion_stream"]["text"], out["completion"]["text"]))
        g = subprocess.run([ARGS.cli, "generate", "-m", ARGS.model, "--no-display-prompt", "-q", "-t", "1",
                            "-n", "40", "--seed", "5", "--temp", "0.8", "--top-p", "0.7",
                            "--presence-penalty", "0.1", "--frequency-penalty", "0.3", "In the beginning God"],
                           capture_output=True, timeout=60)
        check("seeded completion == rwkv-cli generate", g.stdout.decode() == out["completion"]["text"],
              (g.stdout, out["completion"]["text"]))
        check("client sees the 400 with its field",
              out["error"] and out["error"]["status"] == 400 and out["error"]["param"] == "messages", out["error"])
    finally:
        check("node-client server exits 0 on SIGTERM", srv.stop() == 0, srv.log[-5:])


def conversation(srv, seed, turns, max_tokens, streaming, record=None):
    """A chat of `turns` turns; returns [(content, usage)] (streaming or not)."""
    msgs = [{"role": "system", "content": "You are a scribe of the kings."}]
    out = []
    for t in range(turns):
        msgs.append({"role": "user", "content": f"Client {seed} asks, turn {t}: who reigned after Saul?"})
        body = {"messages": msgs, "max_tokens": max_tokens, "seed": seed * 100 + t, "temperature": 1.0}
        if streaming:
            content, _, finish, usage, done = chat_stream(srv, body)
            if not done or finish is None:
                raise RuntimeError(f"client {seed} turn {t}: incomplete stream (done={done}, finish={finish})")
        else:
            r = chat(srv, body)
            content, usage = r["choices"][0]["message"]["content"], r["usage"]
        out.append((content, usage))
        msgs.append({"role": "assistant", "content": content})
    return out


def test_cache_and_load(tmp):
    n_clients, turns, max_tokens = 16, 5, 24
    # the reference: one client at a time, no cache at all
    ref_srv = Server("--slots", "1", "--state-cache-mb", "0")
    try:
        ref = {i: conversation(ref_srv, i, turns, max_tokens, streaming=False) for i in range(n_clients)}
    finally:
        ref_srv.stop()

    cache_mb = 16
    srv = Server("--slots", "4", "--max-queue", "32", "--state-cache-mb", str(cache_mb))
    try:
        # one conversation alone first: the cache's figures per turn
        alone = conversation(srv, 0, turns, max_tokens, streaming=True)
        check("cached conversation == uncached reference", [c for c, _ in alone] == [c for c, _ in ref[0]],
              list(zip([c for c, _ in alone], [c for c, _ in ref[0]])))
        fed = [u["prompt_tokens"] - u["prompt_tokens_details"]["cached_tokens"] for _, u in alone]
        cached = [u["prompt_tokens_details"]["cached_tokens"] for _, u in alone]
        prev_total = [0] + [u["total_tokens"] for _, u in alone[:-1]]
        # turn t's cache covers the whole of turn t-1 (prompt + reply + the closing "\n\n")
        check("turn >= 2 starts from the previous turn's end", all(c >= p for c, p in zip(cached[1:], prev_total[1:])),
              (cached, prev_total))
        check("tokens fed per turn stay flat", max(fed[1:]) <= fed[0], fed)
        print(f"  cache: prompt tokens fed per turn {fed}, cached {cached}")

        # 16 concurrent streaming clients x 5 turns
        got, errors, peak = {}, [], [0]
        stop_sampling = threading.Event()

        def client(i):
            try:
                got[i] = conversation(srv, i, turns, max_tokens, streaming=True)
            except Exception as e:  # noqa: BLE001 (reported below)
                errors.append(f"client {i}: {e}")

        def sample_rss():
            while not stop_sampling.is_set():
                peak[0] = max(peak[0], rss_kb(srv.p.pid))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample_rss, daemon=True)
        sampler.start()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(n_clients)]
        t0 = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        stop_sampling.set()
        sampler.join(2)
        check("load: every client finished, no error", not errors and len(got) == n_clients and
              not any(t.is_alive() for t in threads), errors[:3])
        mism = [(i, t) for i in got for t in range(turns) if got[i][t][0] != ref[i][t][0]]
        check(f"load: all {n_clients * turns} replies == the lone client's, bit for bit", not mism and got,
              [(i, t, got[i][t][0], ref[i][t][0]) for i, t in mism[:2]])
        model_mb = os.path.getsize(ARGS.model) / 2**20
        bound_mb = model_mb + cache_mb + 160
        print(f"  load: {n_clients}x{turns} turns in {time.time() - t0:.2f} s, peak RSS {peak[0] / 1024:.1f} MB "
              f"(bound {bound_mb:.0f} MB = model {model_mb:.1f} + cache {cache_mb} + 160)")
        if SANITIZED:  # ASan's shadow memory and quarantine are not the server's
            print("  load: RSS not checked (sanitized build)")
        else:
            check("load: RSS within model + cache budget + 160 MB", 0 < peak[0] / 1024 < bound_mb, peak[0])
        wait_for(lambda: metrics(srv)["rwkv_slots_busy"] == 0, 20)  # the last replies' warmings
        m = metrics(srv)
        check("metrics: cache hits, tokens, TTFT, no busy slot",
              m["rwkv_state_cache_hits_total"] > 0 and m["rwkv_generated_tokens_total"] > 0 and
              m["rwkv_time_to_first_token_seconds_count"] >= n_clients * turns and m["rwkv_slots_busy"] == 0 and
              m["rwkv_state_cache_bytes"] <= cache_mb * 2**20, m)
    finally:
        check("load server exits 0", srv.stop() == 0, srv.log[-5:])


def test_bad_requests():
    srv = Server("--max-body-kb", "64", "--timeout", "2")
    try:
        good = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
        cases = [
            ("malformed JSON", b'{"messages": [', 400, ""),
            ("not an object", b"[1, 2]", 400, ""),
            ("invalid UTF-8", b'{"messages": [{"role": "user", "content": "\xff\xfe"}]}', 400, ""),
            ("messages missing", {"max_tokens": 3}, 400, "messages"),
            ("messages not a list", {"messages": "hi"}, 400, "messages"),
            ("messages empty", {"messages": []}, 400, "messages"),
            ("bad role", {"messages": [{"role": "wizard", "content": "x"}]}, 400, "messages[0].role"),
            ("content a number", {"messages": [{"role": "user", "content": 5}]}, 400, "messages[0].content"),
            ("temperature a string", dict(good, temperature="hot"), 400, "temperature"),
            ("top_p out of range", dict(good, top_p=5), 400, "top_p"),
            ("max_tokens 0", dict(good, max_tokens=0), 400, "max_tokens"),
            ("max_tokens 1e12", dict(good, max_tokens=10**12), 400, "max_tokens"),
            ("max_tokens fractional", dict(good, max_tokens=2.5), 400, "max_tokens"),
            ("seed a string", dict(good, seed="x"), 400, "seed"),
            ("stop a number", dict(good, stop=3), 400, "stop"),
            ("n = 2", dict(good, n=2), 400, "n"),
            ("reasoning_effort bogus", dict(good, reasoning_effort="max"), 400, "reasoning_effort"),
            ("logit_bias bad token", dict(good, logit_bias={"70000": 1}), 400, "logit_bias"),
            ("logit_bias bad value", dict(good, logit_bias={"5": "x"}), 400, "logit_bias"),
        ]
        for name, body, status, param in cases:
            st, _, r = request(srv, "POST", "/v1/chat/completions", body)
            err = r.get("error", {}) if isinstance(r, dict) else {}
            check(f"400: {name}", st == status and err.get("message") and err.get("type") == "invalid_request_error"
                  and (err.get("param") or "") == param and (not param or param in err["message"]), (st, r))
        st, _, r = request(srv, "POST", "/v1/completions", {"prompt": ["a", "b"]})
        check("400: completion prompt list of two", st == 400 and r["error"]["param"] == "prompt", (st, r))
        st, _, r = request(srv, "POST", "/v1/chat/completions", dict(good, unknown_field={"x": 1}, user="u"))
        check("unknown fields are ignored", st == 200 and r["object"] == "chat.completion", (st, r))
        st, _, r = request(srv, "POST", "/v1/chat/completions", b"x" * (100 << 10))
        check("413: body over --max-body-kb, OpenAI shape", st == 413 and r["error"]["code"] == "body_too_large", (st, r))
        st, _, r = request(srv, "GET", "/v1/nothing")
        check("404 in OpenAI shape", st == 404 and "error" in r, (st, r))

        # a half-sent request is dropped after --timeout 2 and holds nothing
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"messages\"")
        st, _, h = request(srv, "GET", "/health")
        check("half-sent: the server still answers, no slot held", st == 200 and
              wait_for(lambda: request(srv, "GET", "/health")[2]["slots_busy"] == 0, 5), (st, h))
        t0 = time.time()
        try:
            data = s.recv(4096)
        except socket.timeout:
            data = None
        s.close()
        check("half-sent: connection closed after the read timeout", data is not None and time.time() - t0 < 8,
              (data, time.time() - t0))

        # a client gone mid-stream frees its slot
        c = srv.conn()
        c.request("POST", "/v1/completions", body=json.dumps(
            {"prompt": "And", "max_tokens": 4096, "stream": True, "temperature": 0, "logit_bias": {"0": -100}}).encode(),
            headers={"Content-Type": "application/json"})
        r = c.getresponse()
        for _ in range(3):
            r.readline()
        busy = metrics(srv)["rwkv_slots_busy"]
        c.sock.shutdown(socket.SHUT_RDWR)
        c.close()
        freed = wait_for(lambda: metrics(srv)["rwkv_slots_busy"] == 0, 5)
        m = metrics(srv)
        check("disconnect mid-stream: slot freed, job cancelled", busy == 1 and freed and
              m["rwkv_requests_cancelled_total"] >= 1 and m["rwkv_generated_tokens_total"] < 4096 + 100, (busy, m))
        st, _, r = request(srv, "POST", "/v1/chat/completions", good)
        check("later requests unaffected", st == 200 and r["usage"]["completion_tokens"] >= 1, (st, r))
    finally:
        check("bad-request server exits 0", srv.stop() == 0, srv.log[-5:])


def test_api_key_and_queue():
    srv = Server("--api-key", "sekret", "--slots", "1", "--max-queue", "1", "--max-tokens", "100000")
    try:
        body = {"prompt": "x", "max_tokens": 2}
        st, _, r = request(srv, "POST", "/v1/completions", body)
        check("401: missing key", st == 401 and r["error"]["code"] == "invalid_api_key", (st, r))
        st, _, r = request(srv, "POST", "/v1/completions", body, {"Authorization": "Bearer wrong"})
        check("401: wrong key", st == 401 and r["error"]["type"] == "authentication_error", (st, r))
        st, _, r = request(srv, "GET", "/metrics")
        check("401: /metrics needs the key", st == 401, st)
        st, _, r = request(srv, "POST", "/v1/completions", body, {"Authorization": "Bearer sekret"})
        check("200 with the key", st == 200, (st, r))
        st, _, r = request(srv, "GET", "/health")
        check("/health needs no key", st == 200 and r["status"] == "ok", (st, r))

        # slot busy + queue full: the third gets 503 with Retry-After
        auth = {"Content-Type": "application/json", "Authorization": "Bearer sekret"}
        # no end of text (logit_bias), so they hold their slot and queue place
        long = json.dumps({"prompt": "And", "max_tokens": 100000, "stream": True, "temperature": 0, "logit_bias": {"0": -100}}).encode()
        held = []
        key_metrics = lambda: {l.split(" ")[0]: float(l.split(" ")[1]) for l in request(
            srv, "GET", "/metrics", headers={"Authorization": "Bearer sekret"})[2].splitlines() if l[:1] != "#"}
        for want in ("rwkv_slots_busy", "rwkv_queue_length"):  # one in the slot, then one queued
            c = srv.conn()
            c.request("POST", "/v1/completions", body=long, headers=auth)
            held.append(c)
            wait_for(lambda: key_metrics()[want] == 1, 5)
        st, h, r = request(srv, "POST", "/v1/completions", body, {"Authorization": "Bearer sekret"})
        check("503 + Retry-After when the queue is full", st == 503 and h.get("Retry-After") == "1" and
              r["error"]["code"] == "queue_full", (st, h, r))
        for c in held:
            c.sock.shutdown(socket.SHUT_RDWR)
            c.close()
        check("held streams released", wait_for(lambda: request(srv, "GET", "/health")[2]["slots_busy"] == 0, 5))
    finally:
        check("key server exits 0", srv.stop() == 0, srv.log[-5:])


def test_sigterm_and_restart(tmp):
    state_dir = os.path.join(tmp, "states")
    shutil.rmtree(state_dir, ignore_errors=True)
    msgs = [{"role": "user", "content": "Who was the father of David?"}]
    srv = Server("--state-dir", state_dir, "--shutdown-grace", "1", "--max-tokens", "100000")
    try:
        r1 = chat(srv, {"messages": msgs, "max_tokens": 20, "seed": 3})
        reply = r1["choices"][0]["message"]["content"]
        # a long stream (no end of text: logit_bias), then SIGTERM: the stream ends within the grace, exit 0
        events, ended = [], threading.Event()

        def reader():
            try:
                for ev in stream(srv, "/v1/completions", {"prompt": "And", "max_tokens": 100000, "temperature": 0, "logit_bias": {"0": -100}}):
                    events.append(ev)
            except Exception as e:  # noqa: BLE001
                events.append(f"error {e}")
            ended.set()

        th = threading.Thread(target=reader, daemon=True)
        th.start()
        wait_for(lambda: len(events) >= 3, 10)
        t0 = time.time()
        rc = srv.stop(signal.SIGTERM, timeout=15)
        ended.wait(5)
        check("SIGTERM during a stream: exit 0 within the grace + 3 s", rc == 0 and time.time() - t0 < 4,
              (rc, time.time() - t0, srv.log[-4:]))
        check("SIGTERM: the stream ended with a finish_reason and [DONE]",
              ended.is_set() and events and events[-1] == "[DONE]" and
              events[-2]["choices"][0]["finish_reason"] == "cancelled", events[-3:])
        files = os.listdir(state_dir)
        check("SIGTERM: cache written to --state-dir (state + tokens, no temp)",
              any(f.endswith(".state") for f in files) and not any(f.endswith(".tmp") for f in files), files)
    finally:
        srv.stop(signal.SIGKILL)

    # the next turn on a restarted server starts from the saved states
    turn2 = msgs + [{"role": "assistant", "content": reply}, {"role": "user", "content": "And his son?"}]
    srv2 = Server("--state-dir", state_dir, "--state-cache-mb", "0")  # every state straight from the disk
    try:
        r2 = chat(srv2, {"messages": turn2, "max_tokens": 20, "seed": 4})
        cached = r2["usage"]["prompt_tokens_details"]["cached_tokens"]
        check("restart: turn 2 starts from turn 1's end on disk", cached >= r1["usage"]["total_tokens"],
              (cached, r1["usage"]))
        check("restart: states loaded from disk", metrics(srv2).get("rwkv_state_cache_disk_entries", 0) > 0)
    finally:
        srv2.stop()
    ref = Server("--state-cache-mb", "0")
    try:
        r3 = chat(ref, {"messages": turn2, "max_tokens": 20, "seed": 4})
        check("restart: reply == an uncached server's", r3["choices"][0]["message"] == r2["choices"][0]["message"],
              (r3["choices"][0]["message"], r2["choices"][0]["message"]))
    finally:
        ref.stop()
    # a damaged state file is skipped, not loaded
    for f in os.listdir(state_dir):
        if f.endswith(".state"):
            with open(os.path.join(state_dir, f), "r+b") as fh:
                fh.truncate(100)
    srv3 = Server("--state-dir", state_dir)
    try:
        r4 = chat(srv3, {"messages": turn2, "max_tokens": 20, "seed": 4})
        check("truncated state files: dropped, same reply",
              r4["choices"][0]["message"] == r3["choices"][0]["message"] and
              r4["usage"]["prompt_tokens_details"]["cached_tokens"] == 0, r4)
    finally:
        srv3.stop()


def test_think():
    srv = Server()
    try:
        body = {"messages": [{"role": "user", "content": "Count the tribes."}], "max_tokens": 40, "seed": 2,
                "reasoning_effort": "high"}
        r = chat(srv, body)
        msg = r["choices"][0]["message"]
        content, reasoning, finish, usage, done = chat_stream(srv, body)
        check("think: reasoning_content returned; stream == non-stream",
              isinstance(msg.get("reasoning_content"), str) and (msg["reasoning_content"] + msg["content"]) and
              reasoning == msg["reasoning_content"] and content == msg["content"], (msg, reasoning, content))
        r0 = chat(srv, dict(body, reasoning_effort=None))
        check("no think: no reasoning_content", "reasoning_content" not in r0["choices"][0]["message"], r0)
    finally:
        srv.stop()


def test_world_vocab():
    """The world tokenizer re-tokenizes a reply in the next turn's prompt: turn 2 still starts from turn 1's end."""
    model = os.path.join(ARGS.shared, "llamacpp-gguf", "v7-L2-D64-s9-llamacpp-f16.gguf")
    if not os.path.exists(model):
        if harness.in_ci():
            return check("world-vocabulary model present", False, model)
        print(f"SKIP world vocabulary: {model} missing")
        return
    srv = Server("-m", model)
    ref = Server("-m", model, "--state-cache-mb", "0")
    try:
        msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there!"}]
        for t in range(3):
            body = {"messages": msgs, "max_tokens": 12, "seed": t, "stop": ["."]}
            r = chat(srv, body)
            if t > 0:
                check(f"world vocab turn {t + 1}: starts from the end of turn {t}",
                      r["usage"]["prompt_tokens_details"]["cached_tokens"] >= prev["usage"]["total_tokens"],
                      (r["usage"], prev["usage"]))
                check(f"world vocab turn {t + 1}: reply == uncached server's",
                      r["choices"][0]["message"] == chat(ref, body)["choices"][0]["message"], r)
            prev = r
            msgs = msgs + [{"role": "assistant", "content": r["choices"][0]["message"]["content"]},
                           {"role": "user", "content": f"And turn {t + 2}?"}]
    finally:
        srv.stop()
        ref.stop()


def test_chat_page(tmp):
    """GET / in headless Chromium: /?q= sends a message, the reply streams into the page; a screenshot."""
    chromium = shutil.which("chromium")
    if SANITIZED:  # a sanitized server is too slow for the page's time budget; the page is not what is checked there
        print("SKIP chat page: sanitized build")
        return
    if not chromium:
        if harness.in_ci():
            return check("chromium installed", False, "chromium not found")
        print("SKIP chat page: chromium not found (scripts/setup.sh installs it)")
        return
    srv = Server()
    try:
        st, h, page = request(srv, "GET", "/")
        check("GET / serves the chat page, no external assets",
              st == 200 and h.get("Content-Type", "").startswith("text/html") and "<script>" in page and
              not re.search(r"(src|href)=\"?(https?:)?//", page), (st, page[:200]))
        url = f"http://127.0.0.1:{srv.port}/?q=Who%20made%20the%20heaven%20and%20the%20earth%3F"
        base = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                f"--user-data-dir={tmp}/chromium", "--window-size=900,640", "--virtual-time-budget=60000"]
        p = subprocess.run(base + ["--dump-dom", url], capture_output=True, timeout=90)
        dom = p.stdout.decode("utf-8", "replace")
        m = re.search(r'<div class="msg assistant"><div class="reasoning"></div><div>([^<]*)</div>', dom)
        check("chat page: the question shown, the reply streamed in",
              "Who made the heaven and the earth?" in dom and m and len(m.group(1).strip()) > 0, dom[-600:])
        shot = os.path.join(tmp, "chat_page.png")
        if os.path.exists(shot):
            os.remove(shot)
        subprocess.run(base + [f"--screenshot={shot}", url], capture_output=True, timeout=90)
        with open(shot, "rb") as f:
            head = f.read(8)
        check("chat page: screenshot written", head == b"\x89PNG\r\n\x1a\n" and os.path.getsize(shot) > 5000,
              (head, shot))
        check("chat page: two chats served", metrics(srv)["rwkv_requests_total{endpoint=\"chat\"}"] == 2)
    finally:
        srv.stop()


def main():
    global ARGS
    here = os.path.dirname(os.path.abspath(__file__))
    ARGS = harness.arguments(__doc__, required=("cli", "model", "npm", "work"),
                             optional={"shared": os.path.join(here, "..", "..", "shared", "data"),
                                       "src": os.path.join(here, "..")})
    global SANITIZED
    with open(ARGS.cli, "rb") as f:
        blob = f.read()
    SANITIZED = b"__asan_init" in blob or b"__tsan_init" in blob
    for name, fn in [("openai node client", test_openai_node_client),
                     ("cache and load", lambda: test_cache_and_load(ARGS.work)),
                     ("bad requests", test_bad_requests),
                     ("api key and queue", test_api_key_and_queue),
                     ("sigterm and restart", lambda: test_sigterm_and_restart(ARGS.work)),
                     ("think", test_think),
                     ("world vocabulary", test_world_vocab),
                     ("chat page", lambda: test_chat_page(ARGS.work))]:
        t1 = time.time()
        try:
            fn()
        except Exception as e:  # noqa: BLE001 (a crash in one group is a failure, the others still run)
            check(f"{name}: ran", False, repr(e))
        print(f"  [{name}: {time.time() - t1:.1f} s]", flush=True)
    harness.finish()


if __name__ == "__main__":
    main()
