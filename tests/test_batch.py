#!/usr/bin/env python3
"""rwkv-cli batch end to end, on the bundled model (models/rwkv7-kjv-byte.gguf).

Each request's result against the single-sequence commands (generate's text
for several seeds and options, perplexity's scores), the same bytes for any
-b, thread count and shard split (also under GNU parallel as 3 processes;
merged with paste or scripts/batch_merge.py), input order and --unordered, error records for
malformed lines, --resume after a truncated write and after SIGINT, and a
closed stdout. Prints PASS/FAIL lines and "N passed, M failed"; about 30 s.

    test_batch.py --cli build/rwkv-cli --work DIR
"""
import json
import os
import pty
import re
import shutil
import signal
import subprocess
import sys
import time

import harness
from harness import check, run_cli as run

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "..", "models", "rwkv7-kjv-byte.gguf")
CLI = None

PROMPTS = ["And God said", "In the beginning", "Jesus wept.", "The LORD is my shepherd",
           "And it came to pass", "Blessed are", "\n", "For God so loved the world"]


def batch(args, stdin=b"", timeout=120):
    return run(["batch", "-m", MODEL, "-q"] + args, stdin, timeout)


def jsonl(reqs):
    return "".join(json.dumps(r) + "\n" for r in reqs).encode()


def records(out):
    return [json.loads(l) for l in out.decode().splitlines()]


def mixed_requests(n=24):
    """Generation and scoring requests of different lengths, so that they finish out of input order."""
    reqs = []
    for i in range(n):
        p = PROMPTS[i % len(PROMPTS)]
        if i % 5 == 3:
            reqs.append({"id": f"s{i}", "prompt": p * (1 + i % 3), "mode": "score" if i % 2 else "logprobs"})
        else:
            reqs.append({"id": i, "prompt": p, "n_predict": [60, 5, 25, 1, 40][i % 5], "seed": i,
                         "temp": [1.0, 0.0, 0.7][i % 3], "top_k": [0, 20][i % 2]})
    return reqs


def ordering_and_determinism(work):
    reqs = mixed_requests()
    inp = jsonl(reqs)
    rc, ref, err = batch(["-b", "8"], inp)
    recs = records(ref)
    check("24 mixed requests: exit 0, one record each, in input order",
          rc == 0 and [r["id"] for r in recs] == [q["id"] for q in reqs], f"rc={rc} err={err}")
    gen_ok = all(set(r) == {"id", "text", "n_prompt", "n_gen", "finish_reason"} and r["finish_reason"] in ("stop", "length")
                 for r, q in zip(recs, reqs) if "mode" not in q)
    score_ok = all(set(r) == {"id", "logprobs", "sum_logprob"} and len(r["logprobs"]) == len(q["prompt"]) - 1
                   for r, q in zip(recs, reqs) if "mode" in q)
    check("records have the documented fields (scoring: one logprob per byte after the first)", gen_ok and score_ok,
          ref[:500])
    check("n_gen = n_predict when finish_reason is length",
          all(r["n_gen"] == q["n_predict"] for r, q in zip(recs, reqs) if r.get("finish_reason") == "length"))
    for b, t in ((1, 1), (3, 2), (8, 1), (32, 2)):
        rc, out, err = batch(["-b", str(b), "-t", str(t)], inp)
        check(f"-b {b} -t {t}: byte-identical to -b 8 -t default", rc == 0 and out == ref, f"rc={rc} err={err}")
    rc, out, err = batch(["-b", "8", "--unordered"], inp)
    check("--unordered: the same records as a set", rc == 0 and sorted(out.splitlines()) == sorted(ref.splitlines()),
          err)
    check("--unordered: written in completion order (differs from input order here)",
          out.splitlines() != ref.splitlines())
    path = os.path.join(work, "in.jsonl")
    with open(path, "wb") as f:
        f.write(inp)
    rc, out, err = batch(["-f", path, "-o", os.path.join(work, "o.jsonl")])
    with open(os.path.join(work, "o.jsonl"), "rb") as f:
        check("-f FILE -o FILE: the same bytes as stdin to stdout", rc == 0 and out == b"" and f.read() == ref, err)
    return inp, ref


