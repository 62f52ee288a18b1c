"""Collect the Table 2 runs of benchmarks/flows_table2.sh into a JSON file and a figure.

    python scripts/flows_table2.py --runs runs/table2 --json docs/results/flows_table2.json \
        --figure docs/figures/flows_table2.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

FRACTIONS = (0, 20, 40, 100)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("--figure")
    args = ap.parse_args()
    runs = Path(args.runs)
    rows = {}
    for d in sorted(runs.iterdir()):
        ev = d / "eval.json"
        if ev.exists():
            e = json.loads(ev.read_text())
            cfg = json.loads((d / "config.json").read_text())["config"]
            rows[d.name] = {"mpjpe": round(e["mpjpe"], 2), "pa_mpjpe": round(e["pa_mpjpe"], 2),
                            "supervised_fraction": cfg["supervised_fraction"], "steps": cfg["steps"],
                            "fs_steps": cfg["fs_steps"], "init": cfg["init"], "w_ba": cfg["w_ba"]}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    for k, v in rows.items():
        print(f"{k:10s} {v['mpjpe']:7.2f} {v['pa_mpjpe']:7.2f}")
    if args.figure:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
        for ax, key, title in zip(axes, ("mpjpe", "pa_mpjpe"), ("MPJPE (mm)", "PA-MPJPE (mm)")):
            for prefix, label, style in (("fs", "FS", "o-"), ("ws", "FS then WS", "s-")):
                xs = [f for f in FRACTIONS if f"{prefix}_{f}" in rows and not (prefix == "fs" and f == 0)]
                ax.plot(xs, [rows[f"{prefix}_{f}"][key] for f in xs], style, label=label)
            ax.set_xlabel("supervised training clips (%)")
            ax.set_title(title)
            ax.set_xticks(FRACTIONS)
            ax.grid(alpha=0.3)
        axes[0].legend()
        fig.tight_layout()
        fig.savefig(args.figure, dpi=80)


if __name__ == "__main__":
    main()
