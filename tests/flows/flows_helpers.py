"""Shared synthetic data for tests/flows."""

import numpy as np

from weakpose.methods.flows.body import cmu_tree


def synthetic_offsets(scale: float = 1.0) -> np.ndarray:
    """A plausible rest skeleton (mm) in cmu_tree order, T-pose like the CMU BVH."""
    o = {
        "Hips": (0, 0, 0), "LHipJoint": (0, 0, 0), "LeftUpLeg": (80, -100, 45), "LeftLeg": (140, -380, 0),
        "LeftFoot": (145, -395, 0), "RHipJoint": (0, 0, 0), "RightUpLeg": (-75, -100, 45),
        "RightLeg": (-143, -394, 0), "RightFoot": (-145, -398, 0), "LowerBack": (0, 0, 0),
        "Spine": (2, 115, -11), "Spine1": (3, 116, -2), "Neck": (3, 116, -2), "Neck1": (-3, 98, 10),
        "Head": (6, 99, -7), "HeadTop": (2, 100, -3), "LeftShoulder": (3, 116, -2), "LeftArm": (190, 68, -18),
        "LeftForeArm": (281, 0, 0), "LeftHand": (197, 0, 0), "RightShoulder": (3, 116, -2),
        "RightArm": (-177, 78, -23), "RightForeArm": (-296, 0, 0), "RightHand": (-194, 0, 0),
    }
    return np.array([o[n] for n in cmu_tree.SEGMENT_NAMES], np.float64) * scale