def against_generate():
    cases = [
        {"prompt": "And God said", "n_predict": 50, "seed": 1},
        {"prompt": "And God said", "n_predict": 50, "seed": 2, "temp": 0.8, "top_p": 0.5},
        {"prompt": "In the beginning", "n_predict": 40, "seed": 7, "top_k": 5, "presence_penalty": 0.5,
         "frequency_penalty": 0.1, "penalty_decay": 0.9},
        {"prompt": "Blessed are the", "n_predict": 30, "temp": 0},
        {"prompt": "", "n_predict": 20, "seed": 9},
        {"prompt": "The LORD", "n_predict": 0},
    ]
    flag = {"n_predict": "-n", "seed": "--seed", "temp": "--temp", "top_p": "--top-p", "top_k": "--top-k",
            "presence_penalty": "--presence-penalty", "frequency_penalty": "--frequency-penalty",
            "penalty_decay": "--penalty-decay"}
    # a stop string the greedy text really contains: the text ends before it
    rc, greedy, _ = run(["generate", "-m", MODEL, "-q", "--no-display-prompt", "--temp", "0", "-n", "60", "And the"])
    stop = greedy.decode()[20:24]
    cases.append({"prompt": "And the", "n_predict": 60, "temp": 0, "stop": ["zzzz", stop]})
    reqs = [dict(c, id=i) for i, c in enumerate(cases)]
    rc, out, err = batch(["-b", "4"], jsonl(reqs))
    recs = records(out) if rc == 0 else []
    for q, r in zip(reqs, recs):
        args = ["generate", "-m", MODEL, "-q", "--no-display-prompt"]
        for k, v in q.items():
            if k in flag:
                args += [flag[k], str(v)]
        if "stop" in q:
            args += ["--stop", stop]
        args += ["--", q["prompt"]]
        grc, gout, gerr = run(args)
        check(f"batch text == generate text: {json.dumps({k: v for k, v in q.items() if k != 'id'})}",
              grc == 0 and r["text"].encode() == gout, f"batch {r['text']!r} generate {gout!r} {gerr}")
    r = recs[-1] if recs else {}
    check(f"stop string {stop!r}: finish_reason stop, text = greedy text before it",
          r.get("finish_reason") == "stop" and r.get("text") == greedy.decode()[:20] and r.get("n_gen", 99) < 60, r)
    check("n_predict 0: empty text, length", recs and recs[5]["text"] == "" and recs[5]["finish_reason"] == "length")


def against_perplexity(work):
    # long enough for several scoring passes; -b 1 and -b 4 give the same bytes
    text = "".join(PROMPTS * 60)
    path = os.path.join(work, "ppl.txt")
    with open(path, "w") as f:
        f.write(text)
    rc, out, err = run(["perplexity", "-m", MODEL, "-q", "-f", path])
    kv = dict(l.split(": ", 1) for l in out.decode().splitlines())
    reqs = [{"id": "long", "prompt": text, "mode": "score"}, {"id": "short", "prompt": "ab", "mode": "logprobs"},
            {"id": "one", "prompt": "a", "mode": "score"}]
    rc1, o1, _ = batch(["-b", "1"], jsonl(reqs))
    rc4, o4, _ = batch(["-b", "4", "-t", "1"], jsonl(reqs))
    recs = records(o1)
    long_ = recs[0]
    n = len(long_["logprobs"])
    nll = -long_["sum_logprob"] / n
    check(f"score: {n} logprobs = perplexity's tokens scored ({kv.get('tokens scored')}), first token unscored",
          n == int(kv["tokens scored"]) == len(text) - 1)
    check(f"score: -sum_logprob / n = perplexity's nll per token ({nll:.6f} vs {kv.get('nll per token')})",
          f"{nll:.6f} nats" == kv["nll per token"])
    check("score: sum_logprob is the sum of logprobs, each < 0",
          abs(sum(long_["logprobs"]) - long_["sum_logprob"]) < 1e-9 and max(long_["logprobs"]) < 0)
    check("score: a one-token text has nothing to score ([] and 0)", recs[2]["logprobs"] == [] and recs[2]["sum_logprob"] == 0)
    check("score: -b 1 and -b 4 -t 1 byte-identical", rc1 == rc4 == 0 and o1 == o4)


