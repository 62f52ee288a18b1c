"""Deep NRSfM teacher schedule and Eq. 14 β chosen on VALIDATION data of the training subjects,
then re-measured on the test files over several seeds (docs/nrsfm.md, issue 16).

    PYTHONPATH=src python benchmarks/nrsfm_selection.py --out runs/nrsfm_sel --jobs 14 \
        --teacher-steps 2000,4000,8000 --betas 0.01,0.03,0.1,0.3 --seeds 0,1,2

Protocol (no test-subject data is used for any choice):

1. *Selection runs* train on the training subjects minus ``--holdout`` (default subject 8) and
   are scored on that subject's 2D → 3D (h36m rig, every ``--val-stride``-th frame, exact 2D and
   simulated detector 2D; criterion = mean PA-MPJPE of the two). The teacher schedule (total
   cosine steps) is chosen first, then β of Eq. 14 for students of the chosen selection teacher.
2. *Final runs* train on all training subjects (1, 3, 5, 6, 7, 8), one per seed, with the chosen
   settings (teacher schedule, then a student with the chosen β of each final teacher), and are
   scored on every ``--test-stride``-th sample of the three test files.

Each run is one process on one thread (``--jobs`` at a time). Metrics: PA-MPJPE without
reflections (primary), PA-MPJPE with reflections (as the papers), MPJPE (bone-length scale),
the paper's depth error. Writes ``selection.json`` and ``selection.md`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

HOLDOUT_DEFAULT = 8
TEST_FILES = ("h36mrig_gt2d", "h36mrig_det2d", "wild_det2d")
TEACHER_FIXED = ["eval_every=0", "checkpoint_every=1000000", "calibration_samples=8192"]
STUDENT_FIXED = ["eval_every=0", "checkpoint_every=1000000", "noise=detector"]


_ALL_TRAIN_SUBJECTS: tuple[int, ...] = ()


def _restrict_training_subjects(holdout: int | None) -> None:
    """Selection runs: the training subjects of this worker process minus the held-out one
    (final runs: all of them; a worker runs both kinds in turn)."""
    global _ALL_TRAIN_SUBJECTS
    from weakpose.data import mocap

    _ALL_TRAIN_SUBJECTS = _ALL_TRAIN_SUBJECTS or mocap.TRAIN_SUBJECTS
    mocap.TRAIN_SUBJECTS = tuple(s for s in _ALL_TRAIN_SUBJECTS if s != holdout)


def _train(job: dict) -> str:
    import torch

    torch.set_num_threads(1)
    _restrict_training_subjects(job.get("holdout"))
    from weakpose.training import train

    out = Path(job["out"])
    if not (out / "model.pt").exists():
        t0 = time.time()
        train(job["method"], out, overrides=job["overrides"], progress=False)
        (out / "wall_s.txt").write_text(f"{time.time() - t0:.1f}\n")
    return str(out)


def _score_arrays(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    from weakpose.metrics import depth_error, mpjpe, pa_mpjpe, pa_mpjpe_with_reflections

    return {"pa": float(pa_mpjpe(pred, gt).mean()), "pa_refl": float(pa_mpjpe_with_reflections(pred, gt).mean()),
            "mpjpe": float(mpjpe(pred, gt).mean()), "depth": float(depth_error(pred, gt).mean())}


def _eval_sets(root: Path, holdout: int | None, val_stride: int, test_stride: int) -> dict[str, tuple]:
    from weakpose.data.benchmark import make_split
    from weakpose.data.contracts import Keypoints2D, load_benchmark
    from weakpose.data.paths import benchmark_file

    sets = {}
    if holdout is not None:
        for noise in ("gt", "detector"):
            d = make_split(root, (holdout,), rig="h36m", noise=noise, seed=0, stride=val_stride)
            sets[f"val_{noise}"] = (Keypoints2D(d["keypoints_2d"], d["confidence"], d.get("intrinsics")), d["positions_3d"])
    else:
        for name in TEST_FILES:
            b = load_benchmark(benchmark_file(root, name))
            idx = np.arange(0, len(b.positions_3d), test_stride)
            inp = b.inputs
            sets[name] = (Keypoints2D(inp.keypoints_2d[idx], inp.confidence[idx],
                                      None if inp.intrinsics is None else inp.intrinsics[idx]), b.positions_3d[idx])
    return sets


def _score(job: dict) -> dict:
    import torch

    torch.set_num_threads(1)
    from weakpose.data.paths import data_root
    from weakpose.engine.checkpoint import load_checkpoint
    from weakpose.methods.registry import get_method

    ckpt = load_checkpoint(job["run"])
    predictor = get_method(ckpt["method"]).load_predictor(ckpt)
    sets = _eval_sets(data_root(), job.get("holdout"), job["val_stride"], job["test_stride"])
    return {name: _score_arrays(predictor.predict(inp)["positions_3d"], gt) for name, (inp, gt) in sets.items()}


def _criterion(scores: dict) -> float:
    return 0.5 * (scores["val_gt"]["pa"] + scores["val_detector"]["pa"])


def _mean_sd(rows: list[dict]) -> dict:
    out = {}
    for name in rows[0]:
        out[name] = {m: (float(np.mean([r[name][m] for r in rows])), float(np.std([r[name][m] for r in rows], ddof=1))
                         if len(rows) > 1 else 0.0) for m in rows[0][name]}
    return out


def mirror_check(run: str, holdout: int = HOLDOUT_DEFAULT, val_stride: int = 4) -> dict:
    """Share of a run's validation reconstructions whose knees bend backwards (depth-mirrored,
    :func:`weakpose.methods.nrsfm.codec.knee_chirality` < 0), and PA-MPJPE after flipping their
    depth — a diagnostic of per-sample mirroring (printed by ``--mirror-check RUN``)."""
    import torch

    from weakpose.data.paths import data_root
    from weakpose.engine.checkpoint import load_checkpoint
    from weakpose.methods.nrsfm.codec import knee_chirality
    from weakpose.methods.registry import get_method
    from weakpose.metrics import pa_mpjpe

    ckpt = load_checkpoint(run)
    predictor = get_method(ckpt["method"]).load_predictor(ckpt)
    out = {}
    for name, (inp, gt) in _eval_sets(data_root(), holdout, val_stride, 1).items():
        pred = predictor.predict(inp)["positions_3d"]
        backwards = knee_chirality(torch.as_tensor(pred).double()).numpy() < 0
        flipped = pred.copy()
        flipped[backwards, :, 2] *= -1
        out[name] = {"knees_backwards": float(backwards.mean()), "pa": float(pa_mpjpe(pred, gt).mean()),
                     "pa_after_flip": float(pa_mpjpe(flipped, gt).mean())}
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--teacher-steps", default="2000,4000,8000")
    ap.add_argument("--student-steps", type=int, default=4000)
    ap.add_argument("--betas", default="0.01,0.03,0.1,0.3")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--holdout", type=int, default=HOLDOUT_DEFAULT)
    ap.add_argument("--val-stride", type=int, default=4)
    ap.add_argument("--test-stride", type=int, default=4)
    ap.add_argument("--stride", type=int, default=1, help="training stride (every n-th training frame)")
    ap.add_argument("--teacher-extra", default="", help="extra key=value overrides for the teachers, comma-separated")
    ap.add_argument("--mirror-check", metavar="RUN", help="only print the per-sample mirroring diagnostic of RUN")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.mirror_check:
        result = mirror_check(args.mirror_check, args.holdout, args.val_stride)
        print(json.dumps(result, indent=1))
        return result
    steps = [int(s) for s in args.teacher_steps.split(",")]
    betas = [float(b) for b in args.betas.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    extra = [e for e in args.teacher_extra.split(",") if e]
    if args.out is None:
        ap.error("--out is required (except with --mirror-check)")
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    common = {"val_stride": args.val_stride, "test_stride": args.test_stride}
    t0 = time.time()

    def teacher_job(s: int, seed: int, holdout: int | None) -> dict:
        tag = f"teacher_s{s}_seed{seed}" + ("_val" if holdout is not None else "")
        return {"method": "nrsfm", "out": str(out / tag), "holdout": holdout,
                "overrides": TEACHER_FIXED + extra + [f"steps={s}", f"seed={seed}", f"stride={args.stride}"]}

    def student_job(teacher: str, beta: float, seed: int, holdout: int | None) -> dict:
        tag = f"student_{Path(teacher).name}_b{beta:g}"
        return {"method": "distill", "out": str(out / tag), "holdout": holdout,
                "overrides": STUDENT_FIXED + [f"teacher={teacher}", f"reg_weight={beta}", f"seed={seed}",
                                              f"steps={args.student_steps}", f"stride={args.stride}"]}

    with ProcessPoolExecutor(args.jobs) as pool:
        # 1. selection teachers (held-out subject), one per schedule; choose the schedule
        t_val = {s: teacher_job(s, seeds[0], args.holdout) for s in steps}
        list(pool.map(_train, t_val.values()))
        val_t = dict(zip(steps, pool.map(_score, [{"run": t_val[s]["out"], "holdout": args.holdout, **common} for s in steps])))
        best_s = min(steps, key=lambda s: _criterion(val_t[s]))
        print(f"[{time.time() - t0:.0f}s] teacher steps chosen on subject {args.holdout}: {best_s}", flush=True)
        # 2. selection students of the chosen selection teacher, every β; final teachers meanwhile
        t_fin = {seed: teacher_job(best_s, seed, None) for seed in seeds}
        s_val = {b: student_job(t_val[best_s]["out"], b, seeds[0], args.holdout) for b in betas}
        list(pool.map(_train, list(s_val.values()) + list(t_fin.values())))
        val_s = dict(zip(betas, pool.map(_score, [{"run": s_val[b]["out"], "holdout": args.holdout, **common} for b in betas])))
        best_b = min(betas, key=lambda b: _criterion(val_s[b]))
        print(f"[{time.time() - t0:.0f}s] beta chosen on subject {args.holdout}: {best_b:g}", flush=True)
        # 3. final students (chosen β, every seed), then everything final on the test files
        s_fin = {seed: student_job(t_fin[seed]["out"], best_b, seed, None) for seed in seeds}
        list(pool.map(_train, s_fin.values()))
        fin_jobs = [("teacher", best_s, seed, t_fin[seed]["out"]) for seed in seeds]
        fin_jobs += [("student", best_b, seed, s_fin[seed]["out"]) for seed in seeds]
        scores = list(pool.map(_score, [{"run": r, "holdout": None, **common} for *_, r in fin_jobs]))
    test = {}
    for (kind, key, seed, _), sc in zip(fin_jobs, scores):
        test.setdefault(f"{kind}_{key:g}", []).append(sc)
    result = {
        "holdout": args.holdout, "val_stride": args.val_stride, "test_stride": args.test_stride,
        "teacher_steps_chosen": best_s, "beta_chosen": best_b, "seeds": seeds,
        "validation_teachers": {str(s): val_t[s] for s in steps}, "validation_students": {str(b): val_s[b] for b in betas},
        "test_mean_sd": {k: _mean_sd(v) for k, v in test.items()}, "test_per_seed": test,
        "wall_s": time.time() - t0,
    }
    (out / "selection.json").write_text(json.dumps(result, indent=1))
    (out / "selection.md").write_text(markdown(result))
    print(markdown(result))
    return result


def markdown(r: dict) -> str:
    lines = [(f"Validation: subject {r['holdout']} (held out of training), every {r['val_stride']}th frame; "
              "criterion = mean PA-MPJPE of exact and detector 2D."), "",
             "| selection run | val PA (gt 2D) | val PA (det 2D) | val PA with reflections (gt) | val depth (gt) |",
             "|---|---|---|---|---|"]
    for s, sc in r["validation_teachers"].items():
        lines.append(f"| teacher, {s} steps | {sc['val_gt']['pa']:.1f} | {sc['val_detector']['pa']:.1f} | "
                     f"{sc['val_gt']['pa_refl']:.1f} | {sc['val_gt']['depth']:.1f} |")
    for b, sc in r["validation_students"].items():
        lines.append(f"| student β={b} (teacher {r['teacher_steps_chosen']} steps) | {sc['val_gt']['pa']:.1f} | "
                     f"{sc['val_detector']['pa']:.1f} | {sc['val_gt']['pa_refl']:.1f} | {sc['val_gt']['depth']:.1f} |")
    lines += ["", (f"Chosen: teacher {r['teacher_steps_chosen']} steps, β = {r['beta_chosen']:g}. Test files, every "
                   f"{r['test_stride']}th sample, mean ± sd over seeds {r['seeds']}:"), "",
              ("| model | gt2d PA | gt2d PA with reflections (as the papers) | gt2d MPJPE | gt2d depth | det2d PA | "
               "det2d PA with reflections | wild PA | wild PA with reflections |"), "|---|---|---|---|---|---|---|---|---|"]

    def fmt(m: dict, file: str, metric: str) -> str:
        mu, sd = m[file][metric]
        return f"{mu:.1f} ± {sd:.1f}"

    for name, m in r["test_mean_sd"].items():
        f = lambda file, metric, m=m: fmt(m, file, metric)
        lines.append(f"| {name} | {f('h36mrig_gt2d', 'pa')} | {f('h36mrig_gt2d', 'pa_refl')} | {f('h36mrig_gt2d', 'mpjpe')} | "
                     f"{f('h36mrig_gt2d', 'depth')} | {f('h36mrig_det2d', 'pa')} | {f('h36mrig_det2d', 'pa_refl')} | "
                     f"{f('wild_det2d', 'pa')} | {f('wild_det2d', 'pa_refl')} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
