"""Rendered person crops for the multi-stage image network of ``flows-ws`` (``net = "image"``),
its per-stage losses, and its evaluation on rendered test-subject crops.

Each training sample of :class:`~weakpose.methods.flows.ws_data.PoseSampler` is drawn by
:func:`weakpose.rendering.render_batch` as a ``size`` × ``size`` person crop through
``crop @ K`` (the crop of :mod:`weakpose.vision.crops` around the 2D joints, no rotation or scale
augmentation, so the camera-frame pose stays the target). The crop gives the image, the exact
2D joints (heatmap targets) and the part mask (segmentation target, and Ŝ of L_BA mapped back
to full-image pixels). The pose losses (L_fs, L_ws) are those of the keypoint network, in
full-image pixels with the full-image intrinsics, applied to **every** pose stage.

Stage losses (weights are choices; the paper gives none): ``w_heatmap`` × L_H, the heatmaps'
squared error summed over cells and joints against peak-1 Gaussians (σ = 2 cells,
:func:`weakpose.vision.heatmaps.heatmap_loss`),
``w_segmentation`` × the cross-entropy of the part logits against the mask sampled at the
centres of the heatmap cells, and the mean over pose stages of the pose loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from weakpose.errors import InputError
from weakpose.methods.flows.body.parts import MASK_LABEL_OFFSET, PART_NAMES
from weakpose.methods.flows.fitting.predictor import masks_to_pixel_sets
from weakpose.methods.flows.ws_data import PoseBatch
from weakpose.rendering import render_batch
from weakpose.vision.crops import apply_affine, crop_transform, invert_affine, person_box
from weakpose.vision.heatmaps import gaussian_heatmaps, heatmap_loss


@dataclass
class CropBatch:
    rgb: torch.Tensor        # [B, S, S, 3] in [0, 1]
    parts: torch.Tensor      # [B, S, S] renderer labels (0 = background)
    crop: np.ndarray         # [B, 3, 3] full-image px -> crop px
    keypoints: torch.Tensor  # [B, 17, 2] crop px


def render_crops(batch: PoseBatch, size: int, generator: torch.Generator) -> CropBatch:
    """Person crops of a batch (random clothing, light and background from ``generator``)."""
    T = crop_transform(person_box(batch.keypoints_2d.astype(np.float64)), size)
    A = (T @ batch.intrinsics.astype(np.float64)).astype(np.float32)
    out = render_batch(torch.from_numpy(batch.joints_cam), torch.from_numpy(A), size, size, generator=generator)
    kp = apply_affine(batch.keypoints_2d.astype(np.float64), T).astype(np.float32)
    return CropBatch(out.rgb, out.parts, T, torch.from_numpy(kp))


def full_image_mask_pixels(crops: CropBatch, max_pixels: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Part-mask pixels of the crops as (full-image pixels [B, M, 2], labels [B, M]) for L_BA."""
    pix, lab = masks_to_pixel_sets(crops.parts.numpy(), max_pixels=max_pixels, seed=seed)
    full = apply_affine(pix.double().numpy(), invert_affine(crops.crop)).astype(np.float32)
    return torch.from_numpy(full * (lab.numpy()[..., None] >= 0)), lab


class MaskPool:
    """A fixed set of samples with rendered part masks, for L_BA (Eq. 7) of the keypoint network.

    L_BA compares projected model surface points with the pixels of a per-image part
    segmentation Ŝ (in the paper: COCO part annotations, or the image network's own
    segmentation stage). A keypoint-input network sees no image, so its training samples need
    Ŝ from elsewhere: here they are rendered from the sample's camera-frame joints as ``size``
    × ``size`` person crops (:func:`render_crops`), and a fixed sample of ``max_pixels``
    labelled mask pixels is mapped back to full-image pixels. The 3D joints are used only to
    draw the mask image, as an annotator would paint it; the losses see only the mask.
    Rendering every batch costs more than the training step, so the pool is rendered once.
    """

    def __init__(self, sampler, rng: np.random.Generator, count: int, size: int = 64,
                 max_pixels: int = 256, chunk: int = 256) -> None:
        self.batch = sampler.sample(rng, count)
        self.supervised = sampler.supervised[self.batch.frame]
        gen = torch.Generator().manual_seed(int(rng.integers(1 << 31)))
        pix, lab = [], []
        for i in range(0, count, chunk):
            crops = render_crops(self.batch.index(np.arange(i, min(i + chunk, count))), size, gen)
            p, lb = full_image_mask_pixels(crops, max_pixels, seed=int(rng.integers(1 << 31)))
            pix.append(p)
            lab.append(lb)
        self.pixels, self.labels = torch.cat(pix), torch.cat(lab)
        self.batch.pool = np.arange(count)

    def __len__(self) -> int:
        return len(self.labels)

    def sample(self, rng: np.random.Generator, batch_size: int, supervised: bool = False) -> PoseBatch:
        rows = np.flatnonzero(self.supervised) if supervised else np.arange(len(self))
        if len(rows) == 0:
            raise InputError("config: key 'supervised_fraction': no supervised sample in the mask pool")
        return self.batch.index(rows[rng.integers(0, len(rows), batch_size)])

    def masks(self, batch: PoseBatch) -> tuple[torch.Tensor, torch.Tensor]:
        rows = torch.from_numpy(batch.pool)
        return self.pixels[rows], self.labels[rows]


