"""Ablation of ``weakpose train composite`` (issue 17): each term alone, the pairs worth running,
all terms; MPJPE / PA-MPJPE on the three CMU-WS test files (whole files) and the CPU time of
every row (training + evaluation, the row's own process, one thread).

    # the size run on the 2-core machine (docs/composite.md)
    PYTHONPATH=src python benchmarks/composite_ablation.py --out runs/composite_ablation --size reduced --jobs 2
    # full size (e.g. a 16-core machine: 16 rows at once, each single-threaded)
    PYTHONPATH=src python benchmarks/composite_ablation.py --out runs/composite_full --size full --jobs 16 \\
        --seeds 0 1 2 --seed-rows mc mc+flow all
    # own-domain case (docs/own-data.md): the training subjects' 2D under wild cameras with detector
    # noise, written as 2D-only files, + CMU-WS unpaired 3D; scored on cmu_test_wild_det2d.npz
    weakpose benchmark --subjects 1 3 5 6 7 8 --rig wild --noise detector --seed 1 --drop-3d --stride 4 --out own_2d.npz
    weakpose benchmark --subjects 1 3 5 6 7 8 --rig wild --noise detector --seed 1 --multiview --drop-3d \
        --stride 4 --out own_multiview.npz
    PYTHONPATH=src python benchmarks/composite_ablation.py --out runs/composite_own --own-domain \
        --train-2d own_2d.npz --train-multiview own_multiview.npz --rows mc mc+distill all --jobs 2

Every row is a subprocess with OMP_NUM_THREADS=1; ``--jobs N`` runs N at a time. A Deep NRSfM
teacher is trained once (``weakpose train nrsfm``) and shared by the rows with distillation
(``teacher=RUN``) on the rows' single-view 2D (the ``--train-2d`` files when given); its CPU
time is reported separately. ``--train-2d/--train-multiview/--train-3d`` pass the files to
every row (and the 2D to the teacher) as ``weakpose train`` does. Every row also keeps the lifter's 2D
term (``w2d``: the 2D estimate of missing joints). Results: ``OUT/results.json`` and
``OUT/table.md``. Monitoring uses training-subject data only; the test files are read only here,
after training, for the table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

OFF = {"w_mc": 0.0, "w_mmd": 0.0, "w_flow": 0.0, "w_distill": 0.0, "w_sup": 0.0}
TERM_KEYS = {"mc": "w_mc", "mmd": "w_mmd", "flow": "w_flow", "distill": "w_distill", "sup": "w_sup"}
#: rows: each term alone, the pairs with the strongest single term (mc), the single-view pair, all
ROWS = ("mc", "mmd", "flow", "distill", "mc+mmd", "mc+flow", "mc+distill", "flow+distill", "mmd+flow+distill",
        "all")
#: own-domain rows without a multi-view source (with --train-multiview: ROWS)
OWN_ROWS = ("mmd", "flow", "distill", "flow+distill", "mmd+flow+distill")
#: the typed data files a row can train from (``weakpose train`` options)
FILE_OPTIONS = ("train_2d", "train_multiview", "train_3d")
SIZES = {
    # what ran on the shared 2-core machine (docs/composite.md)
    "reduced": {"composite": {"steps": 800, "width": 256, "blocks": 2, "batch_size": 64, "mv_batch_size": 16,
                              "stride": 4,
                                  "flow_fit_steps": 400, "eval_every": 0, "checkpoint_every": 800, "log_every": 100},
                "teacher": {"steps": 2000, "stride": 4}},
    # the composite's and the nrsfm method's defaults
    "full": {"composite": {"stride": 1}, "teacher": {"steps": 12000}},
}
FILES = ("h36mrig_gt2d", "h36mrig_det2d", "wild_det2d")


def row_overrides(row: str, weights: dict[str, float]) -> dict[str, float]:
    terms = ("mc", "mmd", "flow", "distill") if row == "all" else tuple(row.split("+"))
    out = dict(OFF)
    for t in terms:
        if t not in TERM_KEYS:
            raise SystemExit(f"error: row {row!r}: unknown term {t!r} (choose from {', '.join(TERM_KEYS)})")
        out[TERM_KEYS[t]] = weights.get(TERM_KEYS[t], 1.0)
    return out


def run_measured(cmd: list[str], log: Path) -> tuple[int, float]:
    """Run ``cmd`` single-threaded; (exit code, CPU seconds of it and its children)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_utime + usage.ru_stime


