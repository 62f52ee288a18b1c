"""Body-part label map of the renderer's part masks.

Every pixel of a part mask holds one of these integer labels. Hands belong to the lower
arms and feet to the lower legs; the neck belongs to the head; the shoulder and hip bars
(the flesh between the shoulder joints and between the hip joints) belong to the torso.
"Left" and "right" are the person's own sides (Human3.6M convention), not the image's.
"""

from __future__ import annotations

import numpy as np

BACKGROUND = 0
HEAD = 1
TORSO = 2
L_UPPER_ARM = 3
L_LOWER_ARM = 4
R_UPPER_ARM = 5
R_LOWER_ARM = 6
L_UPPER_LEG = 7
L_LOWER_LEG = 8
R_UPPER_LEG = 9
R_LOWER_LEG = 10

PART_NAMES: tuple[str, ...] = (
    "background",
    "head",
    "torso",
    "l_upper_arm",
    "l_lower_arm",
    "r_upper_arm",
    "r_lower_arm",
    "l_upper_leg",
    "l_lower_leg",
    "r_upper_leg",
    "r_lower_leg",
)
NUM_PARTS = len(PART_NAMES)  # including background

# Human3.6M-17 joints that each part is attached to (used for the joint visibility test).
PART_JOINTS: dict[int, tuple[int, ...]] = {
    HEAD: (8, 9, 10),
    TORSO: (0, 1, 4, 7, 8, 11, 14),
    L_UPPER_ARM: (11, 12),
    L_LOWER_ARM: (12, 13),
    R_UPPER_ARM: (14, 15),
    R_LOWER_ARM: (15, 16),
    L_UPPER_LEG: (4, 5),
    L_LOWER_LEG: (5, 6),
    R_UPPER_LEG: (1, 2),
    R_LOWER_LEG: (2, 3),
}

# A fixed colour per label for figures (uint8 RGB); left parts are warm, right parts cool.
PART_COLORS = np.array(
    [
        [0, 0, 0],
        [230, 230, 60],
        [160, 160, 160],
        [230, 60, 60],
        [255, 150, 120],
        [60, 90, 230],
        [120, 190, 255],
        [200, 40, 160],
        [255, 140, 230],
        [40, 160, 90],
        [140, 230, 150],
    ],
    dtype=np.uint8,
)


def colorize_parts(mask: np.ndarray) -> np.ndarray:
    """Map an integer part mask [..., H, W] to an RGB uint8 image [..., H, W, 3]."""
    mask = np.asarray(mask)
    if mask.min() < 0 or mask.max() >= NUM_PARTS:
        raise ValueError(f"part labels must lie in [0, {NUM_PARTS - 1}]")
    return PART_COLORS[mask]
