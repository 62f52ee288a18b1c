"""Metric scale of a pose known up to scale (Iqbal et al. 2020, supplementary Eq. 1)."""

from __future__ import annotations

import numpy as np
import torch

from weakpose.skeleton import H36M17, Skeleton


def bone_length_scale(pose, mean_bone_lengths, skeleton: Skeleton = H36M17, weights=None):
    """``ŝ = argmin_s Σ_b w_b (s·ℓ_b − μ_b)² = Σ w_b ℓ_b μ_b / Σ w_b ℓ_b²`` over the bones.

    Args:
        pose: ``[..., J, 3]`` (any scale), numpy or torch.
        mean_bone_lengths: ``[B]`` mean bone lengths (mm) in ``skeleton.bones`` order.
        weights: optional ``[..., B]`` bone weights (e.g. 0 for bones with a missing joint);
            the paper's Eq. 1 is all ones.
    Returns:
        ``[...]`` scale factors; ``s * pose`` has the training subjects' bone lengths.
    """
    lengths = skeleton.bone_lengths(pose)
    if isinstance(pose, torch.Tensor):
        mu = torch.as_tensor(mean_bone_lengths, dtype=pose.dtype, device=pose.device)
        w = torch.ones_like(lengths) if weights is None else weights.to(pose.dtype)
        return (w * lengths * mu).sum(-1) / (w * lengths * lengths).sum(-1).clamp_min(1e-12)
    mu = np.asarray(mean_bone_lengths, dtype=pose.dtype)
    w = np.ones_like(lengths) if weights is None else np.asarray(weights, pose.dtype)
    return (w * lengths * mu).sum(-1) / np.maximum((w * lengths * lengths).sum(-1), 1e-12)


def observed_bone_weights(confidence, skeleton: Skeleton = H36M17):
    """``[..., J]`` confidences -> ``[..., B]``: 1 where both ends of a bone are observed."""
    parents, children = zip(*skeleton.bones)
    seen = confidence > 0
    both = seen[..., list(parents)] & seen[..., list(children)]
    return both.to(confidence.dtype) if isinstance(both, torch.Tensor) else both.astype(np.float64)
