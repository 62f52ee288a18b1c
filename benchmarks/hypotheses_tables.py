"""Accuracy and diversity tables of Li & Lee 2020 on CMU-WS (docs/hypotheses.md, Tables 1-4).

Usage:
  PYTHONPATH=src python benchmarks/hypotheses_tables.py accuracy RUN_DIR --test TEST [--missing K] [--every N]
  PYTHONPATH=src python benchmarks/hypotheses_tables.py diversity RUN_DIR [--every N]
  PYTHONPATH=src python benchmarks/hypotheses_tables.py figure RUN_DIR --out docs/figures/hypotheses_fps.png
  PYTHONPATH=src python benchmarks/hypotheses_tables.py exemplar - --test h36mrig_gt2d [--every N]
  PYTHONPATH=src python benchmarks/hypotheses_tables.py mirrors RUN_DIR --test monitor
  PYTHONPATH=src python benchmarks/hypotheses_tables.py speed RUN_DIR --test h36mrig_gt2d --every 5 --threads 1

``accuracy`` (``--paper-output``: without the test-time flip choice and with the generated x, y,
as the paper; ``--[no-]flip-choice``, ``--input-xy never|exact|always``: one of them) prints camera-frame
MPJPE (protocol #1) and PA-MPJPE (protocol #2) for the zero-code pose, the mean-shift mode (of
100 samples) and the best-of-10 hypotheses (ORACLE: chosen with the ground truth). ``--missing K``
hides K random limb joints of every test pose (seed 0; paper Table 3). ``diversity`` prints
Table 4's STD (10 hypotheses) and STD-FPS (5 of 100 by farthest point sampling), in mm of the
camera-frame, bone-length-scaled poses.
RUN_DIR is a ``weakpose train hypotheses`` folder (its model.pt) or a model file.
``--test train`` evaluates on the training subjects' own 2D views (h36m rig, exact projections,
every 2nd frame as in training): a transductive diagnostic, since the model saw these 2D poses
(never their 3D). ``--test monitor`` evaluates on the 1,024 training-subject samples the trainer
monitors (``weakpose.data.benchmark.training_monitor_split``), the set runs are chosen on.
``accuracy`` also prints where depth mirrors come from: the share of mirrored samples whose
predicted camera sees the torso from the wrong side (azimuth sign), and how often the predicted
and true cameras look down on the torso; ``mirrors`` whether the mirrored zero-code poses are
less plausible (farther from the unpaired 3D set) than their own mirror images. ``exemplar``
scores ``weakpose.baselines.exemplar_poses`` with the training
subjects' mocap as the bank: the nearest 2D-consistent pose of the unpaired 3D set, no learning.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from weakpose.camera import rotation_from_2x3
from weakpose.data.contracts import load_benchmark
from weakpose.data.paths import benchmark_file, data_root
from weakpose.methods.hypotheses.core import HypothesesPredictor, zero_code_fit
from weakpose.methods.hypotheses.data import mask_random_limb_joints
from weakpose.methods.hypotheses.meanshift import farthest_point_sampling, hypothesis_std
from weakpose.metrics import evaluate_predictions


def load_predictor(run: str) -> HypothesesPredictor:
    """The predictor of a run folder (its model.pt) or a checkpoint file (e.g. last.pt)."""
    from weakpose.inference_api import load_predictor as load

    pred = load(run)
    if not isinstance(pred, HypothesesPredictor):
        raise SystemExit(f"{run}: not a hypotheses model")
    return pred


def _test(name: str, every: int, missing: int, with_intrinsics: bool = False):
    if name == "monitor":  # the trainer's monitor set (training subjects, one rig camera each)
        from weakpose.data.benchmark import training_monitor_split

        split = training_monitor_split(data_root(), 1024)
        kp_all, conf_all, pos, K_all = (split["keypoints_2d"], split["confidence"], split["positions_3d"],
                                        split["intrinsics"])
        act_all = None
    elif name == "train":  # the training subjects' 2D views, as the model saw them
        from weakpose.data.benchmark import make_split
        from weakpose.data.mocap import TRAIN_SUBJECTS

        split = make_split(data_root(), TRAIN_SUBJECTS, rig="h36m", noise="gt", seed=0, stride=2)
        kp_all, conf_all, pos, K_all = (split["keypoints_2d"], split["confidence"], split["positions_3d"],
                                        split["intrinsics"])
        act_all = None
    else:
        bench = load_benchmark(benchmark_file(data_root(), name))
        kp_all, conf_all, pos, K_all = (bench.inputs.keypoints_2d, bench.inputs.confidence, bench.positions_3d,
                                        bench.inputs.intrinsics)
        act_all = bench.action
    idx = np.arange(0, len(pos), every)  # test files are frame-major x 4 views: use an odd stride
    kp = kp_all[idx].copy()
    conf = conf_all[idx].copy()
    if missing:
        x, vis = mask_random_limb_joints(torch.from_numpy(kp), torch.from_numpy(conf > 0).float(), missing,
                                         torch.Generator().manual_seed(0))
        kp, conf = x.numpy(), conf * vis.numpy()
    act = None if act_all is None else act_all[idx]
    if with_intrinsics:
        return kp, conf, pos[idx], act, K_all[idx]
    return kp, conf, pos[idx], act


def exemplar(args) -> dict:
    from weakpose.baselines import exemplar_poses
    from weakpose.data.contracts import Keypoints2D
    from weakpose.data.mocap import TRAIN_SUBJECTS, load_cmu
    from weakpose.data.statistics import mean_bone_lengths
    kp, conf, gt, act = _test(args.test, args.every, args.missing)
    bank = load_cmu(data_root(), TRAIN_SUBJECTS).positions
    poses, residual = exemplar_poses(Keypoints2D(kp, conf, None), bank, mean_bone_lengths(bank))
    r = evaluate_predictions(poses, gt, act)
    pa_refl = float(_pa_per_sample(poses, gt)[0].mean())
    oracle = _closest_bank_pose_pa(gt, bank)
    print(f"{args.test}, every {args.every}th sample ({len(gt)}), bank: {len(bank)} training-subject poses")
    print(f"nearest 2D-consistent exemplar: PA-MPJPE {r['pa_mpjpe']:.1f} mm (allowing reflections "
          f"{pa_refl:.1f}), MPJPE {r['mpjpe']:.1f} mm, mean affine residual {residual.mean():.4f}")
    refl, norefl = _pa_per_sample(poses, gt)
    print(f"samples whose exemplar is closer to the mirror image of the truth: "
          f"{100 * float((refl < norefl - 1.0).double().mean()):.1f}%")
    print(f"ORACLE, the bank pose closest to the ground truth: PA-MPJPE {oracle:.1f} mm")
    return {"pa_mpjpe": r["pa_mpjpe"], "pa_mpjpe_reflections": pa_refl, "mpjpe": r["mpjpe"],
            "residual": float(residual.mean()), "oracle_bank_pa_mpjpe": oracle}


def _pa_per_sample(pred: np.ndarray, gt: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample PA-MPJPE (mm) of root-relative poses (allowing reflections, not allowing them):
    a diagnostic of depth mirror images, not a protocol metric."""
    from weakpose.metrics import pa_mpjpe, pa_mpjpe_with_reflections

    p, g = torch.from_numpy(pred).double(), torch.from_numpy(gt).double()
    return pa_mpjpe_with_reflections(p, g), pa_mpjpe(p, g)


