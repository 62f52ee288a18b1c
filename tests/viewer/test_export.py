"""``weakpose export``: BVH read back by the project's reader and by the independent ``bvh``
package gives the predicted joints (bones at the training mean lengths); JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from weakpose.cli import main
from weakpose.data.bvh import forward_kinematics, read_bvh
from weakpose.data.paths import data_root
from weakpose.data.statistics import training_bone_lengths
from weakpose.geometry.rotations import euler_to_matrix, matrix_to_euler, rotation_between
from weakpose.inference.export import BVH_NAMES, CAMERA_TO_BVH, MM_PER_UNIT, with_bone_lengths
from weakpose.skeleton import H36M17


@pytest.fixture(scope="module")
def lengths():
    return training_bone_lengths(data_root())


def _poses(n=20, yaw_deg=None):
    """Test-subject poses of camera 0 (camera frame, root-relative, mm)."""
    z = np.load(data_root() / "benchmark" / "cmu_test_h36mrig_gt2d.npz")
    pos = z["positions_3d"][np.arange(0, 40 * n, 40) * 4].astype(np.float64)
    return pos - pos[:, :1]


def _joints_from_project_reader(path):
    b = read_bvh(path)
    P = forward_kinematics(b)[:, [b.skeleton.index(n) for n in BVH_NAMES]] * MM_PER_UNIT
    return (P - P[:, :1]) @ CAMERA_TO_BVH                  # BVH frame -> camera frame (an involution)


def _joints_from_bvh_package(path):
    """Forward kinematics written here from the ``bvh`` package's parse and scipy's Euler angles
    (independent of weakpose's reader and rotation helpers)."""
    import bvh

    m = bvh.Bvh(path.read_text())
    names = m.get_joints_names()
    out = np.zeros((m.nframes, len(BVH_NAMES), 3))
    for f in range(m.nframes):
        world_pos, world_rot = {}, {}
        for name in names:
            parent = m.joint_parent(name)
            angles = m.frame_joint_channels(f, name, ["Zrotation", "Yrotation", "Xrotation"])
            local = Rotation.from_euler("ZYX", angles, degrees=True).as_matrix()
            offset = np.asarray(m.joint_offset(name), float)
            if parent is None:
                channels = ["Xposition", "Yposition", "Zposition"]
                world_pos[name] = offset + np.asarray(m.frame_joint_channels(f, name, channels))
                world_rot[name] = local
            else:
                world_pos[name] = world_pos[parent.name] + world_rot[parent.name] @ offset
                world_rot[name] = world_rot[parent.name] @ local
        out[f] = [world_pos[n] for n in BVH_NAMES]
    out *= MM_PER_UNIT
    return (out - out[:, :1]) @ CAMERA_TO_BVH


def test_euler_and_turn_helpers():
    rng = np.random.default_rng(0)
    R = torch.as_tensor(Rotation.random(200, random_state=1).as_matrix())
    assert torch.allclose(euler_to_matrix(matrix_to_euler(R)), R, atol=1e-10)
    lock = euler_to_matrix(torch.tensor([[30.0, 90.0, 0.0]], dtype=torch.float64))
    assert torch.allclose(euler_to_matrix(matrix_to_euler(lock)), lock, atol=1e-9)
    u, v = torch.as_tensor(rng.normal(size=(50, 3))), torch.as_tensor(rng.normal(size=(50, 3)))
    for a, b in ((u, v), (u, -u), (u, 2 * u)):
        Rab = rotation_between(a, b)
        assert torch.allclose((Rab @ a[..., None])[..., 0] / a.norm(dim=-1, keepdim=True),
                              b / b.norm(dim=-1, keepdim=True), atol=1e-9)


def test_bvh_round_trip_with_both_readers(tmp_path, lengths):
    pos = _poses()
    pred = tmp_path / "pred.npz"
    np.savez(pred, positions_3d=pos.astype(np.float32), timestamp=np.arange(len(pos)) / 25.0)
    out = tmp_path / "pred.bvh"
    assert main(["export", str(pred), "--bvh", str(out)]) == 0
    expected = with_bone_lengths(pos.astype(np.float32), lengths)
    # the export keeps every bone direction; only lengths change (to the training means)
    assert np.allclose(H36M17.bone_lengths(expected), lengths, atol=1e-6)
    ours, theirs = _joints_from_project_reader(out), _joints_from_bvh_package(out)
    assert np.abs(ours - expected).max() < 0.05             # mm
    assert np.abs(theirs - expected).max() < 0.05
    assert np.isclose(read_bvh(out).frame_time, 1 / 25.0)


def test_pose_at_mean_lengths_comes_back_unchanged_and_turning_shows_in_the_root(tmp_path, lengths):
    pos = with_bone_lengths(_poses(4), lengths)
    yaw = np.deg2rad(40.0)                                  # turn the person about the vertical (camera y)
    Ry = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    both = np.concatenate([pos, pos @ Ry.T])
    pred = tmp_path / "p.npz"
    np.savez(pred, positions_3d=both.astype(np.float32))
    out = tmp_path / "p.bvh"
    assert main(["export", str(pred), "--bvh", str(out), "--fps", "10"]) == 0
    assert np.abs(_joints_from_project_reader(out) - both).max() < 0.05
    b = read_bvh(out)
    hips = b.channel_values(b.skeleton.index("Hips"))[:, 3:]          # Z, Y, X degrees
    R0 = Rotation.from_euler("ZYX", hips[:4], degrees=True)
    R1 = Rotation.from_euler("ZYX", hips[4:], degrees=True)
    turn = (R1 * R0.inv()).as_rotvec(degrees=True)                     # BVH frame: Y up
    assert np.allclose(np.abs(turn[:, 1]), 40.0, atol=0.5) and np.abs(turn[:, [0, 2]]).max() < 0.5


def test_json_export(tmp_path):
    pos = _poses(3)
    guessed = np.zeros((3, 17), bool)
    guessed[:, 3] = True
    pred = tmp_path / "p.npz"
    np.savez(pred, positions_3d=pos.astype(np.float32), frame_index=np.array([4, 5, 7]), fps=np.float32(20),
             guessed=guessed, hypotheses=np.repeat(pos[:, None], 2, 1).astype(np.float32))
    out = tmp_path / "p.json"
    assert main(["export", str(pred), "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["joint_names"] == list(H36M17.names) and doc["fps"] == 20.0 and doc["units"] == "mm"
    assert [f["frame_index"] for f in doc["frames"]] == [4, 5, 7]
    assert np.isclose(doc["frames"][2]["timestamp"], 7 / 20)
    assert np.allclose([f["positions_3d"] for f in doc["frames"]], pos, atol=1e-3)
    assert doc["frames"][0]["guessed"][3] is True and np.shape(doc["frames"][0]["hypotheses"]) == (2, 17, 3)


def test_export_needs_an_output(tmp_path, capsys):
    pred = tmp_path / "p.npz"
    np.savez(pred, positions_3d=np.zeros((1, 17, 3), np.float32))
    assert main(["export", str(pred)]) == 2
    assert "needs --bvh" in capsys.readouterr().err
