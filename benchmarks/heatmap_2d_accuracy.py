"""2D accuracy of a small heatmap network trained on rendered crops of the CMU-WS training
subjects (1, 3, 5, 6, 7, 8) and tested on rendered crops of the test subjects (2, 9).

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/heatmap_2d_accuracy.py \
        [--backbone hrnet-tiny] [--size 64] [--steps 2000] [--batch 32] [--sigma 1.5] [--save model.pt]

Trains on the fly (new rendered images every step; half h36m-rig views, half random wild
cameras; scale/rotation/colour augmentation), then reports the pixel error at the crop
resolution on 512 + 512 fixed test crops (h36m rig / wild cameras), next to a baseline that
always predicts the mean training pose in the crop. Also prints training throughput and the
fraction of the CPU's ~330 GFLOP/s fp32 peak used by the network (forward+backward ~ 3x the
forward FLOPs).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from weakpose.data.mocap import TEST_SUBJECTS
from weakpose.data.paths import data_root
from weakpose.methods.multiview.pretrain import (
    Train2DConfig,
    batch_from_scene,
    evaluate_2d,
    render_test_set,
    train_heatmap_model,
)
from weakpose.models.heatmap_net import build_heatmap_net
from weakpose.vision.heatmaps import decode_heatmaps, gaussian_heatmaps

PEAK_GFLOPS = 330.0


def forward_flops(model: torch.nn.Module, size: int) -> float:
    """Multiply-adds x 2 of the convolutions for one image (hooks on Conv2d/ConvTranspose2d)."""
    total = [0.0]

    def hook(m, inp, out):
        if isinstance(m, torch.nn.ConvTranspose2d):  # every input element meets Cout/g * kh * kw weights
            total[0] += 2.0 * inp[0].numel() * m.weight[0].numel()
        else:  # every output element meets Cin/g * kh * kw weights
            total[0] += 2.0 * out.numel() * m.weight[0].numel()

    hs = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))
    ]
    with torch.no_grad():
        model.eval()
        model(torch.zeros(1, 3, size, size))
    for h in hs:
        h.remove()
    return total[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", default="hrnet-tiny")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--sigma", type=float, default=1.5, help="target Gaussian std in heatmap cells")
    ap.add_argument("--test", type=int, default=512, help="test crops per camera kind")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save", default=None, help="save the trained state_dict here")
    ap.add_argument("--json", default=None, help="write the results as JSON here")
    ap.add_argument("--data", default=None)
    ap.add_argument("--no-train", action="store_true", help="only print the read-out floor and the baseline")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    root = data_root(args.data)
    cfg = Train2DConfig(
        backbone=args.backbone,
        crop_size=args.size,
        batch=args.batch,
        steps=args.steps,
        lr=args.lr,
        sigma=args.sigma,
        seed=args.seed,
    )
    print(json.dumps(cfg.__dict__))
    test_set = render_test_set(root, args.test, cfg.crop_size, subjects=TEST_SUBJECTS)
    stride = build_heatmap_net(cfg.backbone).stride
    for rig, (_rgb, j2d, _vis) in test_set.items():
        hm = gaussian_heatmaps(j2d, cfg.crop_size // stride, cfg.crop_size // stride, stride, cfg.sigma)
        uv, _ = decode_heatmaps(hm, cfg.lam, stride)
        inside = ((j2d >= -0.5) & (j2d <= cfg.crop_size - 0.5)).all(-1)
        print(
            f"read-out floor ({rig}): decoding the exact targets (stride {stride}, sigma {cfg.sigma} cells, "
            f"lambda {cfg.lam}) gives {(uv - j2d).norm(dim=-1)[inside].mean():.2f} px"
        )
    if args.no_train:
        return
    c0 = time.process_time()
    res = train_heatmap_model(
        cfg, root, progress=lambda e: print(json.dumps({k: round(v, 4) for k, v in e.items()}), flush=True)
    )
    cpu = time.process_time() - c0
    n_img = cfg.steps * cfg.batch
    flops = forward_flops(res.model, cfg.crop_size)
    print(
        f"trained {n_img} rendered images in {res.seconds:.0f} s wall / {cpu:.0f} CPU-s: "
        f"{n_img / cpu:.0f} images/CPU-s (render + train); network {flops / 1e6:.1f} MFLOP/image forward, "
        f"{3 * flops * n_img / cpu / 1e9:.2f} GFLOP/s = "
        f"{100 * 3 * flops * n_img / cpu / 1e9 / PEAK_GFLOPS:.2f} % of peak"
    )
    if args.save:
        torch.save(res.model.state_dict(), args.save)
    # baseline: the mean training pose in the crop (same crop statistics, no image)
    from weakpose.rendering.scenes import RenderedMotion

    src = RenderedMotion(root, rig="h36m", seed=99)
    _, j_train, _ = batch_from_scene(src.sample(1024, 1, cfg.crop_size))
    mean_pose = j_train.mean(0)
    out = {"config": cfg.__dict__, "train_seconds": res.seconds, "train_cpu_seconds": cpu}
    for rig, (rgb, j2d, vis) in test_set.items():
        m = evaluate_2d(res.model, rgb, j2d, vis, cfg.lam)
        inside = ((j2d >= -0.5) & (j2d <= cfg.crop_size - 0.5)).all(-1)
        base = (mean_pose - j2d).norm(dim=-1)[inside].mean().item()
        m["mean_pose_baseline_px"] = base
        out[rig] = m
        print(
            f"test subjects 2, 9, {rig:5s} cameras, {cfg.crop_size}x{cfg.crop_size} crops: mean {m['mean_px']:.2f} px "
            f"(visible {m['visible_px']:.2f}, hidden {m['hidden_px']:.2f}), median {m['median_px']:.2f} px, "
            f"PCK@5% {m['pck5']:.1f} %; mean-pose baseline {base:.2f} px  [{m['n_joints']} joints]"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