def evaluate_run(run: str, files: tuple[str, ...], data: str | None) -> dict:
    """(in a row's process) MPJPE / PA-MPJPE (and PA-MPJPE with reflections, as the papers) of a
    run on whole test files."""
    from weakpose.data.contracts import load_benchmark
    from weakpose.data.paths import benchmark_file, data_root
    from weakpose.inference_api import load_predictor
    from weakpose.metrics import evaluate_predictions

    root = data_root(data)
    pred = load_predictor(run)
    out = {}
    for name in files:
        bench = load_benchmark(benchmark_file(root, name))
        r = evaluate_predictions(pred.predict(bench.inputs)["positions_3d"], bench.positions_3d)
        out[name] = {k: r[k] for k in ("mpjpe", "pa_mpjpe", "pa_mpjpe_refl", "num_samples")}
    return out


def row_main(spec: dict) -> None:
    """One row in this process: train, then evaluate; the result goes to ``spec['result']``."""
    from weakpose.training import train

    overrides = [f"{k}={v}" for k, v in spec["config"].items()]
    t = time.perf_counter()
    train("composite", spec["run"], overrides=overrides, data=spec.get("data"), progress=False,
          data_files=spec.get("data_files"))
    wall_train = time.perf_counter() - t
    res = evaluate_run(spec["run"], tuple(spec["files"]), spec.get("data"))
    Path(spec["result"]).write_text(json.dumps({"scores": res, "wall_train_s": wall_train}))


def fmt_refl(scores: list[dict], name: str) -> str:
    """PA-MPJPE with reflections (as the papers) on file ``name``; "–" for results saved before it was kept."""
    if not scores or name not in scores[0] or any("pa_mpjpe_refl" not in s[name] for s in scores):
        return "–"
    v = np.array([s[name]["pa_mpjpe_refl"] for s in scores])
    return f"{v[0]:.1f}" if len(v) == 1 else f"{v.mean():.1f} ± {v.std(ddof=1):.1f}"