def bad_input(work):
    lines = [
        b'{"id": "ok1", "prompt": "And", "n_predict": 5}',
        b'',
        b'   ',
        b'{"id": "p", "prompt": 5}',
        b'{"prompt": "x", "temperature": 1}',
        b'{"id": "u", "prompt": "ab\xff\xfecd", "n_predict": 3}',
        b'{"id": "t", "prompt": "unterminated',
        b'not json at all',
        b'[1, 2]',
        b'{"id": {"a": 1}, "prompt": "x"}',
        b'{"id": "n", "prompt": "x", "n_predict": -1}',
        b'{"id": "n2", "prompt": "x", "n_predict": 2.5}',
        b'{"id": "tp", "prompt": "x", "top_p": 1.5}',
        b'{"id": "tk", "prompt": "x", "top_k": 4294967296}',
        b'{"id": "sd", "prompt": "x", "seed": -1}',
        b'{"id": "st", "prompt": "x", "stop": [1]}',
        b'{"id": "m", "prompt": "x", "mode": "embed"}',
        b'{"id": "ms", "prompt": "x", "mode": "score", "n_predict": 3}',
        b'{"id": "np"}',
        b'{"id": "ok1", "prompt": "again"}',
        b'{"id": null, "prompt": "And", "n_predict": 2}',
        b'{"id": 1.5, "prompt": "And", "n_predict": 2}\r',
        b'{"id": "ok2", "prompt": "And", "n_predict": 5}',
        b'{"id": false, "prompt": "And", "stop": [], "n_predict": 1}',
    ]
    want = {  # line -> (id, fragments of the message)
        4: ("p", ['"prompt"', "expected a string"]),
        5: (5, ['"temperature"', "unknown field"]),
        6: ("u", ['"prompt"', "UTF-8"]),
        7: ("t", ['"prompt"', "missing closing quote"]),
        8: (8, ["not valid JSON"]),
        9: (9, ["expected a JSON object, got array"]),
        10: (10, ['"id"', "expected a string, number, boolean or null"]),
        11: ("n", ['"n_predict"', "-1"]),
        12: ("n2", ['"n_predict"', "2.5"]),
        13: ("tp", ['"top_p"', "(0, 1]"]),
        14: ("tk", ['"top_k"', "4294967296"]),
        15: ("sd", ['"seed"', "-1"]),
        16: ("st", ['"stop"', "list of strings"]),
        17: ("m", ['"mode"', "embed"]),
        18: ("ms", ['"n_predict"', "does not apply"]),
        19: ("np", ['missing field "prompt"']),
        20: ("ok1", ['"id"', "line 1"]),
    }
    inpath = os.path.join(work, "bad.jsonl")
    with open(inpath, "wb") as f:
        f.write(b"\n".join(lines) + b"\n")
    rc, out, err = batch(["-b", "3", "-f", inpath])
    recs = records(out)
    check("bad input: exit 1, one record per non-blank line, blank lines skipped, in order",
          rc == 1 and len(recs) == 22 and [r["error"]["line"] for r in recs if "error" in r] == sorted(want),
          f"rc={rc} n={len(recs)} err={err}")
    by_line = {r["error"]["line"]: r for r in recs if "error" in r}
    for line, (rid, frags) in want.items():
        r = by_line.get(line, {})
        msg = r.get("error", {}).get("message", "")
        check(f"line {line}: error record with id {json.dumps(rid)} naming {frags}",
              r.get("id") == rid and all(f in msg for f in frags), r)
    ok = [r for r in recs if "error" not in r]
    check("the valid requests go on: ok1, null id, 1.5 id, ok2, false id (CR before the newline is whitespace)",
          [r["id"] for r in ok] == ["ok1", None, 1.5, "ok2", False] and all(r["n_gen"] > 0 for r in ok), ok)
    check("stderr is quiet (errors are records)", err == "", err)
    for args, frag in ((["--shard", "3/3"], "--shard"), (["--shard", "x"], "--shard"), (["--shard", "-1/2"], "--shard"),
                       (["-b", "0"], "--batch"), (["--temp", "-1"], "--temp"), (["-f", "/nonexistent"], "/nonexistent"),
                       (["--resume", "/"], "--resume /"), (["-f", inpath, "-o", inpath], "is the input file"),
                       (["-f", inpath, "--resume", inpath], "is the input file")):
        rc, out, err = batch(args, b"")
        lines_ = [l for l in err.splitlines() if l.strip()]
        check(f"batch {' '.join(args)}: one error line naming {frag}",
              rc == 1 and len(lines_) == 1 and frag in lines_[0], f"rc={rc} {err!r}")


