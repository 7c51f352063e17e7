#!/usr/bin/env python3
"""Merge the outputs of rwkv-cli batch runs (shards, resumed or --unordered runs) into input order.

    scripts/batch_merge.py IN.jsonl OUT.0.jsonl OUT.1.jsonl ... > OUT.jsonl

Each record goes to the place of its request in IN: an error record by its
"line", any other by its id (a request without an id is known by its line
number, as batch knows it). Every non-blank line of IN must have exactly one
record: otherwise nothing is written and the missing or extra lines are named
(exit 1), so a merge that succeeds is a complete run. A last line without its
newline (a write cut short) is not a record. docs/scale-out.md shows it in use.
"""
import json
import sys


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__.strip().splitlines()[2].strip())
    line_of = {}  # the id of each parseable request -> its line (the first, as duplicates are error records)
    lines = []    # every non-blank input line
    with open(sys.argv[1], "rb") as f:
        for n, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            lines.append(n)
            try:
                q = json.loads(raw)
            except ValueError:
                continue
            if isinstance(q, dict):
                line_of.setdefault(json.dumps(q.get("id", n)), n)
    placed = {}
    extra = []
    for path in sys.argv[2:]:
        with open(path, "rb") as f:
            for raw in f:
                if not raw.endswith(b"\n"):
                    continue
                r = json.loads(raw)
                line = r["error"]["line"] if "error" in r else line_of.get(json.dumps(r["id"]))
                if line is None or line in placed:
                    extra.append(f"{path}: {raw[:80]!r}")
                else:
                    placed[line] = raw
    missing = [n for n in lines if n not in placed]
    if missing or extra:
        if missing:
            print(f"batch_merge: no record for {len(missing)} input lines: {missing[:20]}", file=sys.stderr)
        for e in extra[:20]:
            print(f"batch_merge: a second record, or one for no input line: {e}", file=sys.stderr)
        sys.exit(1)
    out = sys.stdout.buffer
    for n in lines:
        out.write(placed[n])


if __name__ == "__main__":
    main()