def segmentation_targets(parts: torch.Tensor, stride: int) -> torch.Tensor:
    """Mask labels at the centres of the heatmap cells [B, S/stride, S/stride] (int64)."""
    c = (stride - 1) // 2
    return parts[:, c::stride, c::stride].long()


def heatmap_stage_loss(out, keypoints: torch.Tensor, stride: int, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Stage 1: heatmap MSE against peak-1 Gaussians (σ = 2 cells) at ``keypoints`` [B, 17, 2]
    crop px; ``weight`` [B, 17] (0 = unlabelled) when the labels are incomplete."""
    h, w = out.heatmaps.shape[-2:]
    return heatmap_loss(out.heatmaps, gaussian_heatmaps(keypoints, h, w, stride, sigma=2.0), weight)


def stage_losses(out, crops: CropBatch, stride: int) -> dict[str, torch.Tensor]:
    """Heatmap MSE (stage 1) and part cross-entropy (stage 2), scalars."""
    seg_t = segmentation_targets(crops.parts, stride)
    if seg_t.max() > len(PART_NAMES) + MASK_LABEL_OFFSET - 1:
        raise ValueError("part mask has labels outside the renderer's parts")
    return {"L_heatmap": heatmap_stage_loss(out, crops.keypoints, stride),
            "L_segmentation": F.cross_entropy(out.segmentation, seg_t)}


@torch.no_grad()
def evaluate_rendered(net, space, body, sampler, count: int = 256, size: int = 64, seed: int = 0,
                      chunk: int = 64) -> dict[str, float]:
    """MPJPE / PA-MPJPE (mm) of the image network's last stage on ``count`` rendered crops of
    ``sampler``'s frames (a fixed set for a given ``seed``), plus the 2D error of the heatmaps
    (crop px) and the pixel accuracy of the segmentation."""
    from weakpose.methods.flows.pose_shape_net import decode
    from weakpose.metrics import mpjpe, pa_mpjpe
    from weakpose.vision.heatmaps import decode_heatmaps

    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    was = net.training
    net.eval()
    preds, gts, err2d, acc = [], [], [], []
    for i in range(0, count, chunk):
        b = sampler.sample(rng, min(chunk, count - i))
        crops = render_crops(b, size, gen)
        out = net(crops.rgb)
        dec = decode(space, body, out.stages[-1])
        preds.append(dec.joints.numpy())
        gts.append(b.joints_cam - b.joints_cam[:, :1])
        uv, _ = decode_heatmaps(out.heatmaps, stride=net.stride)
        err2d.append((uv - crops.keypoints).norm(dim=-1).mean(-1).numpy())
        acc.append(
            (out.segmentation.argmax(1) == segmentation_targets(crops.parts, net.stride)).float().mean((1, 2)).numpy()
        )
    net.train(was)
    pred, gt = np.concatenate(preds), np.concatenate(gts)
    return {
        "rendered/mpjpe": float(mpjpe(pred, gt).mean()),
        "rendered/pa_mpjpe": float(pa_mpjpe(pred, gt).mean()),
        "rendered/kp2d_px": float(np.concatenate(err2d).mean()),
        "rendered/seg_acc": float(np.concatenate(acc).mean()),
    }
