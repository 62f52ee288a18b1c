"""BVH parser and forward kinematics on hand-made files."""

from __future__ import annotations

import numpy as np
import pytest

from weakpose.data import bvh
from weakpose.data.converters._common import InputError

TINY = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation
  JOINT Spine
  {
    OFFSET 0 1 0
    CHANNELS 3 Zrotation Yrotation Xrotation
    End Site
    {
      OFFSET 0 2 0
    }
  }
  JOINT Leg
  {
    OFFSET 1 0 0
    CHANNELS 3 Xrotation Yrotation Zrotation
    End Site
    {
      OFFSET 0 -3 0
    }
  }
}
MOTION
Frames: 3
Frame Time: 0.0083333
0 0 0 0 0 0 0 0 0 0 0 0
1 2 3 90 0 0 0 0 0 0 0 0
0 0 0 0 0 0 0 0 90 90 0 0
"""


def test_hierarchy_and_channels() -> None:
    b = bvh.parse_bvh(TINY, "tiny.bvh")
    s = b.skeleton
    assert s.names == ["Hips", "Spine", "Spine_End", "Leg", "Leg_End"]
    assert s.parents.tolist() == [-1, 0, 1, 0, 3]
    assert s.is_end_site.tolist() == [False, False, True, False, True]
    assert s.channel_start.tolist() == [0, 6, 9, 9, 12]
    assert s.num_channels == 12
    np.testing.assert_array_equal(s.offsets[3], [1, 0, 0])
    assert b.motion.shape == (3, 12)
    assert b.fps == pytest.approx(120.0, rel=1e-4)


def test_forward_kinematics_exact_values() -> None:
    b = bvh.parse_bvh(TINY, "tiny.bvh")
    p = bvh.forward_kinematics(b)
    # frame 0: rest pose
    np.testing.assert_allclose(p[0], [[0, 0, 0], [0, 1, 0], [0, 3, 0], [1, 0, 0], [1, -3, 0]], atol=1e-12)
    # frame 1: root at (1,2,3), rotated +90 deg about z: x -> y, y -> -x
    np.testing.assert_allclose(
        p[1], [[1, 2, 3], [0, 2, 3], [-2, 2, 3], [1, 3, 3], [4, 3, 3]], atol=1e-12
    )
    # frame 2: Leg channels X=90 then Y=0 (listed order X Y Z): R = Rx(90); (0,-3,0) -> (0,0,-3)
    np.testing.assert_allclose(p[2, 4], [1, 0, -3], atol=1e-12)


def test_euler_order_is_listed_order() -> None:
    """BVH channels use the one Euler conversion (weakpose.geometry.rotations), numpy and torch alike."""
    import torch

    from weakpose.geometry.rotations import euler_to_matrix

    a = np.array([30.0, 40.0, 50.0])
    zyx = euler_to_matrix(a, "ZYX")
    rz = euler_to_matrix(a[:1], "Z")
    ry = euler_to_matrix(a[1:2], "Y")
    rx = euler_to_matrix(a[2:], "X")
    assert isinstance(zyx, np.ndarray) and zyx.dtype == np.float64
    np.testing.assert_allclose(zyx, rz @ ry @ rx, atol=1e-12)
    for order in ("ZYX", "XYZ", "YXZ"):
        ref = euler_to_matrix(torch.tensor(a, dtype=torch.float64), order=order, degrees=True).numpy()
        np.testing.assert_allclose(euler_to_matrix(a, order), ref, atol=1e-12)


def test_forward_kinematics_replacement_offsets() -> None:
    b = bvh.parse_bvh(TINY, "tiny.bvh")
    off = b.skeleton.offsets.copy()
    off[1] = [0, 5, 0]
    p = bvh.forward_kinematics(b, off)
    np.testing.assert_allclose(p[0, 2], [0, 7, 0])


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        (TINY.replace("HIERARCHY", "HIERARCH"), 1, "HIERARCHY"),
        (TINY.replace("OFFSET 1 0 0", "OFFSET 1 0"), 17, "OFFSET needs 3"),
        (TINY.replace("OFFSET 0 1 0", "OFFSET 0 x 0"), 8, "expected a number"),
        (TINY.replace("CHANNELS 3 Zrotation", "CHANNELS 4 Zrotation", 1), 9, "CHANNELS says 4"),
        (TINY.replace("Xrotation Yrotation Zrotation", "Xrotation Yrotation Wrotation"), 18, "unknown channel"),
        (TINY.replace("Frames: 3", "Frames: three"), 26, "Frames"),
        (TINY.replace("Frame Time: 0.0083333", "Frame Time: 0"), 27, "positive"),
        (TINY.replace("1 2 3 90 0 0 0 0 0 0 0 0", "1 2 3 90 0 0 0 0 0 0 0"), 29, "11 values"),
        (TINY.replace("1 2 3 90 0 0 0 0 0 0 0 0", "1 2 3 90 0 0 0 0 0 0 0 abc"), 29, "expected a number"),
        (TINY.replace("1 2 3 90 0 0 0 0 0 0 0 0", "1 2 3 90 0 0 0 0 0 0 0 nan"), 29, "non-finite"),
        (TINY.replace("Frames: 3", "Frames: 5"), 30, "truncated"),
        (TINY.replace("Frames: 3", "Frames: 2"), 30, "more motion lines"),
        ("\n".join(TINY.splitlines()[:20]), 20, "ends inside the HIERARCHY"),
        (TINY.replace("  }\n  JOINT Leg", "  JOINT Leg", 1), 24, "MOTION before the hierarchy is closed"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 40 else None,
)
def test_malformed_files_name_file_and_line(text: str, line: int, what: str) -> None:
    with pytest.raises(InputError) as e:
        bvh.parse_bvh(text, "bad.bvh")
    msg = str(e.value)
    assert msg.startswith(f"bad.bvh:{line}:"), msg
    assert what in msg
    assert "\n" not in msg


def test_truncated_real_file(tmp_path, cmu_root) -> None:
    lines = (cmu_root / "bvh" / "09" / "09_03.bvh").read_text().splitlines()
    bad = tmp_path / "09_03.bvh"
    bad.write_text("\n".join(lines[:-10]) + "\n" + lines[-10][:40])  # cut mid-line
    with pytest.raises(InputError, match=r"09_03\.bvh:\d+: (truncated|motion line has)"):
        bvh.read_bvh(bad)


def test_missing_file(tmp_path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        bvh.read_bvh(tmp_path / "nope.bvh")


def test_brace_on_declaration_line_and_missing_offset() -> None:
    text = TINY.replace("ROOT Hips\n{", "ROOT Hips {").replace("JOINT Spine\n  {", "JOINT Spine {")
    b = bvh.parse_bvh(text, "inline.bvh")
    assert b.skeleton.names == bvh.parse_bvh(TINY).skeleton.names
    np.testing.assert_allclose(bvh.forward_kinematics(b), bvh.forward_kinematics(bvh.parse_bvh(TINY)))
    with pytest.raises(InputError, match=r"x\.bvh:13: joint 'Spine' has no OFFSET"):
        bvh.parse_bvh(TINY.replace("    OFFSET 0 1 0\n", ""), "x.bvh")
