"""Choose the length of the Li & Lee CPU default on a HELD-OUT training subject (docs/hypotheses.md,
issue 16), never on the test subjects.

    PYTHONPATH=src python benchmarks/hypotheses_holdout.py --out runs/hyp_hold8 --holdout 8 --steps 4000,12000

Trains ``weakpose train hypotheses`` on the training subjects minus ``--holdout`` (both the 2D
views and the unpaired 3D set lose that subject), stops at each step count of ``--steps`` (the
step-based learning-rate decay does not depend on the total, so a stop at 4,000 steps is the
4,000-step default), scores the zero-code pose and the mean-shift mode on the held-out subject's
h36m-rig views (exact and simulated-detector 2D, ``--noise``; every ``--val-stride``-th frame),
and resumes. Prints PA-MPJPE without and with reflections, the mirrored share and the
depth-less baseline; writes ``OUT_holdout.json``.
The trainer's default monitor is transductive (frames of the subjects whose 3D poses the critic
learns), which is why this check exists.
"""

from __future__ import annotations

import argparse
import json

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--holdout", type=int, default=8)
    ap.add_argument("--steps", default="4000,12000", help="comma-separated step counts to score at")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--val-stride", type=int, default=4)
    ap.add_argument("--noise", default="gt,detector",
                    help="comma-separated 2D kinds of the held-out views to score: "
                         "exact 'gt' and/or simulated 'detector'")
    ap.add_argument("--score-only", action="store_true", help="score the finished run in --out, no training")
    ap.add_argument("--outputs", action="store_true",
                    help="also score the zero code under every output option: flip_choice on/off x "
                         "input_xy never/always (not in the paper but flip_choice=false input_xy=never)")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="config overrides of the trained run (e.g. camera_sides=2)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from weakpose.data import mocap

    mocap.TRAIN_SUBJECTS = tuple(s for s in mocap.TRAIN_SUBJECTS if s != args.holdout)
    from weakpose.baselines import depthless_poses
    from weakpose.data.benchmark import make_split
    from weakpose.data.contracts import Keypoints2D
    from weakpose.data.paths import data_root
    from weakpose.data.statistics import mean_bone_lengths
    from weakpose.inference_api import load_predictor
    from weakpose.metrics import pa_mpjpe, pa_mpjpe_with_reflections
    from weakpose.training import train

    bank = mocap.load_cmu(data_root(), mocap.TRAIN_SUBJECTS).positions
    vals = {n: make_split(data_root(), (args.holdout,), rig="h36m", noise=n, seed=0, stride=args.val_stride)
            for n in args.noise.split(",")}
    gt = torch.from_numpy(next(iter(vals.values()))["positions_3d"]).double()
    res = {"train_subjects": list(mocap.TRAIN_SUBJECTS), "holdout": args.holdout, "samples": len(gt)}
    for noise, val in vals.items():
        flat = depthless_poses(Keypoints2D(val["keypoints_2d"], val["confidence"], val["intrinsics"]),
                               mean_bone_lengths(bank))
        res[f"depthless_pa_mpjpe_{noise}"] = float(pa_mpjpe(torch.from_numpy(flat).double(), gt).mean())
        print(f"trained on subjects {mocap.TRAIN_SUBJECTS}, scored on subject {args.holdout} ({len(gt)} samples, "
              f"{noise} 2D); depth-less baseline PA-MPJPE {res[f'depthless_pa_mpjpe_{noise}']:.1f} mm", flush=True)

    def scores(poses) -> dict[str, float]:
        p = torch.from_numpy(poses).double()
        a, r = pa_mpjpe(p, gt), pa_mpjpe_with_reflections(p, gt)
        return {"pa_mpjpe": float(a.mean()), "pa_mpjpe_reflections": float(r.mean()),
                "mirrored": float((r < a - 1.0).double().mean())}

    stops = sorted(int(s) for s in args.steps.split(","))
    for i, stop in enumerate(stops[-1:] if args.score_only else stops):
        final = stop == stops[-1]
        # stop_after counts the steps of this invocation, not the run's step number
        if not args.score_only:
            train("hypotheses", args.out, progress=False, resume=i > 0,
                  overrides=[f"steps={stops[-1]}", "eval_every=0", f"seed={args.seed}", *args.set],
                  stop_after=None if final else stop - (stops[i - 1] if i else 0))
        if not final and torch.load(f"{args.out}/last.pt", weights_only=True, map_location="cpu")["step"] != stop:
            raise SystemExit(f"{args.out}/last.pt is not at step {stop}")
        pred = load_predictor(args.out if final else f"{args.out}/last.pt")
        for noise, val in vals.items():
            kp, conf = val["keypoints_2d"], val["confidence"]
            out = pred.predict_arrays(kp, conf, num_hypotheses=0, meanshift_samples=100)
            row = {name: scores(out[key]) for name, key in (("zero code", "positions_3d_zero_code"),
                                                             ("mean-shift", "positions_3d_meanshift"))}
            z, m = row["zero code"], row["mean-shift"]
            print(f"{stop} steps, {noise} 2D: zero code PA-MPJPE {z['pa_mpjpe']:.1f} mm (with reflections "
                  f"{z['pa_mpjpe_reflections']:.1f}, {100 * z['mirrored']:.0f}% mirrored), "
                  f"mean-shift {m['pa_mpjpe']:.1f} mm", flush=True)
            if args.outputs:
                for flip in (False, True):
                    for xy in ("never", "always"):
                        o = pred.predict_arrays(kp, conf, num_hypotheses=0, meanshift_samples=0, selection="zero",
                                                flip_choice=flip, input_xy=xy)
                        z = row[f"zero code, flip_choice={flip}, input_xy={xy}"] = scores(o["positions_3d_zero_code"])
                        print(f"  flip_choice={flip!s:5} input_xy={xy:6}: zero code PA-MPJPE {z['pa_mpjpe']:.1f} mm "
                              f"(with reflections {z['pa_mpjpe_reflections']:.1f}, "
                              f"{100 * z['mirrored']:.1f}% mirrored)", flush=True)
            res[f"{stop}" if noise == "gt" else f"{stop}_{noise}"] = row
    with open(f"{args.out}_holdout{'_scored' if args.score_only else ''}.json", "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