def _torso_view(poses: np.ndarray, template: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The camera's viewing direction (camera +z) in the torso frame of camera-frame poses
    [N, 17, 3]: its component to the body's left (+x of the template; its sign is the side the
    camera sees the body from) and downward along the torso (+y; > 0: the camera looks down)."""
    from weakpose.geometry.procrustes import procrustes
    from weakpose.methods.hypotheses.data import TORSO

    p = torch.from_numpy(poses).double()
    src = (p - p[:, :1])[:, list(TORSO)]
    R, _, _ = procrustes(src, template.expand_as(src), scale=True, reflection=False)
    return R[:, 0, 2], R[:, 1, 2]


def _closest_bank_pose_pa(gt: np.ndarray, bank: np.ndarray, shortlist: int = 20) -> float:
    """ORACLE: mean PA-MPJPE (mm) of the bank pose closest to each ground-truth pose: the best of
    the ``shortlist`` nearest in the template frame (an upper bound of the exact PA-nearest)."""
    from weakpose.geometry.procrustes import procrustes_align
    from weakpose.methods.hypotheses.data import align_to_template, torso_template

    tpl = torch.from_numpy(torso_template(bank)).double()
    bank_t = align_to_template(torch.from_numpy(bank).double(), tpl).reshape(len(bank), -1)
    bank_mm = torch.from_numpy(bank - bank[:, :1]).double()
    gt_mm = torch.from_numpy(gt - gt[:, :1]).double()
    gt_t = align_to_template(gt_mm, tpl).reshape(len(gt), -1)
    best = []
    for i in range(0, len(gt), 100):
        top = torch.cdist(gt_t[i:i + 100], bank_t).topk(shortlist, largest=False).indices
        cand = bank_mm[top].reshape(-1, 17, 3)
        g = gt_mm[i:i + 100, None].expand(-1, shortlist, -1, -1).reshape(-1, 17, 3)
        err = (procrustes_align(cand, g) - g).norm(dim=-1).mean(-1).reshape(-1, shortlist)
        best.append(err.min(1).values)
    return float(torch.cat(best).mean())


def accuracy(args) -> dict:
    pred = load_predictor(args.run)
    kp, conf, gt, act, K = _test(args.test, args.every, args.missing, with_intrinsics=True)
    opts = {"flip_choice": False, "input_xy": "never"} if args.paper_output else {}
    chosen = (("flip_choice", args.flip_choice), ("input_xy", args.input_xy))
    opts |= {k: v for k, v in chosen if v is not None}
    out = pred.predict_arrays(kp, conf, num_hypotheses=10, meanshift_samples=100, **opts)
    rows = {}
    from weakpose.baselines import depthless_poses
    from weakpose.data.contracts import Keypoints2D

    flat = depthless_poses(Keypoints2D(kp, conf, K), pred.mean_bones.numpy())
    r = evaluate_predictions(flat, gt)
    rows["depth-less baseline"] = {"mpjpe": r["mpjpe"], "pa_mpjpe": r["pa_mpjpe"], "pck150": r["pck150"]}
    for label, key in (("zero code", "positions_3d_zero_code"), ("mean-shift", "positions_3d_meanshift")):
        r = evaluate_predictions(out[key], gt, act, hypotheses=out["hypotheses"] if label == "zero code" else None)
        rows[label] = {"mpjpe": r["mpjpe"], "pa_mpjpe": r["pa_mpjpe"], "pck150": r["pck150"]}
        if "oracle" in r:
            o = r["oracle"]
            rows["best-of-10 (ORACLE)"] = {"mpjpe": o["mpjpe"], "pa_mpjpe": o["pa_mpjpe"], "pck150": o["pck150"]}
    # diagnostic (not a protocol metric): how much of the error is a depth mirror image
    pa_refl, pa_norefl = _pa_per_sample(out["positions_3d_zero_code"], gt)
    rows["zero code, PA allowing reflections (diagnostic)"] = {
        "mpjpe": float("nan"), "pa_mpjpe": float(pa_refl.mean()), "pck150": float("nan"),
        "mirrored_fraction": float((pa_refl < pa_norefl - 1.0).double().mean())}
    # diagnostic: the zero-code depth under the input's own x, y (least-squares scaled) -- how
    # informative the generated depth is, separately from how well the pose fits the 2D
    zc = out["positions_3d_zero_code"].astype(np.float64)
    xy = flat[..., :2].astype(np.float64)
    a = (xy * zc[..., :2]).sum((1, 2)) / np.maximum((xy ** 2).sum((1, 2)), 1e-12)
    hybrid = np.concatenate([a[:, None, None] * xy, zc[..., 2:]], -1).astype(np.float32)
    r = evaluate_predictions(hybrid, gt)
    rows["input x, y + zero-code depth (diagnostic)"] = {"mpjpe": r["mpjpe"], "pa_mpjpe": r["pa_mpjpe"],
                                                         "pck150": r["pck150"]}
    print(f"{args.test}, every {args.every}th sample ({len(gt)}), missing limb joints: {args.missing}")
    print(f"{'':50s}{'MPJPE':>8s}{'PA-MPJPE':>10s}{'PCK150':>8s}")
    for k, v in rows.items():
        print(f"{k:50s}{v['mpjpe']:8.1f}{v['pa_mpjpe']:10.1f}{v['pck150']:8.1f}")
    mirrored = pa_refl < pa_norefl - 1.0
    print(f"samples whose zero-code pose is closer to the mirror image of the truth: "
          f"{100 * float(mirrored.double().mean()):.1f}%")
    from weakpose.data.mocap import TRAIN_SUBJECTS, load_cmu
    from weakpose.methods.hypotheses.data import torso_template

    tpl = torch.from_numpy(torso_template(load_cmu(data_root(), TRAIN_SUBJECTS).positions)).double()
    side_gt, down_gt = _torso_view(gt, tpl)
    side, down = _torso_view(out["positions_3d_zero_code"], tpl)
    wrong_side = side * side_gt < 0
    share = {k: 100 * float(wrong_side[m].double().mean()) for k, m in (("mirrored", mirrored), ("others", ~mirrored))}
    print(f"camera on the wrong side of the body (azimuth sign): {share['mirrored']:.1f}% of mirrored samples, "
          f"{share['others']:.1f}% of the others")
    print(f"camera looks down on the torso: predicted {100 * float((down > 0).double().mean()):.1f}%, "
          f"truth {100 * float((down_gt > 0).double().mean()):.1f}% (mean sine {float(down.mean()):.3f} vs "
          f"{float(down_gt.mean()):.3f})")
    rows["mirror diagnostics"] = {"wrong_side_mirrored": share["mirrored"] / 100,
                                  "wrong_side_others": share["others"] / 100,
                                  "looks_down_pred": float((down > 0).double().mean()),
                                  "looks_down_truth": float((down_gt > 0).double().mean())}
    return rows


def mirrors(args) -> dict:
    """Are the depth-mirrored zero-code poses implausible? Template-frame distance of each
    zero-code pose and of its exact mirror image (same 2D, camera M·F) to the nearest pose of
    the unpaired 3D set, and the reprojection loss L_2D, for mirrored and other samples."""
    from weakpose.data.mocap import TRAIN_SUBJECTS, load_cmu
    from weakpose.methods.hypotheses import losses as L
    from weakpose.methods.hypotheses.data import align_to_template, joint_weights, normalise_2d, torso_template

    pred = load_predictor(args.run)
    kp, conf, gt, _ = _test(args.test, args.every, 0)
    bank = load_cmu(data_root(), TRAIN_SUBJECTS).positions
    tpl = torch.from_numpy(torso_template(bank))
    bank_t = align_to_template(torch.from_numpy(bank).double(), tpl.double()).float().reshape(len(bank), -1)
    flip = torch.tensor([1.0, 1.0, -1.0])
    with torch.no_grad():
        x, vis = normalise_2d(torch.from_numpy(kp).float(), torch.from_numpy(conf).float())
        y, M, _, _ = zero_code_fit(pred.net, pred.net.features(x), x, joint_weights(vis, pred.cfg.head_weight))
        nearest = {k: torch.cat([torch.cdist(align_to_template(v[i:i + 256], tpl).reshape(-1, 51), bank_t).min(1).values
                                 for i in range(0, len(v), 256)]) for k, v in (("pose", y), ("mirror", y * flip))}
        w = joint_weights(vis, pred.cfg.head_weight)
        l2d = torch.stack([L.reprojection_loss(M[i:i + 1], y[i:i + 1], x[i:i + 1], w[i:i + 1]) for i in range(len(x))])
        cam = pred.to_camera_mm(y, rotation_from_2x3(M))
        # a test-time remedy: keep whichever of the pose and its mirror is nearer the unpaired set
        nearer = nearest["mirror"] < nearest["pose"]
        chosen = torch.where(nearer[:, None, None], pred.to_camera_mm(y * flip, rotation_from_2x3(M * flip)), cam)
    refl, norefl = _pa_per_sample(cam.numpy(), gt)
    refl_c, norefl_c = _pa_per_sample(chosen.numpy(), gt)
    mirrored = refl < norefl - 1.0
    res = {}
    share = 100 * float(mirrored.double().mean())
    print(f"{args.test}, every {args.every}th sample ({len(gt)}): {share:.1f}% mirrored")
    print(f"{'':10s}{'PA-MPJPE':>10s}{'NN pose':>9s}{'NN mirror':>11s}{'L_2D':>7s}  (NN: template units ~ m)")
    for name, m in (("mirrored", mirrored), ("others", ~mirrored)):
        res[name] = {"pa_mpjpe": float(norefl[m].mean()), "nn_pose": float(nearest["pose"][m].mean()),
                     "nn_mirror": float(nearest["mirror"][m].mean()), "l2d": float(l2d[m].mean())}
        r = res[name]
        print(f"{name:10s}{r['pa_mpjpe']:10.1f}{r['nn_pose']:9.3f}{r['nn_mirror']:11.3f}{r['l2d']:7.3f}")
    res["nearest_choice"] = {"flipped": float(nearer.double().mean()), "pa_mpjpe": float(norefl_c.mean()),
                             "pa_mpjpe_before": float(norefl.mean()),
                             "mirrored": float((refl_c < norefl_c - 1.0).double().mean())}
    r = res["nearest_choice"]
    print(f"mirror chosen where it is nearer the unpaired set: {100 * r['flipped']:.1f}% flipped, PA-MPJPE "
          f"{r['pa_mpjpe_before']:.1f} -> {r['pa_mpjpe']:.1f} mm, {100 * r['mirrored']:.1f}% mirrored")
    return res


def speed(args) -> dict:
    """What the mirror remedies cost: prediction throughput of RUN (poses/s) with and without the
    flip choice, for the zero code alone and for the default output (100 mean-shift samples, 10
    hypotheses); and seconds per training step of the CPU default with one and two camera sides
    (``--steps`` steps after 5 warm-up steps, default data)."""
    import time

    from weakpose.methods.hypotheses.core import HypothesesCore, HypothesesSettings

    pred = load_predictor(args.run)
    kp, conf, _, _ = _test(args.test, args.every, 0)
    res = {}
    for flip in (True, False):
        for label, opts in (("zero code", {"num_hypotheses": 0, "meanshift_samples": 0, "selection": "zero"}),
                            ("default output", {"num_hypotheses": 10, "meanshift_samples": 100})):
            t = time.perf_counter()
            pred.predict_arrays(kp, conf, flip_choice=flip, **opts)
            rate = len(kp) / (time.perf_counter() - t)
            res[f"predict {label}, flip_choice={flip}"] = rate
            print(f"predict ({args.test}, {len(kp)} samples) {label:15s} flip_choice={flip!s:5}: {rate:8.0f} poses/s")
    for sides in (1, 2):
        core = HypothesesCore(HypothesesSettings(camera_sides=sides, monitor_every=0), data_root())
        for step in range(5):
            core.step(step)
        t = time.perf_counter()
        for step in range(5, 5 + args.steps):
            core.step(step)
        sec = (time.perf_counter() - t) / args.steps
        res[f"train s/step, camera_sides={sides}"] = sec
        print(f"training step, camera_sides={sides}: {sec:.4f} s ({args.steps} steps)")
    return res


def diversity(args) -> dict:
    pred = load_predictor(args.run)
    kp, conf, _, _ = _test(args.test, args.every, 0)
    out = pred.predict_arrays(kp, conf, num_hypotheses=100, meanshift_samples=0, selection="zero")
    h = torch.from_numpy(out["hypotheses"])
    std10 = hypothesis_std(h[:, :10]).mean().item()
    idx = farthest_point_sampling(h, 5)
    fps = torch.gather(h, 1, idx[:, :, None, None].expand(-1, -1, 17, 3))
    std_fps = hypothesis_std(fps).mean().item()
    print(f"{args.test}, every {args.every}th sample ({len(h)}): STD {std10:.1f} mm, STD-FPS {std_fps:.1f} mm")
    return {"std": std10, "std_fps": std_fps}


def figure(args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from weakpose.skeleton import H36M17

    pred = load_predictor(args.run)
    bench = load_benchmark(benchmark_file(data_root(), args.test))
    rows = [int(i) for i in args.samples.split(",")]
    kp, conf, gt = bench.inputs.keypoints_2d[rows], bench.inputs.confidence[rows], bench.positions_3d[rows]
    out = pred.predict_arrays(kp, conf, num_hypotheses=100, meanshift_samples=0, selection="zero")
    h = torch.from_numpy(out["hypotheses"])
    sel = torch.gather(h, 1, farthest_point_sampling(h, 5)[:, :, None, None].expand(-1, -1, 17, 3)).numpy()
    colours = ["tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple"]
    fig = plt.figure(figsize=(16, 2.3 * len(rows)))
    ncol = 8

    def draw3d(ax, p, c):
        p = p - p[0]
        for a, b in H36M17.bones:  # camera frame: x right, y down, z forward -> plot (x, z, -y)
            ax.plot([p[a, 0], p[b, 0]], [p[a, 2], p[b, 2]], [-p[a, 1], -p[b, 1]], color=c, lw=1.5)
        ax.set_xlim(-650, 650), ax.set_ylim(-650, 650), ax.set_zlim(-650, 650)
        ax.set_xticks([]), ax.set_yticks([]), ax.set_zticks([])
        ax.view_init(elev=10, azim=-60)

    for r in range(len(rows)):
        ax = fig.add_subplot(len(rows), ncol, r * ncol + 1)
        p2 = kp[r] - kp[r, 0]
        for a, b in H36M17.bones:
            ax.plot([p2[a, 0], p2[b, 0]], [-p2[a, 1], -p2[b, 1]], "k-", lw=1.5)
        ax.set_aspect("equal"), ax.axis("off")
        if r == 0:
            ax.set_title("input 2D")
        ax = fig.add_subplot(len(rows), ncol, r * ncol + 2, projection="3d")
        draw3d(ax, gt[r], "k")
        if r == 0:
            ax.set_title("ground truth")
        ax2 = fig.add_subplot(len(rows), ncol, r * ncol + 8)
        for k in range(5):
            ax = fig.add_subplot(len(rows), ncol, r * ncol + 3 + k, projection="3d")
            draw3d(ax, sel[r, k], colours[k])
            if r == 0:
                ax.set_title(f"hypothesis {k + 1}")
            q = sel[r, k]  # orthographic reprojection of the camera-frame hypothesis
            for a, b in H36M17.bones:
                ax2.plot([q[a, 0], q[b, 0]], [-q[a, 1], -q[b, 1]], color=colours[k], lw=1.2, alpha=0.7)
        ax2.set_aspect("equal"), ax2.axis("off")
        if r == 0:
            ax2.set_title("reprojections")
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=60)
    print("wrote", args.out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["accuracy", "diversity", "figure", "exemplar", "mirrors", "speed"])
    ap.add_argument("run")
    ap.add_argument("--test", default="h36mrig_gt2d")
    ap.add_argument("--every", type=int, default=1)
    ap.add_argument("--missing", type=int, default=0)
    ap.add_argument("--samples", default="1000,5000,9001,15002")
    ap.add_argument("--out", default="docs/figures/hypotheses_fps.png")
    ap.add_argument("--json")
    ap.add_argument("--paper-output", action="store_true",
                    help="accuracy: the paper's output (flip_choice=false, input_xy=never) instead of the model's")
    ap.add_argument("--flip-choice", action=argparse.BooleanOptionalAction, default=None,
                    help="accuracy: test-time flip choice on/off (default: the model's setting)")
    ap.add_argument("--input-xy", choices=["never", "exact", "always"], default=None,
                    help="accuracy: camera-frame x, y from the 2D input (default: the model's setting)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=200, help="speed: timed training steps per setting")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    res = {"accuracy": accuracy, "diversity": diversity, "figure": figure, "exemplar": exemplar,
           "mirrors": mirrors, "speed": speed}[args.what](args)
    if args.json and res is not None:
        Path(args.json).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
