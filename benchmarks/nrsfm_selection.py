"""Deep NRSfM teacher schedule, teacher restart per seed and the student's β of Eq. 14 (and other
student settings) chosen on VALIDATION data of the training subjects, then measured on the test
files over several seeds (docs/nrsfm.md, issue 16).

    PYTHONPATH=src python benchmarks/nrsfm_selection.py --out runs/nrsfm_sel --jobs 1 \
        --teacher-steps 4000 --restarts 3 --betas 0.1,0.3 --student-variants ';width=512' \
        --student-steps 3000 --seeds 0,1,2

Protocol (no test-subject data is used for any choice; every run trains on the training
subjects minus ``--holdout``, default subject 8, and is scored on that subject's 2D → 3D, h36m
rig, every ``--val-stride``-th frame, exact 2D and simulated detector 2D; criterion = mean
PA-MPJPE of the two):

1. the teacher schedule (total cosine steps), one teacher per value (first seed);
2. per headline seed, ``--restarts`` teachers with the chosen schedule (restart r trains with
   seed ``seed + 1000·r``; restart 0 is the seed itself) and the best one on the held-out subject
   is kept: a teacher can fit the 2D with the wrong depth, which no 2D-only loss shows (one of
   three seeds did, docs/nrsfm.md), and the held-out subject's 3D does;
3. β of Eq. 14 (with the first of ``--student-variants``), then the student variant (with the
   chosen β), for students of the first seed's kept teacher, jointly with ``--predict-variants``:
   prediction-only options (e.g. ``flip_test=true``), scored for every variant without retraining;
4. per seed, a student of its kept teacher with the chosen settings (and with ``--weaksup`` the
   Weaksup-bs baseline: the same student with the teacher's depths as hard L1 targets); teachers
   and students are scored on every ``--test-stride``-th sample of the three test files.

With ``--pool MM`` (several teachers, not in the paper; docs/nrsfm.md "Issue 16, fourth pass"),
fixed before any test number is seen: per seed the teacher pool is every restart whose held-out
criterion is ≤ MM and that passes the teacher check without 3D (backward knees on its training 2D
≤ ``max_backward_knees``), best first; a seed whose pool has fewer than ``--pool-min`` teachers
gets further restarts (r = ``--restarts``, …) up to ``--max-restarts`` in all. After step 3 a
student of the first seed's pool (chosen settings) is scored on the held-out subject; if it beats
the single-teacher student there, step 4 distils every seed's student (and Weaksup-bs) from its
pool, and the single-teacher students and the pool members are scored on the test files beside it
(``--pool-always``: the pool students are also trained and tested when they lose, marked as not
chosen).

The headline runs are therefore trained without the held-out subject (5 of the 6 training
subjects): the restart is chosen on it, and retraining on all six with the same seed would not
keep the chosen solution. Runs already present under ``--out`` (``model.pt``) are reused.
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
RESTARTS_DEFAULT = 3          # teacher restarts per seed (step 2 of the protocol; 2 of the first 4 teachers failed)
RESTART_SEED_STRIDE = 1000   # restart r of seed s trains with seed s + 1000·r
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
            inp = Keypoints2D(d["keypoints_2d"], d["confidence"], d.get("intrinsics"))
            sets[f"val_{noise}"] = (inp, d["positions_3d"])
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
    from weakpose.engine.config import parse_overrides
    from weakpose.methods.registry import get_method

    ckpt = load_checkpoint(job["run"])
    # prediction-only options (e.g. the student's flip_test) need no retraining: applied to the saved config
    ckpt["config"] = {**ckpt["config"], **parse_overrides(job.get("predict", []))}
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
    :func:`weakpose.methods.nrsfm.codec.knee_chirality` < 0), PA-MPJPE after flipping their
    depth — a diagnostic of per-sample mirroring — and PA-MPJPE of the mean of the reconstruction
    and the mirrored reconstruction of the left-right mirrored input (``pa_mirror_average``: how far
    the run is from mirror-equivariant, what ``flip_distill`` / ``flip_test`` average out); for a
    teacher also its check without 3D on its training 2D (:func:`teacher_backward_knees`).
    Printed by ``--mirror-check RUN``."""
    import torch

    from weakpose.data.paths import data_root
    from weakpose.engine.checkpoint import load_checkpoint
    from weakpose.methods.nrsfm.codec import knee_chirality, mirror_keypoints, mirror_poses
    from weakpose.methods.nrsfm.teacher import normalise_file, to_millimetres
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
        nk = normalise_file(inp, predictor.center, 17)
        wm, mm = mirror_keypoints(nk.w, nk.mask)
        mean = 0.5 * (predictor.normalised_poses(nk.w, nk.mask) + mirror_poses(predictor.normalised_poses(wm, mm)))
        averaged = to_millimetres(mean, predictor.mean_bone_lengths, predictor.raw_scale)["positions_3d"]
        out[name] = {"knees_backwards": float(backwards.mean()), "pa": float(pa_mpjpe(pred, gt).mean()),
                     "pa_after_flip": float(pa_mpjpe(flipped, gt).mean()),
                     "pa_mirror_average": float(pa_mpjpe(averaged, gt).mean())}
    if ckpt["method"] == "nrsfm":   # the teacher check of `weakpose train nrsfm`, for runs trained before it
        out["training_2d"] = {"backward_knees": teacher_backward_knees(run, holdout)}
    return out


