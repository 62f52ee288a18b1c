"""A depth-less baseline (DESIGN.md §5): what a method scores if it learns nothing about depth.

The 2D joints are back-projected onto the plane through the pelvis parallel to the image
(all joints at one depth), made root-relative and scaled by the training subjects' mean bone
lengths (Iqbal et al. supplementary Eq. 1). Every weakly supervised method must beat it.
"""

from __future__ import annotations

import numpy as np

from weakpose.camera import backproject
from weakpose.data.contracts import Keypoints2D
from weakpose.geometry.scale import bone_length_scale, observed_bone_weights


def depthless_poses(inputs: Keypoints2D, mean_bone_lengths: np.ndarray) -> np.ndarray:
    """``[N, 17, 3]`` mm, camera frame, root-relative, with zero relative depth.

    Without intrinsics a weak-perspective camera is assumed (pixels used as x, y). Missing
    joints (confidence 0) are put at the pelvis and their bones left out of the scale."""
    kp = inputs.keypoints_2d.astype(np.float64)
    if inputs.intrinsics is not None:
        flat = backproject(kp, np.ones(kp.shape[:-1]), inputs.intrinsics.astype(np.float64))
    else:
        flat = np.concatenate([kp, np.ones(kp.shape[:-1] + (1,))], -1)
    flat = flat - flat[..., :1, :]
    flat[..., 2] = 0.0
    flat[inputs.confidence <= 0] = 0.0
    s = bone_length_scale(flat, mean_bone_lengths, weights=observed_bone_weights(inputs.confidence))
    return (s[..., None, None] * flat).astype(np.float32)
