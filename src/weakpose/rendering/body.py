"""The rendered body: capsules and ellipsoids built from a Human3.6M-17 pose.

A body is 18 primitives (see :data:`PRIMITIVES`): 13 capsules (neck, shoulder bar, hip bar,
upper/lower arms, hands, upper/lower legs, feet) and 3 ellipsoids (head, chest, abdomen);
lengths and orientations come from the joints, thicknesses from a :class:`BodyShape`.
Each primitive carries a body-part label (:mod:`weakpose.rendering.labels`) and a clothing
slot (:data:`SLOTS`) that the appearance model colours.

Choices that the 17 joints leave open (documented in docs/images.md):

* The CMU ``head`` joint is the base of the skull; the head ellipsoid sits 70 mm above it
  along ``head - neck_nose`` and 15 mm forward.
* The body's forward direction is ``(l_hip - r_hip) x (thorax - pelvis)`` (right-handed
  frames), used to orient the feet, the torso ellipsoids and the face.
* Feet point forward (perpendicular to the shin) from 30 mm behind the ankle to 130 mm in
  front of it; hands extend 70 mm beyond the wrist along the forearm.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from weakpose.rendering import labels as L

# Clothing slots coloured by the appearance model.
SKIN, SHIRT, FOREARM, TROUSERS, SHIN, SHOES, HAIR = range(7)
SLOTS = ("skin", "shirt", "forearm", "trousers", "shin", "shoes", "hair")

# name, kind, part label, clothing slot
PRIMITIVES: tuple[tuple[str, str, int, int], ...] = (
    ("neck", "capsule", L.HEAD, SKIN),
    ("shoulders", "capsule", L.TORSO, SHIRT),
    ("hips", "capsule", L.TORSO, TROUSERS),
    ("l_upper_arm", "capsule", L.L_UPPER_ARM, SHIRT),
    ("l_lower_arm", "capsule", L.L_LOWER_ARM, FOREARM),
    ("l_hand", "capsule", L.L_LOWER_ARM, SKIN),
    ("r_upper_arm", "capsule", L.R_UPPER_ARM, SHIRT),
    ("r_lower_arm", "capsule", L.R_LOWER_ARM, FOREARM),
    ("r_hand", "capsule", L.R_LOWER_ARM, SKIN),
    ("l_upper_leg", "capsule", L.L_UPPER_LEG, TROUSERS),
    ("l_lower_leg", "capsule", L.L_LOWER_LEG, SHIN),
    ("l_foot", "capsule", L.L_LOWER_LEG, SHOES),
    ("r_upper_leg", "capsule", L.R_UPPER_LEG, TROUSERS),
    ("r_lower_leg", "capsule", L.R_LOWER_LEG, SHIN),
    ("r_foot", "capsule", L.R_LOWER_LEG, SHOES),
    ("head", "ellipsoid", L.HEAD, SKIN),
    ("chest", "ellipsoid", L.TORSO, SHIRT),
    ("abdomen", "ellipsoid", L.TORSO, SHIRT),
)
# Primitives on which each joint may be seen: a joint whose pixel shows one of these is not
# occluded (the ankle behind its own foot, the wrist inside its own hand, ...).
_JOINT_OWNERS: dict[int, tuple[str, ...]] = {
    0: ("abdomen", "hips"), 1: ("hips", "r_upper_leg"), 2: ("r_upper_leg", "r_lower_leg"),
    3: ("r_lower_leg", "r_foot"), 4: ("hips", "l_upper_leg"), 5: ("l_upper_leg", "l_lower_leg"),
    6: ("l_lower_leg", "l_foot"), 7: ("abdomen", "chest"), 8: ("chest", "neck", "shoulders"),
    9: ("neck", "head"), 10: ("neck", "head"), 11: ("l_upper_arm",), 12: ("l_upper_arm", "l_lower_arm"),
    13: ("l_lower_arm", "l_hand"), 14: ("r_upper_arm",), 15: ("r_upper_arm", "r_lower_arm"),
    16: ("r_lower_arm", "r_hand"),
}
CAPSULE_IDS = [i for i, p in enumerate(PRIMITIVES) if p[1] == "capsule"]
ELLIPSOID_IDS = [i for i, p in enumerate(PRIMITIVES) if p[1] == "ellipsoid"]
PRIMITIVE_LABELS = torch.tensor([p[2] for p in PRIMITIVES], dtype=torch.long)
PRIMITIVE_SLOTS = torch.tensor([p[3] for p in PRIMITIVES], dtype=torch.long)
HEAD_PRIMITIVE = [p[0] for p in PRIMITIVES].index("head")
_NAMES = [p[0] for p in PRIMITIVES]
# JOINT_OWNERS[j, p]: primitive p belongs to joint j (bool [17, num primitives])
JOINT_OWNERS = torch.zeros(17, len(PRIMITIVES), dtype=torch.bool)
for _j, _names in _JOINT_OWNERS.items():
    JOINT_OWNERS[_j, [_NAMES.index(n) for n in _names]] = True

# Capsule radii (mm) of an average body (BodyShape all ones), in CAPSULE_IDS order.
_CAPSULE_RADII = {
    "neck": 52.0, "shoulders": 58.0, "hips": 82.0,
    "upper_arm": 47.0, "lower_arm": 37.0, "hand": 36.0,
    "upper_leg": 70.0, "lower_leg": 50.0, "foot": 40.0,
}


@dataclass(frozen=True)
class BodyShape:
    """Per-subject thickness factors (1.0 = average body); bone lengths come from the pose.

    ``girth`` scales every radius; ``arms``/``legs`` the limb radii; ``torso_width`` and
    ``torso_depth`` the chest/abdomen/hip sizes; ``head`` the head ellipsoid.
    """

    girth: float = 1.0
    arms: float = 1.0
    legs: float = 1.0
    torso_width: float = 1.0
    torso_depth: float = 1.0
    head: float = 1.0

    @classmethod
    def for_subject(cls, subject: int, seed: int = 0) -> BodyShape:
        """Deterministic proportions of one subject (the same for every frame and view)."""
        rng = np.random.default_rng([int(seed), 7919, int(subject)])
        return cls(
            girth=float(rng.uniform(0.88, 1.15)),
            arms=float(rng.uniform(0.9, 1.1)),
            legs=float(rng.uniform(0.9, 1.1)),
            torso_width=float(rng.uniform(0.9, 1.1)),
            torso_depth=float(rng.uniform(0.85, 1.2)),
            head=float(rng.uniform(0.93, 1.07)),
        )

    def as_tensor(self) -> torch.Tensor:
        return torch.tensor([getattr(self, f.name) for f in fields(self)], dtype=torch.float32)


def shapes_tensor(shapes: BodyShape | list[BodyShape] | torch.Tensor, batch: int) -> torch.Tensor:
    """Stack shapes into [B, 6] (a single shape is repeated)."""
    if isinstance(shapes, torch.Tensor):
        out = shapes.to(torch.float32)
        if out.ndim == 1:
            out = out.expand(batch, -1)
    elif isinstance(shapes, BodyShape):
        out = shapes.as_tensor().expand(batch, -1)
    else:
        out = torch.stack([s.as_tensor() for s in shapes])
    if out.shape != (batch, len(fields(BodyShape))):
        raise ValueError(f"expected {batch} body shapes, got tensor of shape {tuple(out.shape)}")
    return out


@dataclass
class Primitives:
    """Geometry of a batch of bodies in the camera frame (mm).

    Capsules: segment ``cap_a``-``cap_b`` [B, Pc, 3] with radius ``cap_r`` [B, Pc].
    Ellipsoids: centre ``ell_c`` [B, Pe, 3], axes ``ell_axes`` [B, Pe, 3, 3] (columns:
    lateral, up, forward unit vectors) and semi-axes ``ell_s`` [B, Pe, 3].
    """

    cap_a: torch.Tensor
    cap_b: torch.Tensor
    cap_r: torch.Tensor
    ell_c: torch.Tensor
    ell_axes: torch.Tensor
    ell_s: torch.Tensor

    @property
    def ell_m(self) -> torch.Tensor:
        """Maps a point's offset from the centre to the unit-sphere frame: diag(1/s) R^T."""
        return self.ell_axes.transpose(-1, -2) / self.ell_s[..., :, None]


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(1e-6)