def teacher_average(runs: list[str], holdout: int = HOLDOUT_DEFAULT, val_stride: int = 4) -> dict:
    """Held-out PA-MPJPE of each teacher run and of the mean of their normalised reconstructions
    (the same 2D normalisation and gauge): what a student could reach that sits between the teachers'
    answers, as several-teacher distillation pulls it (docs/nrsfm.md, fourth pass). Printed by
    ``--teacher-average RUN,RUN``."""
    from weakpose.data.paths import data_root
    from weakpose.engine.checkpoint import load_checkpoint
    from weakpose.methods.nrsfm.teacher import normalise_file, to_millimetres
    from weakpose.methods.registry import get_method
    from weakpose.metrics import pa_mpjpe

    preds = [get_method("nrsfm").load_predictor(load_checkpoint(r)) for r in runs]
    out = {}
    for name, (inp, gt) in _eval_sets(data_root(), holdout, val_stride, 1).items():
        nk = normalise_file(inp, preds[0].center, 17)
        poses = [p.normalised_poses(nk.w, nk.mask) for p in preds]
        mm = [to_millimetres(q, p.mean_bone_lengths, p.raw_scale)["positions_3d"] for p, q in zip(preds, poses)]
        mean = to_millimetres(sum(poses) / len(poses), preds[0].mean_bone_lengths, preds[0].raw_scale)
        out[name] = {**{Path(r).name: float(pa_mpjpe(x, gt).mean()) for r, x in zip(runs, mm)},
                     "mean of the reconstructions": float(pa_mpjpe(mean["positions_3d"], gt).mean())}
    return out


def teacher_backward_knees(run: str, holdout: int | None) -> float:
    """The teacher check without 3D (``check/backward_knees`` of ``weakpose train nrsfm``) recomputed
    for a teacher run: share of its calibration training 2D poses (the training subjects minus
    ``holdout``, as it was trained here) reconstructed with backward knees."""
    import torch

    from weakpose.data.paths import data_root
    from weakpose.methods.nrsfm.codec import backward_knee_share
    from weakpose.methods.nrsfm.distill import load_teacher
    from weakpose.methods.nrsfm.teacher import load_training_data, parse_center, teacher_outputs

    _restrict_training_subjects(holdout)
    net, config, sign = load_teacher(run)
    d = load_training_data(data_root(), config, parse_center(config.center), torch.device("cpu"))
    return backward_knee_share(teacher_outputs(net, d.w[d.calib], sign).poses)


