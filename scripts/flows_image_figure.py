"""Figure of a flows-ws image-network run on rendered test-subject crops: the crop with the
heatmap 2D joints (red) and the projected 3D joints of the last pose stage (blue), the rendered
part mask, and the predicted segmentation.

    python scripts/flows_image_figure.py --run runs/image_cpu --out docs/figures/flows_image_net.png
"""

from __future__ import annotations

import argparse

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=6)
    ap.add_argument("--scale", type=int, default=2)
    args = ap.parse_args()
    from weakpose.camera import project
    from weakpose.data.mocap import TEST_SUBJECTS
    from weakpose.data.paths import data_root, h36m_rig
    from weakpose.engine.checkpoint import load_checkpoint
    from weakpose.engine.config import config_from_dict
    from weakpose.methods.flows.body.cmu import pose_data
    from weakpose.methods.flows.fitting.pose_space import PoseSpace
    from weakpose.methods.flows.pose_shape_net import decode
    from weakpose.methods.flows.prior import cmu_rotations
    from weakpose.methods.flows.ws import METHOD, FlowsWSConfig
    from weakpose.methods.flows.ws_data import PoseSampler
    from weakpose.methods.flows.ws_losses import camera_translation
    from weakpose.methods.flows.ws_rendering import render_crops
    from weakpose.rendering.labels import colorize_parts
    from weakpose.rendering.sheet import draw_joints, save_png
    from weakpose.vision.crops import apply_affine
    from weakpose.vision.heatmaps import decode_heatmaps

    torch.set_num_threads(1)
    payload = load_checkpoint(args.run)
    cfg = config_from_dict(FlowsWSConfig, payload["config"])
    nets = METHOD.method_class(cfg).build_modules(cfg)
    for k, n in nets.items():
        n.load_state_dict(payload["modules"][k])
        n.eval()
    root = data_root()
    sampler = PoseSampler(pose_data(cmu_rotations(root), TEST_SUBJECTS), nets["body"], h36m_rig(root), 1.0)
    b = sampler.sample(np.random.default_rng(5), args.count)
    crops = render_crops(b, cfg.image_size, torch.Generator().manual_seed(5))
    with torch.no_grad():
        out = nets["net"](crops.rgb)
        dec = decode(PoseSpace(nets["flow"], cfg.rep, latent=True), nets["body"], out.stages[-1])
        uv, _ = decode_heatmaps(out.heatmaps, stride=nets["net"].stride)
        K = torch.from_numpy(b.intrinsics)
        t = camera_translation(
            dec, uv.new_tensor(apply_affine(uv.double().numpy(), np.linalg.inv(crops.crop))), K, None
        )
        proj = apply_affine(project(dec.joints + t[:, None], K).double().numpy(), crops.crop)
    s = args.scale
    rows = []
    for i in range(args.count):
        img = np.repeat(np.repeat((crops.rgb[i].numpy() * 255).round().astype(np.uint8), s, 0), s, 1)
        img = draw_joints(img, (proj[i] + 0.5) * s - 0.5, np.zeros(17, bool))  # blue: projected 3D
        img = draw_joints(img, (uv[i].numpy() + 0.5) * s - 0.5, np.ones(17, bool))  # red: heatmap 2D
        gt = colorize_parts(np.repeat(np.repeat(crops.parts[i].numpy(), s, 0), s, 1))
        seg = out.segmentation[i].argmax(0).numpy().astype(np.uint8)
        seg = colorize_parts(np.repeat(np.repeat(seg, s * nets["net"].stride, 0), s * nets["net"].stride, 1))
        rows.append(np.concatenate([img, gt, seg], 1))
    save_png(np.concatenate(rows, 0), args.out, palette=True)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
