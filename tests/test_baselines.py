import pytest

from weakpose.baselines import depthless_poses
from weakpose.data.contracts import load_benchmark
from weakpose.data.statistics import training_bone_lengths
from weakpose.metrics import evaluate_predictions


def test_depthless_baseline_matches_design(root, gt2d_file):
    """DESIGN.md §5: the depth-less prediction scores 127.5 / 93.2 mm on gt2d."""
    bench = load_benchmark(gt2d_file)
    res = evaluate_predictions(depthless_poses(bench.inputs, training_bone_lengths(root)), bench.positions_3d)
    assert res["mpjpe"] == pytest.approx(127.5, abs=0.05)
    assert res["pa_mpjpe"] == pytest.approx(93.2, abs=0.05)


def _orthographic_view(pose, angle_deg, scale=0.5):
    from scipy.spatial.transform import Rotation

    R = Rotation.from_euler("yx", [angle_deg, 20], degrees=True).as_matrix()
    cam = (pose - pose[:1]) @ R.T
    return scale * cam[:, :2] + 400.0, cam


def test_exemplar_finds_the_bank_pose_seen_from_any_camera(root):
    """An orthographic view of a bank pose is explained exactly by that pose (residual 0), and the
    exemplar comes back in the viewing camera's frame; hidden joints are left out of the fit."""
    import numpy as np

    from weakpose.baselines import exemplar_poses
    from weakpose.data.contracts import Keypoints2D
    from weakpose.data.mocap import TRAIN_SUBJECTS, load_cmu
    from weakpose.geometry.scale import bone_length_scale

    bank = load_cmu(root, TRAIN_SUBJECTS).positions[::40].astype(np.float64)
    bones = training_bone_lengths(root)
    targets = [7, 123, 400]
    views = [_orthographic_view(bank[t], a) for t, a in zip(targets, (30, -75, 160))]
    kp = np.stack([v[0] for v in views]).astype(np.float32)
    conf = np.ones(kp.shape[:2], np.float32)
    conf[2, [3, 13]] = 0.0                                      # an ankle and an elbow hidden
    poses, residual = exemplar_poses(Keypoints2D(kp, conf, None), bank, bones)
    assert np.all(residual < 1e-9)
    for k, (_, cam) in enumerate(views):
        expect = bone_length_scale(cam, bones) * cam
        assert np.abs(poses[k] - expect).max() < 1e-2          # mm


def test_exemplar_rejects_a_bank_of_the_wrong_shape(root):
    import numpy as np

    from weakpose.baselines import exemplar_poses
    from weakpose.data.contracts import Keypoints2D

    kp = np.zeros((2, 17, 2), np.float32)
    with pytest.raises(ValueError, match="bank must be"):
        exemplar_poses(Keypoints2D(kp, np.ones((2, 17), np.float32), None), np.zeros((5, 16, 3)), np.ones(16))
