#!/usr/bin/env python3
"""A 20-turn conversation against rwkv-cli serve: prefill tokens and time per turn.

    scripts/bench_server.py [--cli build/rwkv-cli] [-m MODEL] [--turns 20]
        [--words 40] [--max-tokens 32] [--no-cache] [--url http://127.0.0.1:PORT]

Starts `rwkv-cli serve` on 127.0.0.1 and a free port (or uses --url: any
OpenAI-compatible server, e.g. llama-server on the same GGUF file, for the
comparison), then sends a chat whose every user message has the same length
and whose history grows turn by turn. Per turn it prints the prompt tokens,
the tokens the server took from its cache (usage.prompt_tokens_details.
cached_tokens), the tokens it had to process, the time to the first streamed
token and the turn's total time. With the state cache the processed tokens
and the time to first token stay flat; --no-cache (--state-cache-mb 0) shows
what re-reading the history costs. Sampling is seeded: both runs see the same
conversation.
"""
import argparse
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))

WORDS = ("in the beginning god created the heaven and the earth and the earth was without form and void and "
         "darkness was upon the face of the deep and the spirit of god moved upon the face of the waters").split()


def start_server(args):
    cmd = [args.cli, "serve", "--port", "0", "--slots", "1", "-t", str(args.threads)]
    if args.model:
        cmd += ["-m", args.model]
    if args.no_cache:
        cmd += ["--state-cache-mb", "0"]
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t0 = time.time()
    while time.time() - t0 < 120:
        line = p.stderr.readline().decode("utf-8", "replace")
        if not line:
            break
        m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        if m:
            threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()
            return p, m.group(1)
    p.kill()
    sys.exit("bench_server: the server did not start")


def turn(url, messages, seed, max_tokens):
    """Stream one chat turn: (content, usage, seconds to first token, total seconds)."""
    u = urllib.parse.urlparse(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    body = {"messages": messages, "max_tokens": max_tokens, "seed": seed, "stream": True,
            "stream_options": {"include_usage": True}}
    t0 = time.time()
    c.request("POST", "/v1/chat/completions", json.dumps(body).encode(), {"Content-Type": "application/json"})
    r = c.getresponse()
    if r.status != 200:
        sys.exit(f"bench_server: HTTP {r.status}: {r.read()[:300]!r}")
    content, usage, ttft = "", None, None
    for line in r:
        line = line.decode().strip()
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        ev = json.loads(line[6:])
        if ev.get("usage"):
            usage = ev["usage"]
        for ch in ev.get("choices", []):
            piece = (ch.get("delta") or {}).get("content") or ""
            if piece and ttft is None:
                ttft = time.time() - t0
            content += piece
    c.close()
    return content, usage, ttft if ttft is not None else time.time() - t0, time.time() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cli", default=os.path.join(HERE, "..", "build", "rwkv-cli"))
    ap.add_argument("-m", "--model", default="", help="GGUF file (default: the bundled model)")
    ap.add_argument("--url", default="", help="an already running server instead of starting rwkv-cli serve")
    ap.add_argument("--turns", type=int, default=20)
    ap.add_argument("--words", type=int, default=40, help="words per user message")
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("-t", "--threads", type=int, default=0)
    ap.add_argument("--no-cache", action="store_true", help="run the server with --state-cache-mb 0")
    args = ap.parse_args()

    proc, url = (None, args.url) if args.url else start_server(args)
    try:
        messages = [{"role": "system", "content": "You are a scribe. Answer in one sentence."}]
        print(f"{'turn':>4} {'prompt':>7} {'cached':>7} {'fed':>5} {'ttft_s':>8} {'total_s':>8}")
        rows = []
        for t in range(1, args.turns + 1):
            words = [WORDS[(t * 7 + i) % len(WORDS)] for i in range(args.words)]
            messages.append({"role": "user", "content": " ".join(words)})
            content, usage, ttft, total = turn(url, messages, t, args.max_tokens)
            cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0) if usage else 0
            prompt = usage["prompt_tokens"] if usage else 0
            rows.append((prompt, cached, ttft))
            print(f"{t:>4} {prompt:>7} {cached:>7} {prompt - cached:>5} {ttft:>8.3f} {total:>8.3f}", flush=True)
            messages.append({"role": "assistant", "content": content})
        print(f"time to first token, turn {args.turns} / turn 1: {rows[-1][2] / rows[0][2]:.2f}x")
    finally:
        if proc:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
