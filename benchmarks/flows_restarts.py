"""Restart selection of `flows-ws` (``restarts``, not in Zanfir et al.) over finished runs:
each group of runs is one run's candidates (plain runs with seeds seed + 1000 r, which is what
``restarts = R`` trains, see weakpose.methods.flows.restarts); every candidate is scored with
the built-in score (mean L_ws on the fixed training frames, 2D only) and the lowest is kept.
Prints each group's scores and choice, and the test error (from ``weakpose evaluate --json``
files ``eval_gt2d.json`` / ``eval_det2d.json`` in ``--eval-dir/RUN_NAME``, else in the run folder)
of the kept candidates and of all candidates, mean ± sd (docs/flows.md, issue 16).

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/flows_restarts.py \\
        --group ws0_s0 ws0_s1000 ws0_s2000 --group ws0_s1 ws0_s1001 ws0_s2001 ...
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from weakpose.data.paths import data_root
from weakpose.engine.checkpoint import load_checkpoint
from weakpose.engine.config import config_from_dict
from weakpose.methods.flows.restarts import selection_score
from weakpose.methods.flows.ws import METHOD, FlowsWSConfig

FILES = ("gt2d", "det2d")
COLUMNS = (("mpjpe", "MPJPE"), ("pa_mpjpe", "PA"), ("pa_mpjpe_refl", "PA-refl"))
#: Settings that differ between the candidates of one group (everything else must match).
PER_CANDIDATE = {"seed", "restarts"}


def _evaluation(run: Path, eval_dir: Path | None, name: str) -> dict[str, float]:
    for folder in (None if eval_dir is None else eval_dir / run.name, run):  # --eval-dir first
        if folder is not None and (folder / f"eval_{name}.json").exists():
            return json.loads((folder / f"eval_{name}.json").read_text())
    return {}


def _fmt(values: list[float]) -> str:
    v = np.asarray([x for x in values if x == x], float)
    if len(v) == 0:
        return "–"
    return f"{v.mean():.1f}" if len(v) == 1 else f"{v.mean():.1f} ± {v.std(ddof=1):.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--group", nargs="+", action="append", required=True, metavar="RUN",
                    help="the candidate runs of one restarted run (repeat per seed)")
    ap.add_argument("--eval-dir", type=Path, help="folder with RUN_NAME/eval_*.json for read-only run folders")
    ap.add_argument("--json", type=Path, help="write scores, choices and errors here")
    args = ap.parse_args()
    groups = [[Path(r) for r in g] for g in args.group]
    configs = {r: load_checkpoint(r / "model.pt") for g in groups for r in g}
    first = next(iter(configs.values()))["config"]
    for r, payload in configs.items():
        diff = sorted(k for k, v in payload["config"].items()
                      if k not in PER_CANDIDATE and first.get(k) != v and k in first)
        if diff:
            raise SystemExit(f"error: {r}: settings differ from the other runs: {', '.join(diff)}")
    method = METHOD(config_from_dict(FlowsWSConfig, {**first, "restarts": 1}), data_root())
    rows = []
    for g in groups:
        scored = []
        for r in g:
            method.nets["net"].load_state_dict(configs[r]["modules"]["net"])
            errors = {f: _evaluation(r, args.eval_dir, f) for f in FILES}
            scored.append({"run": str(r), "seed": configs[r]["config"]["seed"], "L_ws": selection_score(method),
                           **{f"{f}/{k}": errors[f].get(k, float("nan")) for f in FILES for k, _ in COLUMNS}})
        best = min(range(len(scored)), key=lambda i: scored[i]["L_ws"])
        rows.append({"candidates": scored, "chosen": best})
        print("group:", ", ".join(f"seed {c['seed']}: L_ws {c['L_ws']:.1f}, gt2d PA {c['gt2d/pa_mpjpe']:.1f}"
                                  for c in scored), f"-> seed {scored[best]['seed']}")
    kept = [row["candidates"][row["chosen"]] for row in rows]
    every = [c for row in rows for c in row["candidates"]]
    head = " | ".join(f"{f} {label}" for f in FILES for _, label in COLUMNS)
    print(f"\n| runs | n | {head} |\n|---|---|" + "---|" * (len(FILES) * len(COLUMNS)))
    for label, sel in ((f"kept (lowest L_ws of {len(groups[0])})", kept), ("every candidate", every)):
        print(f"| {label} | {len(sel)} | "
              + " | ".join(_fmt([c[f"{f}/{k}"] for c in sel]) for f in FILES for k, _ in COLUMNS) + " |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
