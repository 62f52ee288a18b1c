"""Forward kinematics, shape space, surface points and the SMPL import guard."""

import math

import numpy as np
import pytest
import torch

from weakpose.geometry.rotations import axis_angle_to_matrix
from weakpose.methods.flows.body import cmu_tree
from weakpose.methods.flows.body.cmu import shape_space
from weakpose.methods.flows.body.model import BodyModel
from weakpose.methods.flows.body.parts import PART_NAMES
from weakpose.methods.flows.body.pose import matrices_to_vector, vector_to_matrices

from .flows_helpers import synthetic_offsets


def _rest(body, B=1):
    return torch.eye(3).expand(B, body.num_pose_joints, 3, 3)


def test_rest_pose_joints_are_offset_sums(body):
    out = body(_rest(body))
    off = body.offsets().numpy()
    name = cmu_tree.SEGMENT_NAMES.index
    knee = off[name("LHipJoint")] + off[name("LeftUpLeg")] + off[name("LeftLeg")]
    assert np.allclose(out.joints[0, 5].numpy(), knee, atol=1e-4)
    pelvis = 0.5 * (off[name("LeftUpLeg")] + off[name("RightUpLeg")])
    assert np.allclose(out.joints[0, 0].numpy(), pelvis, atol=1e-4)


def test_bending_the_left_knee_moves_only_the_left_ankle(body):
    rot = _rest(body).clone()
    k = cmu_tree.POSED_SEGMENTS.index("LeftLeg")
    rot[0, k] = axis_angle_to_matrix(torch.tensor([math.pi / 2, 0.0, 0.0]))  # about x
    rest, bent = body(_rest(body)).joints[0], body(rot).joints[0]
    moved = (rest - bent).norm(dim=-1) > 1e-3
    assert moved.nonzero().flatten().tolist() == [6]
    shin = body.offsets()[cmu_tree.SEGMENT_NAMES.index("LeftFoot")]
    expected = rest[5] + torch.stack([shin[0], -shin[2], shin[1]])  # Rx(90°) (x, y, z) = (x, -z, y)
    assert torch.allclose(bent[6], expected, atol=1e-3)


def test_global_rotation_and_translation(body):
    R = axis_angle_to_matrix(torch.tensor([[0.3, -1.0, 0.5]]))
    t = torch.tensor([[10.0, 20.0, 3000.0]])
    a = body(_rest(body)).joints
    b = body(_rest(body), global_rot=R, transl=t).joints
    assert torch.allclose(b, a @ R.transpose(1, 2) + t, atol=1e-3)


def test_shape_space_reproduces_training_lengths():
    subjects = np.stack([synthetic_offsets(s) for s in (0.9, 1.0, 1.1)])
    mean, basis = shape_space(subjects, num_betas=4)
    assert basis.shape == (2, len(cmu_tree.SEGMENT_NAMES))  # at most n - 1 components
    lengths = np.linalg.norm(subjects, axis=-1)
    assert np.allclose(np.linalg.norm(mean, axis=-1), lengths.mean(0))
    # uniformly scaled skeletons lie on one whitened axis: β = ±sqrt(2)·... reproduces them
    centred = lengths - lengths.mean(0)
    beta, *_ = np.linalg.lstsq(basis.T, centred.T, rcond=None)
    assert np.allclose(basis.T @ beta, centred.T, atol=1e-6)
    assert abs(np.var(beta[0], ddof=1) - 1.0) < 1e-6  # whitened


def test_beta_changes_bone_lengths_not_directions(body):
    beta = torch.tensor([[2.0, -1.0]])
    o0, o1 = body.offsets(), body.offsets(beta)[0]
    nz = o0.norm(dim=-1) > 0
    cos = (o0[nz] * o1[nz]).sum(-1) / (o0[nz].norm(dim=-1) * o1[nz].norm(dim=-1))
    assert torch.allclose(cos, torch.ones_like(cos), atol=1e-5)
    assert not torch.allclose(o0, o1)


def test_pose_vector_round_trip():
    R = axis_angle_to_matrix(torch.randn(4, 13, 3) * 0.7)
    for rep, k in (("aa", 3), ("6d", 6)):
        v = matrices_to_vector(R, rep)
        assert v.shape == (4, 13 * k)
        assert torch.allclose(vector_to_matrices(v, rep), R, atol=1e-5)
    with pytest.raises(ValueError):
        vector_to_matrices(torch.zeros(1, 39), "quat")


def test_surface_points_move_rigidly_with_their_bone(body):
    rot = _rest(body).clone()
    k = cmu_tree.POSED_SEGMENTS.index("LeftForeArm")
    rot[0, k] = axis_angle_to_matrix(torch.tensor([0.0, 1.2, 0.0]))
    p0 = body.surface_points(body(_rest(body)))[0]
    p1 = body.surface_points(body(rot))[0]
    moved = (p0 - p1).norm(dim=-1) > 1e-3
    labels = body.surface_labels
    assert set(labels[moved].tolist()) == {PART_NAMES.index("l_lower_arm")}
    # every part has points, and points keep their distance to the forearm's axis
    assert set(labels.tolist()) == set(range(len(PART_NAMES)))
    sel = labels == PART_NAMES.index("l_lower_arm")
    j0, j1 = body(_rest(body)).joints[0], body(rot).joints[0]

    def dist_to_axis(p, a, b):
        d = (b - a) / (b - a).norm()
        v = p - a
        return (v - (v @ d)[:, None] * d).norm(dim=-1)

    assert torch.allclose(dist_to_axis(p0[sel], j0[12], j0[13]), dist_to_axis(p1[sel], j1[12], j1[13]), atol=1e-3)


def test_bad_shapes_raise(body):
    with pytest.raises(ValueError):
        body(torch.eye(3).expand(1, 5, 3, 3))
    with pytest.raises(ValueError):
        BodyModel(np.zeros((3, 3)))


def test_smpl_adapter_import_guard(monkeypatch):
    import builtins

    from weakpose.methods.flows.body import smpl

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "smplx":
            raise ImportError("No module named 'smplx'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(smpl.SMPLUnavailable, match="smplx"):
        smpl.SMPLAdapter("models", "reg.npy", "labels.npy")


def test_fk_reproduces_the_cmu_conversion_exactly(tmp_path):
    """The body model's FK with a subject's own skeleton and BVH rotations gives the reference
    joints (README rule 1-5) of one real trial."""
    from weakpose.data.converters.cmu import convert_cmu, load_cmu_rotations, save_cmu
    from weakpose.data.paths import data_root
    from weakpose.methods.flows.body.cmu import body_model_from_rotations, pose_data

    root = data_root()
    if not (root / "cmu" / "bvh" / "07" / "07_01.bvh").exists():
        pytest.skip("CMU data not available")
    save_cmu(
        tmp_path / "r.npz",
        convert_cmu(root / "cmu" / "bvh", root / "cmu" / "index.tsv", trials=["07_01"], rotations=True),
    )
    rot = load_cmu_rotations(tmp_path / "r.npz")
    pd = pose_data(rot)
    model = body_model_from_rotations(rot, (7,))
    sel = slice(0, None, 7)
    out = model(torch.from_numpy(pd.local[sel]).double(), global_rot=torch.from_numpy(pd.global_rot[sel]).double(),
                transl=torch.from_numpy(pd.root[sel]).double(),
                offsets=torch.from_numpy(pd.offsets[pd.subject_index[sel]]))
    assert np.abs(out.joints.numpy() - pd.positions[sel]).max() < 0.01  # mm