def fmt(scores: list[dict], name: str) -> str:
    if not scores or name not in scores[0]:
        return ""
    mp = np.array([s[name]["mpjpe"] for s in scores])
    pa = np.array([s[name]["pa_mpjpe"] for s in scores])
    if len(scores) == 1:
        return f"{mp[0]:.1f} / {pa[0]:.1f}"
    return f"{mp.mean():.1f} ± {mp.std(ddof=1):.1f} / {pa.mean():.1f} ± {pa.std(ddof=1):.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="folder for the runs, results.json and table.md")
    ap.add_argument("--size", choices=tuple(SIZES), default="reduced")
    ap.add_argument("--rows", nargs="*", default=None, help=f"rows to run (default: {' '.join(ROWS)})")
    ap.add_argument("--seeds", nargs="*", type=int, default=[0], help="seeds of the --seed-rows (others: the first)")
    ap.add_argument("--seed-rows", nargs="*", default=[], help="rows run with every seed of --seeds")
    ap.add_argument("--jobs", type=int, default=1, help="rows at a time (each single-threaded)")
    ap.add_argument("--own-domain", action="store_true",
                    help="training subjects under wild cameras with detector noise, 2D only (the CMU-WS "
                         "generator's, or the --train-2d/--train-multiview files); scored on cmu_test_wild_det2d")
    for kind in FILE_OPTIONS:
        ap.add_argument("--" + kind.replace("_", "-"), nargs="*", default=[], metavar="FILE",
                        help="data files for every row (as in weakpose train)")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="extra composite config for every row")
    ap.add_argument("--teacher", default="", help="use this nrsfm run instead of training one")
    ap.add_argument("--data", default=None)
    ap.add_argument("--_row", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._row:
        return row_main(json.loads(Path(args._row).read_text()))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    size = SIZES[args.size]
    base = dict(size["composite"])
    files = FILES
    data_files = {k: [str(Path(f).resolve()) for f in getattr(args, k)] for k in FILE_OPTIONS if getattr(args, k)}
    if args.own_domain:
        base |= {"rig": "wild", "noise": "detector", "multiview_2d": ""}
        files = ("wild_det2d",)
    extra = dict(kv.split("=", 1) for kv in args.set)
    base |= extra
    rows = args.rows or list(OWN_ROWS if args.own_domain and "train_multiview" not in data_files else ROWS)
    jobs: list[tuple[str, int]] = [(r, s) for r in rows
                                   for s in (args.seeds if r in args.seed_rows else args.seeds[:1])]
    teacher, teacher_cpu = args.teacher, 0.0
    if not teacher and any("distill" in r or r == "all" for r in rows):
        teacher = str(out / "teacher")
        if not (Path(teacher) / "model.pt").exists():
            tset = dict(size["teacher"]) | ({"rig": "wild", "noise": "detector"} if args.own_domain else {})
            own_2d = [a for f in data_files.get("train_2d", []) for a in ("--train-2d", f)]
            cmd = [sys.executable, "-m", "weakpose.cli", "train", "nrsfm", "--out", teacher] + [
                f"{k}={v}" for k, v in tset.items()] + own_2d
            print(f"teacher: {' '.join(cmd)}", flush=True)
            rc, teacher_cpu = run_measured(cmd, out / "teacher.log")
            if rc:
                raise SystemExit(f"error: teacher training failed, see {out / 'teacher.log'}")
            print(f"teacher: {teacher_cpu:.0f} CPU s", flush=True)

    def run_row(job: tuple[str, int]) -> dict:
        row, seed = job
        name = f"{row}_s{seed}"
        cfg = base | row_overrides(row, {k: float(v) for k, v in extra.items() if k in TERM_KEYS.values()})
        cfg |= {"seed": seed} | ({"teacher": teacher} if "distill" in row or row == "all" else {})
        spec = {"run": str(out / "runs" / name), "config": cfg, "files": files, "data": args.data,
                "data_files": data_files, "result": str(out / "runs" / f"{name}.json")}
        if Path(spec["result"]).exists():
            res = json.loads(Path(spec["result"]).read_text())
            return {"row": row, "seed": seed, "config": cfg, **res}
        (out / "runs").mkdir(exist_ok=True)
        spec_file = out / "runs" / f"{name}.spec.json"
        spec_file.write_text(json.dumps(spec))
        t = time.perf_counter()
        rc, cpu = run_measured([sys.executable, __file__, "--out", str(out), "--_row", str(spec_file)],
                               out / "runs" / f"{name}.log")
        if rc:
            print(f"{name}: FAILED (exit {rc}), see {out / 'runs' / (name + '.log')}", flush=True)
            return {"row": row, "seed": seed, "config": cfg, "failed": rc}
        res = json.loads(Path(spec["result"]).read_text()) | {"cpu_s": cpu, "wall_s": time.perf_counter() - t}
        Path(spec["result"]).write_text(json.dumps(res))
        print(f"{name}: {cpu:.0f} CPU s, {json.dumps({k: round(v['pa_mpjpe'], 1) for k, v in res['scores'].items()})}",
              flush=True)
        return {"row": row, "seed": seed, "config": cfg, **res}

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(run_row, jobs))
    summary = {"size": args.size, "own_domain": args.own_domain, "data_files": data_files, "base_config": base,
               "teacher": teacher,
               "teacher_cpu_s": teacher_cpu, "rows": results, "wall_s": time.perf_counter() - t0}
    (out / "results.json").write_text(json.dumps(summary, indent=2))
    lines = ["| row | seeds | " + " | ".join(f"{f} MPJPE / PA" for f in files)
             + f" | {files[0]} PA with reflections (as the papers) | CPU s (train + eval) |",
             "|---|---|" + "---|" * len(files) + "---|---|"]
    for row in rows:
        ok = [r for r in results if r["row"] == row and "scores" in r]
        if not ok:
            lines.append(f"| {row} | failed |" + " |" * (len(files) + 2))
            continue
        cpu = np.array([r.get("cpu_s", np.nan) for r in ok])
        scores = [r["scores"] for r in ok]
        lines.append(f"| {row} | {len(ok)} | " + " | ".join(fmt(scores, f) for f in files)
                     + f" | {fmt_refl(scores, files[0])} | {np.nanmean(cpu):.0f} |")
    if teacher_cpu:
        lines.append(f"\nDeep NRSfM teacher (shared by the distill rows): {teacher_cpu:.0f} CPU s.")
    (out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
