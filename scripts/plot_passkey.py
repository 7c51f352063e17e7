#!/usr/bin/python3
"""plot_passkey.py - draw the passkey retrieval accuracy (rwkv-cli passkey --csv) as a heat map.

usage: rwkv-cli passkey -m MODEL --csv passkey.csv
       plot_passkey.py passkey.csv [--out passkey.png]

One cell per (haystack length, needle depth), red (0%) through yellow to
green (100%), labelled with its accuracy. Needs Debian's python3-matplotlib.
"""
import argparse
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(path):
    """The CSV as {(tokens, depth): accuracy}, the sorted lengths and depths, and the trials per cell."""
    acc, trials = {}, 0
    with open(path) as f:
        for row in csv.DictReader(f):
            acc[int(row["tokens"]), int(row["depth"])] = float(row["accuracy"])
            trials = int(row["trials"])
    lengths = sorted({t for t, _ in acc})
    depths = sorted({d for _, d in acc})
    return acc, lengths, depths, trials


def main():
    p = argparse.ArgumentParser(description="Plot rwkv-cli passkey --csv as a heat map.")
    p.add_argument("csv", help="the CSV rwkv-cli passkey --csv wrote")
    p.add_argument("--out", default="passkey.png")
    a = p.parse_args()
    acc, lengths, depths, trials = read(a.csv)
    if not acc:
        sys.exit(f"plot_passkey.py: {a.csv}: no rows")
    grid = [[acc.get((t, d), float("nan")) for d in depths] for t in lengths]

    fig, ax = plt.subplots(figsize=(1.2 * len(depths) + 2.5, 0.6 * len(lengths) + 1.8))
    ax.imshow(grid, cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
    for i, row in enumerate(grid):
        for j, v in enumerate(row):
            ax.text(j, i, f"{100 * v:.0f}%", ha="center", va="center", fontsize=9)
    ax.set_xticks(range(len(depths)), [f"{d}%" for d in depths])
    ax.set_yticks(range(len(lengths)), [str(t) for t in lengths])
    ax.set_xlabel("needle depth")
    ax.set_ylabel("haystack tokens")
    ax.set_title(f"passkey retrieval accuracy ({trials} trials per cell)")
    fig.tight_layout()
    fig.savefig(a.out, dpi=90)
    print(f"plot_passkey.py: wrote {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
