#!/usr/bin/env python3
"""Table and plot of `rwkv-cli bench -b ... -o jsonl` runs (bench/bench_batch.sh).

usage: plot_batch.py --out PLOT.png "LABEL=FILE.jsonl" ...

Prints a markdown table (aggregate generation t/s per batch size, and the
ratios the batching targets are stated in) and plots aggregate generation
t/s against the batch size, one line per LABEL.
"""
import argparse
import json


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("runs", nargs="+", help="LABEL=FILE.jsonl")
    a = p.parse_args()
    runs = []
    for spec in a.runs:
        label, _, path = spec.partition("=")
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        runs.append((label, rows))

    sizes = sorted({r["pl"] for _, rows in runs for r in rows})
    print("| model | " + " | ".join(f"B={b}" for b in sizes) + " | B=8 / B=1 | B=32 / S_PP(B=1) |")
    print("|---|" + "---:|" * (len(sizes) + 2))
    for label, rows in runs:
        by = {r["pl"]: r for r in rows}
        cells = [f"{by[b]['speed_tg']:.1f}" if b in by else "" for b in sizes]
        r8 = f"{by[8]['tg_vs_b1']:.2f}x" if 8 in by else ""
        r32 = f"{100 * by[32]['tg_vs_pp_b1']:.0f}%" if 32 in by else ""
        print(f"| {label} | " + " | ".join(cells) + f" | {r8} | {r32} |")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, rows in runs:
        rows = sorted(rows, key=lambda r: r["pl"])
        ax.plot([r["pl"] for r in rows], [r["speed_tg"] for r in rows], marker="o", label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(sizes)
    ax.set_xticklabels([str(b) for b in sizes])
    ax.set_xlabel("sequences decoded together (B)")
    ax.set_ylabel("aggregate generation tokens/s")
    ax.set_title("rwkv-cli bench -b: generation throughput against batch size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(a.out, dpi=110)
    print(f"\nplot: {a.out}")


if __name__ == "__main__":
    main()