def _backward_knees(run: str, holdout: int | None) -> float:
    """The teacher check of a teacher run: from its checkpoint, or recomputed for runs trained before
    the check (:func:`teacher_backward_knees`)."""
    from weakpose.engine.checkpoint import load_checkpoint

    share = load_checkpoint(run)["predictor_state"].get("backward_knees")
    return float(share) if share is not None else teacher_backward_knees(run, holdout)


def teacher_pool(scores: dict[str, dict], knees: dict[str, float], max_criterion: float,
                 max_knees: float) -> list[str]:
    """The pool rule of ``--pool``: the runs (of one seed) whose held-out criterion is at most
    ``max_criterion`` and whose backward-knee share is at most ``max_knees``, best criterion first."""
    ok = [r for r, sc in scores.items() if _criterion(sc) <= max_criterion and knees[r] <= max_knees]
    return sorted(ok, key=lambda r: _criterion(scores[r]))


def restart_seed(seed: int, restart: int) -> int:
    """Training seed of restart ``restart`` of headline seed ``seed`` (restart 0 = the seed itself)."""
    return seed + RESTART_SEED_STRIDE * restart


def _variant_tag(variant: list[str]) -> str:
    return "".join("_" + o.replace("=", "") for o in variant)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--teacher-steps", default="2000,4000,8000")
    ap.add_argument("--student-steps", type=int, default=4000)
    ap.add_argument("--betas", default="0.01,0.03,0.1,0.3")
    ap.add_argument("--student-variants", default="",
                    help="alternative student settings chosen with β on the held-out subject: ';'-separated, "
                         "each a comma-separated list of key=value overrides (an empty entry = the defaults), "
                         "e.g. ';width=512'")
    ap.add_argument("--predict-variants", default="",
                    help="alternative prediction-only options of the chosen student, scored on the held-out subject "
                         "without retraining: ';'-separated, each comma-separated key=value (an empty entry = as "
                         "trained), e.g. ';flip_test=true'")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--restarts", type=int, default=RESTARTS_DEFAULT,
                    help="teacher restarts per seed; the one with the best held-out criterion is kept "
                         f"(default {RESTARTS_DEFAULT})")
    ap.add_argument("--holdout", type=int, default=HOLDOUT_DEFAULT)
    ap.add_argument("--val-stride", type=int, default=4)
    ap.add_argument("--test-stride", type=int, default=4)
    ap.add_argument("--stride", type=int, default=1, help="training stride (every n-th training frame)")
    ap.add_argument("--teacher-extra", default="", help="extra key=value overrides for the teachers, comma-separated")
    ap.add_argument("--weaksup", action="store_true",
                    help="also train and test the Weaksup-bs baseline (loss=weaksup, the chosen student settings) "
                         "of every kept teacher")
    ap.add_argument("--pool", type=float, metavar="MM",
                    help="several teachers per student (not in the paper): per seed every restart with held-out "
                         "criterion <= MM that passes the teacher check; used if the first seed's pool student "
                         "beats its single-teacher student on the held-out subject")
    ap.add_argument("--pool-always", action="store_true",
                    help="with --pool: train and test the pool students even when the held-out subject prefers "
                         "one teacher (shown as not chosen)")
    ap.add_argument("--pool-min", type=int, default=2,
                    help="with --pool: a seed with fewer pool teachers gets further restarts (default 2)")
    ap.add_argument("--max-restarts", type=int,
                    help="with --pool: restarts per seed at most, the further ones included (default --restarts)")
    ap.add_argument("--mirror-check", metavar="RUN", help="only print the per-sample mirroring diagnostic of RUN")
    ap.add_argument("--teacher-average", metavar="RUN,RUN",
                    help="only print the held-out PA-MPJPE of these teachers and of the mean of their reconstructions")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.mirror_check:
        result = mirror_check(args.mirror_check, args.holdout, args.val_stride)
        print(json.dumps(result, indent=1))
        return result
    if args.teacher_average:
        result = teacher_average(args.teacher_average.split(","), args.holdout, args.val_stride)
        print(json.dumps(result, indent=1))
        return result
    steps = [int(s) for s in args.teacher_steps.split(",")]
    betas = [float(b) for b in args.betas.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = [[o for o in v.split(",") if o] for v in args.student_variants.split(";")]
    pvariants = [[o for o in v.split(",") if o] for v in args.predict_variants.split(";")]
    extra = [e for e in args.teacher_extra.split(",") if e]
    if args.out is None:
        ap.error("--out is required (except with --mirror-check)")
    if args.restarts < 1:
        ap.error("--restarts must be at least 1")
    max_restarts = args.restarts if args.max_restarts is None else args.max_restarts
    if max_restarts < args.restarts:
        ap.error("--max-restarts must be at least --restarts")
    if max(seeds) >= RESTART_SEED_STRIDE or min(seeds) < 0:
        ap.error(f"--seeds must lie in 0..{RESTART_SEED_STRIDE - 1} "
                 f"(restart r of seed s trains with seed s + {RESTART_SEED_STRIDE}·r)")
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    common = {"val_stride": args.val_stride, "test_stride": args.test_stride, "holdout": args.holdout}
    t0 = time.time()

    def teacher_job(s: int, seed: int) -> dict:
        return {"method": "nrsfm", "out": str(out / f"teacher_s{s}_seed{seed}_val"), "holdout": args.holdout,
                "overrides": TEACHER_FIXED + extra + [f"steps={s}", f"seed={seed}", f"stride={args.stride}"]}

    def names(teachers: str | list[str]) -> tuple[str, str]:
        """(teacher= value, run-name part) of one teacher run or of several (a pool)."""
        teachers = [teachers] if isinstance(teachers, str) else teachers
        return ",".join(teachers), "+".join(Path(t).name for t in teachers)

    def student_job(teachers: str | list[str], beta: float, variant: list[str], seed: int) -> dict:
        value, name = names(teachers)
        tag = f"student_{name}_b{beta:g}{_variant_tag(variant)}"
        return {"method": "distill", "out": str(out / tag), "holdout": args.holdout,
                "overrides": STUDENT_FIXED + [f"teacher={value}", f"reg_weight={beta}", f"seed={seed}",
                                              f"steps={args.student_steps}", f"stride={args.stride}"] + variant}

    def weaksup_job(teachers: str | list[str], variant: list[str], seed: int) -> dict:
        value, name = names(teachers)
        return {"method": "distill", "out": str(out / f"weaksup_{name}{_variant_tag(variant)}"),
                "holdout": args.holdout,
                "overrides": STUDENT_FIXED + [f"teacher={value}", "loss=weaksup", f"seed={seed}",
                                              f"steps={args.student_steps}", f"stride={args.stride}"] + variant}

    def train_and_score(jobs: list[dict]) -> list[dict]:
        list(pool.map(_train, jobs))
        return list(pool.map(_score, [{"run": j["out"], **common} for j in jobs]))

    def log(msg: str) -> None:
        print(f"[{time.time() - t0:.0f}s] {msg}", flush=True)

    with ProcessPoolExecutor(args.jobs) as pool:
        # 1. teacher schedule: one teacher per schedule (first seed, restart 0), scored on the held-out subject
        val_t = dict(zip(steps, train_and_score([teacher_job(s, seeds[0]) for s in steps])))
        best_s = min(steps, key=lambda s: _criterion(val_t[s]))
        log(f"teacher steps chosen on subject {args.holdout}: {best_s}")
        # 2. per seed, `restarts` teachers with the chosen schedule; the best on the held-out subject is kept
        restart_seeds = {seed: [restart_seed(seed, r) for r in range(args.restarts)] for seed in seeds}
        r_jobs = [teacher_job(best_s, rs) for seed in seeds for rs in restart_seeds[seed]]
        r_scores = dict(zip([j["out"] for j in r_jobs], train_and_score(r_jobs)))
        restarts, teacher, pools, knees = {}, {}, {}, {}
        for seed in seeds:
            if args.pool is not None:   # further restarts, one at a time, while the pool is too small
                from weakpose.methods.nrsfm.teacher import NRSfMConfig

                max_knees = NRSfMConfig().max_backward_knees
                while True:
                    runs = [teacher_job(best_s, rs)["out"] for rs in restart_seeds[seed]]
                    knees.update({r: _backward_knees(r, args.holdout) for r in runs if r not in knees})
                    pools[seed] = teacher_pool({r: r_scores[r] for r in runs}, knees, args.pool, max_knees)
                    if len(pools[seed]) >= args.pool_min or len(runs) >= max_restarts:
                        break
                    job = teacher_job(best_s, restart_seed(seed, len(runs)))
                    r_scores[job["out"]] = train_and_score([job])[0]
                    restart_seeds[seed].append(restart_seed(seed, len(runs)))
                log(f"seed {seed}: teacher pool {', '.join(Path(r).name for r in pools[seed]) or '(empty)'}")
            runs = [teacher_job(best_s, rs)["out"] for rs in restart_seeds[seed]]
            restarts[seed] = {Path(r).name: r_scores[r] for r in runs}
            teacher[seed] = min(runs, key=lambda r: _criterion(r_scores[r]))
            log(f"seed {seed}: teacher restart {Path(teacher[seed]).name} kept "
                f"({', '.join(f'{_criterion(r_scores[r]):.1f}' for r in runs)} mm)")
        # 3. β of Eq. 14 (first variant), then the student variant (chosen β), for students of the first
        #    seed's kept teacher
        def choose(cands: list[tuple[float, tuple]]) -> tuple[float, tuple]:
            todo = [c for c in cands if c not in val_s]
            jobs = [student_job(teacher[seeds[0]], b, list(v), seeds[0]) for b, v in todo]
            val_s.update(zip(todo, train_and_score(jobs)))
            return min(cands, key=lambda c: _criterion(val_s[c]))

        val_s: dict[tuple[float, tuple], dict] = {}
        best_b, _ = choose([(b, tuple(variants[0])) for b in betas])
        best_b, best_v = choose([(best_b, tuple(v)) for v in variants])
        cands = list(val_s)
        # 3b. prediction-only options (no retraining, e.g. test-time mirroring), chosen jointly with the
        #     student variant: every variant's student (chosen β) × every prediction option
        pairs = [(tuple(v), tuple(p)) for v in variants for p in pvariants]
        val_p = dict(zip(pairs, pool.map(_score, [
            {"run": student_job(teacher[seeds[0]], best_b, list(v), seeds[0])["out"], **common, "predict": list(p)}
            for v, p in pairs])))
        best_v, best_p = min(pairs, key=lambda vp: _criterion(val_p[vp]))
        best_p = list(best_p)
        log(f"student chosen on subject {args.holdout}: beta {best_b:g} {' '.join(best_v) or '(defaults)'}; "
            f"prediction {' '.join(best_p) or '(as trained)'}")
        # 3c. with --pool: a student of the first seed's teacher pool (chosen settings) against its
        #     single-teacher student on the held-out subject
        val_pool, use_pool = None, False
        if args.pool is not None and len(pools[seeds[0]]) > 1:
            run = pool.submit(_train, student_job(pools[seeds[0]], best_b, list(best_v), seeds[0])).result()
            val_pool = pool.submit(_score, {"run": run, **common, "predict": best_p}).result()
            use_pool = _criterion(val_pool) < _criterion(val_p[(tuple(best_v), tuple(best_p))])
            log(f"pool student of seed {seeds[0]} on subject {args.holdout}: {_criterion(val_pool):.2f} mm vs "
                f"{_criterion(val_p[(tuple(best_v), tuple(best_p))]):.2f} with one teacher: "
                f"{'pool' if use_pool else 'one teacher'} kept")
        source = pools if use_pool else teacher
        # 4. every seed: a student of its kept teacher (or pool) with the chosen settings; teachers and
        #    students on the test files
        s_fin = {seed: student_job(source[seed], best_b, list(best_v), seed) for seed in seeds}
        w_fin = {seed: weaksup_job(source[seed], list(best_v), seed) for seed in seeds} if args.weaksup else {}
        one = {seed: student_job(teacher[seed], best_b, list(best_v), seed) for seed in seeds} if use_pool else {}
        # --pool-always: the pool students also when the held-out subject did not choose them (not a choice)
        shown = use_pool or (args.pool_always and val_pool is not None)
        unchosen = {seed: student_job(pools[seed], best_b, list(best_v), seed)
                    for seed in seeds} if shown and not use_pool else {}
        list(pool.map(_train, list(s_fin.values()) + list(w_fin.values()) + list(one.values())
                      + list(unchosen.values())))
        fin_jobs = [("teacher", teacher[seed]) for seed in seeds] + [("student", s_fin[seed]["out"]) for seed in seeds]
        fin_jobs += [("weaksup", w_fin[seed]["out"]) for seed in w_fin]
        fin_jobs += [("student, one teacher", one[seed]["out"]) for seed in one]
        fin_jobs += [("student, teacher pool (not chosen)", unchosen[seed]["out"]) for seed in unchosen]
        members = sorted({r for seed in seeds for r in pools[seed]}) if shown else []
        fin_jobs += [("pool member", r) for r in members]
        scores = list(pool.map(_score, [{"run": r, **common, "holdout": None,
                                         "predict": best_p if kind.startswith(("student", "weaksup")) else []}
                                        for kind, r in fin_jobs]))
    test, runs, member_scores = {}, {}, {}
    for (kind, run), sc in zip(fin_jobs, scores):
        if kind == "pool member":
            member_scores[run] = sc
            continue
        test.setdefault(kind, []).append(sc)
        runs.setdefault(kind, []).append(Path(run).name)
    if members:   # per seed the mean of its pool members' scores
        test["teacher pool (member mean)"] = [
            {f: {m: float(np.mean([member_scores[r][f][m] for r in pools[seed]])) for m in sc0}
             for f, sc0 in member_scores[pools[seed][0]].items()} for seed in seeds]
        runs["teacher pool (member mean)"] = ["+".join(Path(r).name for r in pools[seed]) for seed in seeds]
    result = {
        "holdout": args.holdout, "val_stride": args.val_stride, "test_stride": args.test_stride,
        "restarts": args.restarts, "teacher_steps_chosen": best_s, "beta_chosen": best_b,
        "student_variant_chosen": list(best_v), "predict_variant_chosen": best_p, "seeds": seeds,
        "validation_teachers": {str(s): val_t[s] for s in steps},
        "validation_restarts": {str(k): v for k, v in restarts.items()},
        "validation_students": {f"{b:g}{_variant_tag(list(v))}": val_s[(b, v)] for b, v in cands},
        "validation_predict": {f"{best_b:g}{_variant_tag(list(v))}, prediction {' '.join(p) or 'as trained'}": sc
                               for (v, p), sc in val_p.items()},
        "final_runs": runs, "test_mean_sd": {k: _mean_sd(v) for k, v in test.items()}, "test_per_seed": test,
        "pool": None if args.pool is None else {
            "max_criterion": args.pool, "min": args.pool_min, "max_restarts": max_restarts, "used": use_pool,
            "teachers": {str(seed): [Path(r).name for r in pools[seed]] for seed in seeds},
            "backward_knees": {Path(r).name: k for r, k in knees.items()},
            "validation_student": val_pool,
            "test_members": {Path(r).name: sc for r, sc in member_scores.items()}},
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

    def val_row(name: str, sc: dict) -> str:
        return (f"| {name} | {sc['val_gt']['pa']:.1f} | {sc['val_detector']['pa']:.1f} | "
                f"{sc['val_gt']['pa_refl']:.1f} | {sc['val_gt']['depth']:.1f} |")

    for s, sc in r["validation_teachers"].items():
        lines.append(val_row(f"teacher, {s} steps", sc))
    for seed, runs in r["validation_restarts"].items():
        for run, sc in runs.items():
            kept = " (kept)" if run in r["final_runs"]["teacher"] else ""
            lines.append(val_row(f"seed {seed}: {run}{kept}", sc))
    for key, sc in r["validation_students"].items():
        lines.append(val_row(f"student β={key} (teacher {r['final_runs']['teacher'][0]})", sc))
    for key, sc in r.get("validation_predict", {}).items():
        lines.append(val_row(f"student β={key}", sc))
    pool = r.get("pool")
    if pool:
        lines += ["", (f"Teacher pools (held-out criterion ≤ {pool['max_criterion']:g} mm and backward knees ≤ the "
                       "teacher check's limit): " + "; ".join(
                           f"seed {s}: {', '.join(t) or '(none)'}" for s, t in pool["teachers"].items())),
                  "Backward knees on the training 2D: " + ", ".join(
                      f"{n} {100 * k:.1f} %" for n, k in sorted(pool["backward_knees"].items()))]
        if pool["validation_student"]:
            lines += ["", "| selection run | val PA (gt 2D) | val PA (det 2D) | val PA with reflections (gt) | "
                      "val depth (gt) |", "|---|---|---|---|---|",
                      val_row(f"student of seed {r['seeds'][0]}'s pool ({'used' if pool['used'] else 'not used'})",
                              pool["validation_student"])]
    chosen = " ".join(r["student_variant_chosen"] + r.get("predict_variant_chosen", [])) or "default settings"
    more = (f", up to {pool['max_restarts']} where a pool was too small"
            if pool and pool["max_restarts"] > r["restarts"] else "")
    lines += ["", (f"Chosen: teacher {r['teacher_steps_chosen']} steps "
                   f"(best of {r['restarts']} restarts per seed{more}), "
                   f"β = {r['beta_chosen']:g}, student {chosen}. Test files, every {r['test_stride']}th sample, "
                   f"mean ± sd over seeds {r['seeds']}:"), "",
              ("| model | gt2d PA | gt2d PA with reflections (as the papers) | gt2d MPJPE | gt2d depth | det2d PA | "
               "det2d PA with reflections | wild PA | wild PA with reflections |"),
              "|---|---|---|---|---|---|---|---|---|"]

    def fmt(m: dict, file: str, metric: str) -> str:
        mu, sd = m[file][metric]
        return f"{mu:.1f} ± {sd:.1f}"

    cols = [("h36mrig_gt2d", "pa"), ("h36mrig_gt2d", "pa_refl"), ("h36mrig_gt2d", "mpjpe"), ("h36mrig_gt2d", "depth"),
            ("h36mrig_det2d", "pa"), ("h36mrig_det2d", "pa_refl"), ("wild_det2d", "pa"), ("wild_det2d", "pa_refl")]
    for name, m in r["test_mean_sd"].items():
        lines.append(f"| {name} | " + " | ".join(fmt(m, f, k) for f, k in cols) + " |")
    lines += ["", "Per seed, PA-MPJPE without / with reflections (as the papers):", "",
              "| model | seed | run | gt2d | det2d | wild det2d |", "|---|---|---|---|---|---|"]
    for name, per_seed in r["test_per_seed"].items():
        for seed, run, sc in zip(r["seeds"], r["final_runs"][name], per_seed):
            lines.append(f"| {name} | {seed} | {run} | " + " | ".join(
                f"{sc[f]['pa']:.1f} / {sc[f]['pa_refl']:.1f}" for f in TEST_FILES) + " |")
    for run, sc in ((pool or {}).get("test_members") or {}).items():
        lines.append(f"| pool member | | {run} | " + " | ".join(
            f"{sc[f]['pa']:.1f} / {sc[f]['pa_refl']:.1f}" for f in TEST_FILES) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