def resume(work, inp, ref):
    out = os.path.join(work, "resume.jsonl")
    lines = ref.splitlines(keepends=True)
    for cut in (0, len(lines[0]) // 2, len(lines[0]), len(b"".join(lines[:5])) + 7, len(ref) - 1, len(ref)):
        with open(out, "wb") as f:
            f.write(ref[:cut])
        rc, so, err = run(["batch", "-m", MODEL, "--resume", out, "-b", "5"], inp)
        with open(out, "rb") as f:
            got = f.read()
        complete = ref[:cut].count(b"\n")
        check(f"--resume after {cut} bytes ({complete} complete lines): the file ends with every record once",
              rc == 0 and so == b"" and sorted(got.splitlines()) == sorted(ref.splitlines())
              and got.startswith(b"".join(lines[:complete])) and got.endswith(b"\n"), f"rc={rc} err={err}")
        partial = cut != len(b"".join(lines[:complete]))
        check(f"  stderr {'names' if partial else 'has no'} dropped line, reports {complete} skipped",
              ("has no end" in err) == partial and f"{complete} skipped" in err, err)
    # --resume OLD -o NEW: only the new records go to NEW
    old, new = os.path.join(work, "old.jsonl"), os.path.join(work, "new.jsonl")
    with open(old, "wb") as f:
        f.write(b"".join(lines[:10]))
    rc, so, err = batch(["--resume", old, "-o", new], inp)
    with open(old, "rb") as f:
        o = f.read()
    with open(new, "rb") as f:
        n = f.read()
    check("--resume OLD -o NEW: OLD untouched, NEW holds the rest in order",
          rc == 0 and o == b"".join(lines[:10]) and n == b"".join(lines[10:]), err)


def shards(work, inp, ref):
    n = 3
    outs = []
    for k in range(n):
        rc, out, err = batch(["--shard", f"{k}/{n}", "-b", "4"], inp)
        outs.append(out)
    recs = [records(o) for o in outs]
    check("--shard K/3: shard K holds requests K, K+3, ...",
          all([r["id"] for r in recs[k]] == [r["id"] for r in records(ref)[k::n]] for k in range(n)))
    paths = [os.path.join(work, f"shard.{k}.jsonl") for k in range(n)]
    for p, o in zip(paths, outs):
        with open(p, "wb") as f:
            f.write(o)
    merged = subprocess.run(f"paste -d '\\n' {' '.join(paths)} | grep -v '^$'", shell=True, capture_output=True).stdout
    check("3 shards merged with paste -d '\\n' = the single-process output, byte for byte", merged == ref)

    # completion order, one shard cut mid-line and resumed: scripts/batch_merge.py restores input order
    inpath = os.path.join(work, "in.jsonl")
    with open(inpath, "wb") as f:
        f.write(inp)
    for k, p in enumerate(paths):
        batch(["--shard", f"{k}/{n}", "-b", "3", "--unordered", "-o", p], inp)
    with open(paths[1], "rb+") as f:
        f.truncate(len(f.read()) // 2)
    batch(["--shard", f"1/{n}", "--unordered", "--resume", paths[1]], inp)
    merge = [sys.executable, os.path.join(HERE, "..", "scripts", "batch_merge.py"), inpath]
    p = subprocess.run(merge + paths, capture_output=True)
    check("--unordered shards, one resumed after a cut: batch_merge.py gives the single-process bytes",
          p.returncode == 0 and p.stdout == ref, p.stderr)
    p = subprocess.run(merge + paths[:2], capture_output=True)
    check("batch_merge.py without shard 2: exit 1 naming the 8 lines without a record, nothing written",
          p.returncode == 1 and p.stdout == b"" and "no record for 8 input lines: [3, 6, 9" in p.stderr.decode(),
          p.stderr)
    p = subprocess.run(merge + paths + paths[:1], capture_output=True)
    check("batch_merge.py with shard 0 twice: exit 1, names the second records",
          p.returncode == 1 and p.stdout == b"" and "a second record" in p.stderr.decode(), p.stderr)

    if not shutil.which("parallel"):
        check("GNU parallel is installed (Debian parallel; scripts/setup.sh)", os.environ.get("CI") not in ("true", "1"),
              "absent under CI")
        print("*** SKIPPING the GNU parallel run: parallel not installed ***")
        return
    inpath = os.path.join(work, "in.jsonl")
    with open(inpath, "wb") as f:
        f.write(inp)
    pdir = os.path.join(work, "parallel")
    shutil.rmtree(pdir, ignore_errors=True)
    os.makedirs(pdir)
    # the command lines of docs/scale-out.md
    cmd = (f"parallel --will-cite -j 3 {CLI} batch -m {MODEL} -t 1 -q -f {inpath} --shard {{}}/3 "
           f"--resume {pdir}/out.{{}}.jsonl ::: 0 1 2 && "
           f"{sys.executable} {HERE}/../scripts/batch_merge.py {inpath} {pdir}/out.0.jsonl {pdir}/out.1.jsonl "
           f"{pdir}/out.2.jsonl")
    p = subprocess.run(cmd, shell=True, capture_output=True, timeout=120)
    check("GNU parallel, 3 local processes with --shard, merged by batch_merge.py: byte-identical to one process",
          p.returncode == 0 and p.stdout == ref, p.stderr.decode()[-500:])


def signalled_run(out, inp, sig):
    """batch --resume out on inp, sent sig once 5 records are written: (exit status, stderr, out's bytes)."""
    if os.path.exists(out):
        os.remove(out)
    p = subprocess.Popen([CLI, "batch", "-m", MODEL, "-b", "4", "-t", "1", "--resume", out], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(inp)
    p.stdin.close()
    deadline = time.time() + 30
    while time.time() < deadline and (not os.path.exists(out) or open(out, "rb").read().count(b"\n") < 5):
        time.sleep(0.02)
    p.send_signal(sig)
    try:
        rc = p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = None
    err = p.stderr.read().decode()
    with open(out, "rb") as f:
        return rc, err, f.read()


def interrupt(work):
    reqs = [{"id": i, "prompt": PROMPTS[i % len(PROMPTS)], "n_predict": 100 + 23 * (i % 7), "seed": i}
            for i in range(40)]
    inp = jsonl(reqs)
    rc, full, err = batch(["-b", "4", "-t", "1"], inp)
    out = os.path.join(work, "int.jsonl")
    rc, err, got = signalled_run(out, inp, signal.SIGINT)
    lines = got.splitlines()
    full_lines = full.splitlines()
    pos = [full_lines.index(l) if l in full_lines else -1 for l in lines]
    check(f"SIGINT mid-run: exit 130, {len(lines)} of {len(full_lines)} records written, 'interrupted' on stderr",
          rc == 130 and 5 <= len(lines) < len(full_lines) and "interrupted" in err, f"rc={rc} err={err}")
    check("SIGINT: every record written is complete and equals the uninterrupted run's (input order, gaps allowed)",
          got.endswith(b"\n") and -1 not in pos and pos == sorted(set(pos)), pos)
    rc, so, err = batch(["-b", "4", "--resume", out], inp)
    with open(out, "rb") as f:
        got = f.read()
    check("--resume after SIGINT: every record exactly once", rc == 0 and sorted(got.splitlines()) == sorted(full_lines),
          err)

    # SIGTERM (Slurm's time limit, Kubernetes' eviction) stops it the same way.
    rc, err, got = signalled_run(out, inp, signal.SIGTERM)
    lines = got.splitlines()
    check(f"SIGTERM mid-run: exit 130 with every finished record written whole ({len(lines)} of {len(full_lines)})",
          rc == 130 and "interrupted" in err and got.endswith(b"\n") and all(l in full_lines for l in lines),
          f"rc={rc} err={err}")

    # The first request never ends: the 20 after it finish and wait for it
    # (input order); Ctrl-C writes them all, with a gap where it was.
    reqs = [{"id": 0, "prompt": "And", "n_predict": 10 ** 9}] + [{"id": i, "prompt": "And", "n_predict": 10, "seed": i}
                                                                 for i in range(1, 21)]
    _, short, _ = batch(["-b", "4"], jsonl(reqs[1:]))
    p = subprocess.Popen([CLI, "batch", "-m", MODEL, "-b", "4"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.stdin.write(jsonl(reqs))
    p.stdin.close()
    time.sleep(2.5)  # the 20 take 0.1 s here alone; on a loaded machine, some may still be running
    p.send_signal(signal.SIGINT)
    try:
        p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    out, err = p.stdout.read(), p.stderr.read()
    got, want = out.splitlines(), short.splitlines()
    check(f"SIGINT with an unfinished first request: the {len(got)} of 20 finished after it are written, in order",
          p.returncode == 130 and 1 <= len(got) and all(l in want for l in got)
          and [want.index(l) for l in got] == sorted(want.index(l) for l in got) and b"requests in flight dropped" in err,
          f"rc={p.returncode} {len(got)} records, err={err[-300:]!r}")


def closed_stdout():
    reqs = [{"id": i, "prompt": "And", "n_predict": 200} for i in range(40)]
    p = subprocess.Popen([CLI, "batch", "-m", MODEL, "-b", "2"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.stdin.write(jsonl(reqs))
    p.stdin.close()
    first = p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read().decode()
    rc = p.wait(timeout=60)
    check(f"stdout closed after one record: ends quietly (status {rc})",
          json.loads(first)["id"] == 0 and rc == -signal.SIGPIPE and "error" not in err, f"rc={rc} {err!r}")


def progress(work):
    """The progress line goes to stderr only when it is a terminal."""
    reqs = [{"id": i, "prompt": "And", "n_predict": 300} for i in range(12)]
    rc, out, err = run(["batch", "-m", MODEL, "-b", "2"], jsonl(reqs[:3]))
    check("stderr a pipe: no progress line, one summary line", rc == 0 and "\r" not in err and len(err.splitlines()) == 1,
          repr(err))
    path = os.path.join(work, "progress.jsonl")
    with open(path, "wb") as f:
        f.write(jsonl(reqs))
    master, slave = pty.openpty()
    p = subprocess.Popen([CLI, "batch", "-m", MODEL, "-b", "2", "-f", path, "--shard", "1/2"],
                         stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    out = p.stdout.read()
    rc = p.wait(timeout=60)
    tty = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        tty += chunk
    os.close(master)
    check("stderr a terminal: a progress bar over the shard's 6 requests, with aggregate t/s; records unchanged",
          rc == 0 and b"\r" in tty and re.search(rb"\] [0-6]/6 done \(0 failed", tty) and b" t/s" in tty
          and len(out.splitlines()) == 6,
          tty[-300:])


def main():
    global CLI
    a = harness.arguments(__doc__, required=("cli", "work"))
    CLI = a.cli
    inp, ref = ordering_and_determinism(a.work)
    against_generate()
    against_perplexity(a.work)
    bad_input(a.work)
    resume(a.work, inp, ref)
    shards(a.work, inp, ref)
    interrupt(a.work)
    closed_stdout()
    progress(a.work)
    harness.finish()


if __name__ == "__main__":
    main()
