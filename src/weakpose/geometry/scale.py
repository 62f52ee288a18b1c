"""Metric scale of a pose known up to scale (Iqbal et al. 2020, supplementary Eq. 1)."""

from __future__ import annotations

import numpy as np
import torch

from weakpose.skeleton import H36M17, Skeleton


def bone_length_scale(pose, mean_bone_lengths, skeleton: Skeleton = H36M17):
    """``ŝ = argmin_s Σ_b (s·ℓ_b − μ_b)² = Σ ℓ_b μ_b / Σ ℓ_b²`` over the skeleton's bones.

    Args:
        pose: ``[..., J, 3]`` (any scale), numpy or torch.
        mean_bone_lengths: ``[B]`` mean bone lengths (mm) in ``skeleton.bones`` order.
    Returns:
        ``[...]`` scale factors; ``s * pose`` has the training subjects' bone lengths.
    """
    lengths = skeleton.bone_lengths(pose)
    if isinstance(pose, torch.Tensor):
        mu = torch.as_tensor(mean_bone_lengths, dtype=pose.dtype, device=pose.device)
        return (lengths * mu).sum(-1) / (lengths * lengths).sum(-1).clamp_min(1e-12)
    mu = np.asarray(mean_bone_lengths, dtype=pose.dtype)
    return (lengths * mu).sum(-1) / np.maximum((lengths * lengths).sum(-1), 1e-12)
