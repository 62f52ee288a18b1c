"""The kinematic tree of weakpose's body model: the CMU BVH skeleton reduced to the segments
that move the 17 Human3.6M joints (DESIGN.md §2) and the body-part surface.

Segment ``s`` has a rest offset ``o_s`` from its parent (BVH ``OFFSET``, in the parent's
frame) and, if it is *posed*, a local rotation ``R_s`` (BVH channels, ``Rz·Ry·Rx``). Forward
kinematics (``cmu/README.md`` rule 1)::

    G_s = G_parent(s) · R_s,        p_s = p_parent(s) + G_parent(s) · o_s

Rest frame (BVH): y up, x towards the subject's left, z forward; the rest pose is the BVH
T-pose. The thorax repair of the reference conversion (README rule 4) is part of the tree:
``Neck``, ``LeftShoulder`` and ``RightShoulder`` take the offset of ``Spine1``.
"""

from __future__ import annotations

# name, parent name (None for the root)
SEGMENTS: tuple[tuple[str, str | None], ...] = (
    ("Hips", None),
    ("LHipJoint", "Hips"),
    ("LeftUpLeg", "LHipJoint"),
    ("LeftLeg", "LeftUpLeg"),
    ("LeftFoot", "LeftLeg"),
    ("RHipJoint", "Hips"),
    ("RightUpLeg", "RHipJoint"),
    ("RightLeg", "RightUpLeg"),
    ("RightFoot", "RightLeg"),
    ("LowerBack", "Hips"),
    ("Spine", "LowerBack"),
    ("Spine1", "Spine"),
    ("Neck", "Spine1"),
    ("Neck1", "Neck"),
    ("Head", "Neck1"),
    ("HeadTop", "Head"),  # the BVH End Site of Head
    ("LeftShoulder", "Spine1"),
    ("LeftArm", "LeftShoulder"),
    ("LeftForeArm", "LeftArm"),
    ("LeftHand", "LeftForeArm"),
    ("RightShoulder", "Spine1"),
    ("RightArm", "RightShoulder"),
    ("RightForeArm", "RightArm"),
    ("RightHand", "RightForeArm"),
)
SEGMENT_NAMES: tuple[str, ...] = tuple(n for n, _ in SEGMENTS)
SEGMENT_PARENTS: tuple[int, ...] = tuple(-1 if p is None else SEGMENT_NAMES.index(p) for _, p in SEGMENTS)

# Segments whose local rotation is part of the pose θ: every BVH joint whose rotation moves
# one of the 17 joints (the root's rotation is the separate global rotation). ``Head``,
# ``LeftFoot``/``RightFoot`` and the hands only move end sites and are not posed;
# ``LHipJoint``/``RHipJoint`` and the clavicles ``LeftShoulder``/``RightShoulder`` are the
# identity in every frame of the CMU release, so they are fixed (13 posed joints).
POSED_SEGMENTS: tuple[str, ...] = (
    "LeftUpLeg", "LeftLeg",
    "RightUpLeg", "RightLeg",
    "LowerBack", "Spine", "Spine1", "Neck", "Neck1",
    "LeftArm", "LeftForeArm",
    "RightArm", "RightForeArm",
)

# Segments whose rest offset is replaced by Spine1's (README rule 4, the thorax repair).
THORAX_REPAIR: tuple[str, ...] = ("Neck", "LeftShoulder", "RightShoulder")

# Human3.6M-17 joints as segment positions (README rule 5); the pelvis is the hips' midpoint.
H36M_FROM_SEGMENTS: tuple[tuple[str, ...], ...] = (
    ("LeftUpLeg", "RightUpLeg"),  # 0 pelvis
    ("RightUpLeg",), ("RightLeg",), ("RightFoot",),
    ("LeftUpLeg",), ("LeftLeg",), ("LeftFoot",),
    ("Spine",), ("Neck",), ("Neck1",), ("Head",),
    ("LeftArm",), ("LeftForeArm",), ("LeftHand",),
    ("RightArm",), ("RightForeArm",), ("RightHand",),
)

MM_PER_BVH_UNIT: float = 25.4 / 0.45  # CMU "length 0.45": 1 unit = 1/0.45 inch
