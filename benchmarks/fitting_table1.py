"""Zanfir et al. Table 1 on CMU-WS: fitting with different priors, spaces, rotation
representations and losses, from ground-truth 2D joints (and part masks rendered from the
true pose, as the paper does to isolate the prior), on a subset of the test subjects' frames.

    PYTHONPATH=src python benchmarks/fitting_table1.py --prior runs/prior --frames 96 --out docs/flows_table1.json
    PYTHONPATH=src python benchmarks/fitting_table1.py --prior runs/prior --temporal --out docs/flows_temporal.json

Subset: ``--frames`` samples of ``cmu_test_h36mrig_gt2d.npz`` taken at a fixed stride over the
file (all actions, subjects and the four cameras). Temporal: ``--windows`` blocks of 16
consecutive frames (one camera, one clip each) fitted per frame and with windows of 4, 8, 16.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from weakpose.data.contracts import load_benchmark
from weakpose.data.paths import benchmark_file, data_root
from weakpose.methods.flows.fitting.fit import FitConfig, Fitter, root_relative
from weakpose.methods.flows.fitting.pose_space import PoseSpace
from weakpose.methods.flows.fitting.predictor import masks_to_pixel_sets
from weakpose.methods.flows.prior import load_prior_run
from weakpose.metrics import mpjpe, pa_mpjpe

ROWS = [  # prior, representation, space, use BA
    ("gmm", "aa", "ambient", False), ("gmm", "aa", "ambient", True),
    ("vae", "6d", "latent", False), ("vae", "aa", "latent", False),
    ("nf", "aa", "ambient", False), ("nf", "aa", "ambient", True),
    ("nf", "aa", "latent", False), ("nf", "aa", "latent", True),
    ("nf", "6d", "ambient", False), ("nf", "6d", "ambient", True),
    ("nf", "6d", "latent", False), ("nf", "6d", "latent", True),
    ("nf-prelu", "aa", "latent", False),
    # controls (issue 16): ambient flow fit from f⁻¹(0), and with the full −log p(θ) (rows 13, 14)
    ("nf", "aa", "ambient-mode", False), ("nf", "aa", "ambient-mode-density", False),
]


def render_masks(positions_3d: np.ndarray, K: np.ndarray, image_size: np.ndarray, scale: int):
    """Part masks of the true poses at 1/scale resolution, as (pixels, labels) sets."""
    from weakpose.rendering import render_batch

    S = np.diag([1.0 / scale, 1.0 / scale, 1.0]).astype(np.float32)
    Ks = S @ K
    w, h = (int(image_size[0, 0]) // scale, int(image_size[0, 1]) // scale)
    out = render_batch(torch.from_numpy(positions_3d), torch.from_numpy(Ks), w, h, tile=8)
    return masks_to_pixel_sets(out.parts.numpy(), max_pixels=256, scale=float(scale)), out.parts.numpy()


def evaluate(bundle, prior, rep, space, use_ba, kp, K, gt, masks, cfg: FitConfig):
    # "ambient-mode": start at f⁻¹(0); "ambient-mode-density": also the full −log p(θ) (controls)
    sp = PoseSpace(bundle.get(prior, rep), rep, space == "latent", start="mode" if "mode" in space else "zero",
                   energy="density" if space.endswith("density") else "latent")
    c = FitConfig(**{**cfg.__dict__, "w_ba": cfg.w_ba if use_ba else 0.0})
    res = Fitter(bundle.body, sp, c).fit(kp, K, None, masks if use_ba else None)
    pred = root_relative(res.joints_cam)
    return {"prior": prior, "rep": rep, "space": space, "loss": "KA+BA" if use_ba else "KA",
            "mpjpe": float(mpjpe(pred, gt).mean()), "pa_mpjpe": float(pa_mpjpe(pred, gt).mean()),
            "ms_per_frame": 1000 * res.seconds / len(kp)}, res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prior", required=True)
    ap.add_argument("--frames", type=int, default=96)
    ap.add_argument("--iterations", type=int, default=150)
    ap.add_argument("--w-ba", type=float, default=1.0)
    ap.add_argument("--mask-scale", type=int, default=4)
    ap.add_argument("--rows", default="all", help="comma-separated row indices or 'all'")
    ap.add_argument("--temporal", action="store_true")
    ap.add_argument("--windows", type=int, default=6, help="number of 16-frame blocks for --temporal")
    ap.add_argument("--bench", default="h36mrig_gt2d", help="test file (h36mrig_gt2d, h36mrig_det2d)")
    ap.add_argument("--smooth-factor", type=float, default=50.0, help="Eq. 12 weight / prior weight (paper: 50)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--save-subset", default=None, metavar="DIR",
                    help="also write DIR/2d.npz (the subset) and DIR/masks.npz (its part masks) for `weakpose fit`")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    bundle, _ = load_prior_run(args.prior)
    bench = load_benchmark(benchmark_file(data_root(), args.bench))
    n = len(bench.positions_3d)
    cfg = FitConfig(stage2_iters=args.iterations, w_ba=args.w_ba, smooth_factor=args.smooth_factor)
    results = []
    if not args.temporal:
        idx = np.linspace(0, n - 1, args.frames).round().astype(int)
        kp = torch.from_numpy(bench.inputs.keypoints_2d[idx])
        K = torch.from_numpy(bench.inputs.intrinsics[idx])
        gt = bench.positions_3d[idx]
        t0 = time.time()
        masks, parts = render_masks(
            gt, bench.inputs.intrinsics[idx], bench.inputs.extras["image_size"][idx], args.mask_scale
        )
        print(f"rendered {len(idx)} masks in {time.time() - t0:.1f}s", flush=True)
        if args.save_subset:
            from weakpose.data.contracts import save_npz_atomic

            d = Path(args.save_subset)
            d.mkdir(parents=True, exist_ok=True)
            raw = np.load(bench.path)
            save_npz_atomic(
                d / "2d.npz", **{k: raw[k][idx] for k in raw.files if raw[k].ndim >= 1 and len(raw[k]) == n}
            )
            save_npz_atomic(d / "masks.npz", parts=parts, mask_scale=np.float32(args.mask_scale))
        rows = ROWS if args.rows == "all" else [ROWS[int(i)] for i in args.rows.split(",")]
        for row in rows:
            r, _ = evaluate(bundle, *row, kp, K, gt, masks, cfg)
            results.append(r)
            print(json.dumps(r), flush=True)
        meta = {"frames": idx.tolist()}
    else:
        ex = bench.inputs.extras
        cam = np.asarray(ex["camera_index"])
        fidx = np.asarray(ex["frame_index"])
        rng = np.random.default_rng(0)
        blocks = []
        keys = np.char.add(np.asarray(ex["sequence"]).astype(str), cam.astype(str))
        for key in rng.permutation(np.unique(keys)):
            rows_k = np.flatnonzero(keys == key)
            rows_k = rows_k[np.argsort(fidx[rows_k])]
            if len(rows_k) >= 16:
                s = rng.integers(0, len(rows_k) - 15)
                blocks.append(rows_k[s : s + 16])
            if len(blocks) == args.windows:
                break
        idx = np.concatenate(blocks)
        kp = torch.from_numpy(bench.inputs.keypoints_2d[idx])
        K = torch.from_numpy(bench.inputs.intrinsics[idx])
        conf = torch.from_numpy(bench.inputs.confidence[idx])
        gt = bench.positions_3d[idx]
        sp = PoseSpace(bundle.get("nf", "aa"), "aa", True)
        fitter = Fitter(bundle.body, sp, cfg)
        res = fitter.fit(kp, K, conf)
        pred = root_relative(res.joints_cam)
        results.append(
            {
                "window": 1,
                "mpjpe": float(mpjpe(pred, gt).mean()),
                "pa_mpjpe": float(pa_mpjpe(pred, gt).mean()),
                "ms_per_frame": 1000 * res.seconds / len(idx),
            }
        )
        print(json.dumps(results[-1]), flush=True)
        for w in (4, 8, 16):
            ref = fitter.fit_windows(res, kp, K, conf, w)
            pred = root_relative(ref.joints_cam)
            results.append(
                {
                    "window": w,
                    "mpjpe": float(mpjpe(pred, gt).mean()),
                    "pa_mpjpe": float(pa_mpjpe(pred, gt).mean()),
                    "ms_per_frame": 1000 * (res.seconds + ref.seconds) / len(idx),
                }
            )
            print(json.dumps(results[-1]), flush=True)
        meta = {"frames": idx.tolist(), "sequences": sorted(set(np.asarray(ex["sequence"])[idx].tolist()))}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"results": results, "config": cfg.__dict__, **meta}, indent=1))


if __name__ == "__main__":
    main()
