"""Labelled surface points per body part, for the semantic body-part alignment loss L_BA
(Zanfir et al. Eq. 7), which needs "the 3D vertex set of body part k".

weakpose's body model has no mesh, so each part is a set of points on elliptic cylinders
around its bones. A piece is ``(start, end, frame, rx, rz, t0, t1)``: its axis runs from
anchor ``start`` to anchor ``end`` (Human3.6M joint indices, or ``HEAD_TOP``), from fraction
``t0`` to ``t1``; its cross-section is an ellipse with semi-axes ``rx`` (along the rest x,
the body's left-right) and ``rz`` (the rest axis perpendicular to the bone and to x), turned
by the world rotation of segment ``frame``. Radii (mm) are those of an average adult.
"""

from __future__ import annotations

from dataclasses import dataclass

PART_NAMES: tuple[str, ...] = (
    "head", "torso",
    "l_upper_arm", "l_lower_arm", "r_upper_arm", "r_lower_arm",
    "l_upper_leg", "l_lower_leg", "r_upper_leg", "r_lower_leg",
)
HEAD_TOP = 17  # anchor index after the 17 joints


@dataclass(frozen=True)
class Piece:
    part: str
    start: int
    end: int
    frame: str     # segment whose world rotation orients the cross-section
    rx: float
    rz: float
    t0: float = 0.0
    t1: float = 1.0


PIECES: tuple[Piece, ...] = (
    Piece("head", 10, HEAD_TOP, "Neck1", 80.0, 95.0, -0.1, 1.0),
    Piece("torso", 0, 7, "Hips", 150.0, 105.0),
    Piece("torso", 7, 8, "Spine1", 160.0, 110.0),
    Piece("torso", 8, 9, "Neck", 55.0, 55.0),
    Piece("l_upper_arm", 11, 12, "LeftArm", 50.0, 50.0),
    Piece("l_lower_arm", 12, 13, "LeftForeArm", 40.0, 40.0, 0.0, 1.15),
    Piece("r_upper_arm", 14, 15, "RightArm", 50.0, 50.0),
    Piece("r_lower_arm", 15, 16, "RightForeArm", 40.0, 40.0, 0.0, 1.15),
    Piece("l_upper_leg", 4, 5, "LeftUpLeg", 75.0, 75.0),
    Piece("l_lower_leg", 5, 6, "LeftLeg", 55.0, 55.0),
    Piece("r_upper_leg", 1, 2, "RightUpLeg", 75.0, 75.0),
    Piece("r_lower_leg", 2, 3, "RightLeg", 55.0, 55.0),
)
