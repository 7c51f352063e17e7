#!/usr/bin/python3
"""plot_icl.py - draw the in-context-learning demo (rwkv-cli icl) as a PNG.

usage: plot_icl.py [--cli build/rwkv-cli | --csv icl.csv] [--out docs/icl.png] [--trials 20]

Runs `rwkv-cli icl --csv` (or reads a CSV it wrote) and draws three panels:
  (a) retrieval error against the number of key -> value pairs written, for
      RWKV-5/6's additive update and RWKV-7's delta rule at several in-context
      learning rates a, with the least-squares limit of a rank-N state;
  (b) error against a for a few numbers of pairs;
  (c) error when the same keys are written again with new values.
Needs Debian's python3-matplotlib. docs/math.md explains the plot.
"""
import argparse
import csv
import os
import subprocess
import sys
import tempfile

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TICKS = [1, 2, 4, 8, 16, 32, 64, 128, 256]


def read(path):
    data, N = {}, 64
    with open(path) as f:
        for row in csv.DictReader(f):
            if row["section"] == "meta":
                N = int(row["x"])
                continue
            data.setdefault((row["section"], row["series"]), []).append((float(row["x"]), float(row["error"])))
    return data, N


STYLE = {
    "v5/v6 add": dict(color="black", marker="s", lw=2),
    "v7 a=0.25": dict(color="tab:green", marker="o"),
    "v7 a=0.5": dict(color="tab:blue", marker="o"),
    "v7 a=1": dict(color="tab:purple", marker="o"),
    "v7 a=.2 x20": dict(color="tab:red", marker="^", lw=2),
    "LS limit": dict(color="gray", ls="--", lw=2),
}
LABEL = {
    "v5/v6 add": "RWKV-5/6 additive  S += k v^T",
    "v7 a=0.25": "RWKV-7 delta rule, a = 0.25",
    "v7 a=0.5": "RWKV-7 delta rule, a = 0.5",
    "v7 a=1": "RWKV-7 delta rule, a = 1",
    "v7 a=.2 x20": "RWKV-7, a = 0.2, stream seen 20 times",
    "LS limit": "least-squares limit (rank N state)",
}


def main():
    p = argparse.ArgumentParser(description="Plot rwkv-cli icl.")
    p.add_argument("--cli", default=os.path.join(HERE, "..", "build", "rwkv-cli"))
    p.add_argument("--csv", help="read this CSV instead of running rwkv-cli icl")
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--out", default=os.path.join(HERE, "..", "docs", "icl.png"))
    a = p.parse_args()
    path = a.csv
    if not path:
        fd, path = tempfile.mkstemp(suffix=".csv")
        os.close(fd)
        subprocess.run([a.cli, "icl", "--trials", str(a.trials), "--csv", path], check=True)
    data, N = read(path)
    if not a.csv:
        os.unlink(path)

    fig, ax = plt.subplots(1, 3, figsize=(17, 5.2))
    # (a) capacity
    for series in ("v5/v6 add", "v7 a=0.25", "v7 a=0.5", "v7 a=1", "v7 a=.2 x20", "LS limit"):
        pts = data.get(("capacity", series))
        if pts:
            xs, ys = zip(*pts)
            ax[0].plot(xs, ys, label=LABEL[series], ms=4, **STYLE[series])
    ax[0].axvline(N, color="gray", lw=1, ls=":")
    ax[0].text(N * 1.04, 3.6, f"N = {N}\n(state rank)", color="gray", fontsize=9)
    ax[0].set_xscale("log", base=2)
    ax[0].set_xticks(TICKS, [str(t) for t in TICKS])
    ax[0].set_ylim(0, 4.3)
    ax[0].set_xlabel("key -> value pairs written (n)")
    ax[0].set_ylabel("retrieval error  |S k - v|^2 / |v|^2")
    ax[0].set_title("(a) capacity: n pairs written, all queried")
    ax[0].legend(fontsize=8, loc="upper left")
    ax[0].grid(alpha=0.3)

    # (b) learning rate
    colors = ["tab:blue", "tab:orange", "tab:red"]
    i = 0
    for (section, series), pts in data.items():
        if section != "rate" or not series.startswith("v7"):
            continue
        n = series.split("n=")[1]
        xs, ys = zip(*pts)
        c = colors[i % len(colors)]
        ax[1].plot(xs, ys, color=c, marker="o", ms=4, label=f"RWKV-7, n = {n}")
        add = data.get(("rate", f"v5/v6 add n={n}"))
        if add:
            v = add[0][1]
            off = f" ({v:.1f}, off the scale)" if v > 1.7 else ""
            ax[1].axhline(min(v, 1.69), color=c, ls="--", lw=1, label=f"RWKV-5/6 additive, n = {n}{off}")
        i += 1
    ax[1].set_ylim(0, 1.7)
    ax[1].set_xlabel("in-context learning rate a")
    ax[1].set_ylabel("retrieval error")
    ax[1].set_title("(b) the best a depends on the load")
    ax[1].legend(fontsize=8, loc="upper right")
    ax[1].grid(alpha=0.3)

    # (c) overwrite
    for series in ("v5/v6 add", "v7 a=0.25", "v7 a=0.5", "v7 a=1"):
        pts = data.get(("overwrite", series))
        if pts:
            xs, ys = zip(*pts)
            ax[2].plot(xs, ys, label=LABEL[series], ms=4, **STYLE[series])
    ax[2].axvline(N, color="gray", lw=1, ls=":")
    ax[2].set_xscale("log", base=2)
    ax[2].set_xticks(TICKS, [str(t) for t in TICKS])
    ax[2].set_ylim(0, 4.3)
    ax[2].set_xlabel("pairs written, then rewritten with new values (n)")
    ax[2].set_ylabel("error against the new values")
    ax[2].set_title("(c) overwriting: additive can only add (off the scale: up to 9)")
    ax[2].legend(fontsize=8, loc="upper left")
    ax[2].grid(alpha=0.3)

    fig.suptitle(f"One WKV head (N = {N}) as an in-context memory: random unit keys, Gaussian values, no decay",
                 fontsize=12)
    fig.tight_layout()
    fig.savefig(a.out, dpi=90)
    print(f"plot_icl.py: wrote {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