def _frame(up: torch.Tensor, lateral_hint: torch.Tensor) -> torch.Tensor:
    """Right-handed frame [.., 3, 3] with columns (lateral, up, forward), forward = lat x up."""
    up = _unit(up)
    lat = _unit(lateral_hint - (lateral_hint * up).sum(-1, keepdim=True) * up)
    fwd = torch.cross(lat, up, dim=-1)
    return torch.stack([lat, up, fwd], dim=-1)


def build_primitives(joints: torch.Tensor, shape: torch.Tensor) -> Primitives:
    """Primitives of bodies with Human3.6M-17 ``joints`` [B, 17, 3] (mm) and ``shape`` [B, 6].

    Works in any right-handed frame; the renderer passes camera-frame joints.
    """
    j = joints.to(torch.float32)
    g, arms, legs, tw, td, hs = (shape[:, i : i + 1] for i in range(6))
    pelvis, rhip, rknee, rank, lhip, lknee, lank = (j[:, i] for i in range(7))
    spine, thorax, neck, head = j[:, 7], j[:, 8], j[:, 9], j[:, 10]
    lsh, lelb, lwr, rsh, relb, rwr = (j[:, i] for i in range(11, 17))

    body = _frame(thorax - pelvis, lhip - rhip + lsh - rsh)
    fwd = body[..., 2]

    def hand_end(elbow, wrist):
        return wrist + 70.0 * _unit(wrist - elbow)

    def foot(knee, ankle):
        shin = _unit(ankle - knee)
        d = _unit(fwd - (fwd * shin).sum(-1, keepdim=True) * shin)
        return ankle - 30.0 * d, ankle + 130.0 * d + 20.0 * shin

    lf0, lf1 = foot(lknee, lank)
    rf0, rf1 = foot(rknee, rank)
    sh_l = thorax + 0.8 * (lsh - thorax)
    sh_r = thorax + 0.8 * (rsh - thorax)
    segs = [
        (thorax, head, _CAPSULE_RADII["neck"] * g),
        (sh_l, sh_r, _CAPSULE_RADII["shoulders"] * g * td),
        (lhip, rhip, _CAPSULE_RADII["hips"] * g * tw),
        (lsh, lelb, _CAPSULE_RADII["upper_arm"] * g * arms),
        (lelb, lwr, _CAPSULE_RADII["lower_arm"] * g * arms),
        (lwr, hand_end(lelb, lwr), _CAPSULE_RADII["hand"] * g),
        (rsh, relb, _CAPSULE_RADII["upper_arm"] * g * arms),
        (relb, rwr, _CAPSULE_RADII["lower_arm"] * g * arms),
        (rwr, hand_end(relb, rwr), _CAPSULE_RADII["hand"] * g),
        (lhip, lknee, _CAPSULE_RADII["upper_leg"] * g * legs),
        (lknee, lank, _CAPSULE_RADII["lower_leg"] * g * legs),
        (lf0, lf1, _CAPSULE_RADII["foot"] * g),
        (rhip, rknee, _CAPSULE_RADII["upper_leg"] * g * legs),
        (rknee, rank, _CAPSULE_RADII["lower_leg"] * g * legs),
        (rf0, rf1, _CAPSULE_RADII["foot"] * g),
    ]
    cap_a = torch.stack([s[0] for s in segs], dim=1)
    cap_b = torch.stack([s[1] for s in segs], dim=1)
    cap_r = torch.cat([s[2] for s in segs], dim=1)

    head_frame = _frame(head - neck, lsh - rsh)
    head_c = head + 70.0 * hs * head_frame[..., 1] + 15.0 * head_frame[..., 2]
    chest_frame = _frame(thorax - spine, lsh - rsh)
    chest_len = (thorax - spine).norm(dim=-1, keepdim=True)
    chest_c = spine + 0.5 * (thorax - spine)
    abd_frame = _frame(spine - pelvis, lhip - rhip)
    abd_len = (spine - pelvis).norm(dim=-1, keepdim=True)
    abd_c = pelvis + 0.55 * (spine - pelvis)
    ones = torch.ones_like(g)
    ell_c = torch.stack([head_c, chest_c, abd_c], dim=1)
    ell_axes = torch.stack([head_frame, chest_frame, abd_frame], dim=1)
    ell_s = torch.stack(
        [
            torch.cat([76.0 * hs, 102.0 * hs, 92.0 * hs], dim=-1),
            torch.cat([150.0 * g * tw, 0.5 * chest_len + 70.0 * ones, 100.0 * g * td], dim=-1),
            torch.cat([135.0 * g * tw, 0.5 * abd_len + 60.0 * ones, 95.0 * g * td], dim=-1),
        ],
        dim=1,
    )
    return Primitives(cap_a, cap_b, cap_r, ell_c, ell_axes, ell_s)
