import numpy as np
import pytest
import torch

from weakpose.skeleton import H36M17, LAYOUTS, SYNTHESISED, from_h36m17, to_h36m17


def test_h36m_tree():
    assert H36M17.num_joints == 17 and H36M17.num_bones == 16
    assert H36M17.bones[0] == (0, 1) and (8, 14) in H36M17.bones
    assert H36M17.flip_permutation == [0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13]


def test_flip_mirrors_and_swaps(rng):
    x = rng.normal(size=(3, 17, 3))
    y = H36M17.flip(x)
    assert np.allclose(y[:, 1, 0], -x[:, 4, 0]) and np.allclose(y[:, 1, 1:], x[:, 4, 1:])
    assert np.allclose(H36M17.flip(y), x)
    t = torch.as_tensor(x)
    assert torch.allclose(H36M17.flip(t), torch.as_tensor(y))
    # 2D flip about an image centre keeps the pixel range
    kp = np.array([[[0.0, 5.0]] * 17])
    assert np.allclose(H36M17.flip(kp, center=49.5)[..., 0], 99.0)


def test_bone_lengths_hand_made():
    x = np.zeros((17, 3))
    x[1] = [3.0, 4.0, 0.0]                    # pelvis -> r_hip: 5
    assert H36M17.bone_lengths(x)[0] == pytest.approx(5.0)
    assert H36M17.bone_lengths(x)[1] == pytest.approx(5.0)   # r_hip -> r_knee (knee at 0)


def test_coco_conversion_synthesises_documented_joints():
    kp = np.arange(17 * 2, dtype=np.float64).reshape(17, 2)
    conf = np.ones(17)
    conf[13] = 0.0                              # l_knee missing
    out, c = to_h36m17(kp, conf, "coco17")
    assert np.allclose(out[0], (kp[11] + kp[12]) / 2)            # pelvis = mid-hip
    assert np.allclose(out[8], (kp[5] + kp[6]) / 2)              # thorax = mid-shoulder
    assert np.allclose(out[7], (kp[5] + kp[6] + kp[11] + kp[12]) / 4)
    assert np.allclose(out[14], kp[6]) and np.allclose(out[3], kp[16])
    assert c[5] == 0 and np.allclose(out[5], 0)                  # missing stays missing
    assert np.allclose(out[10], (kp[3] + kp[4]) / 2)             # head = skull base ~ mid-ear
    assert np.allclose(out[9], (kp[3] + kp[4] + kp[5] + kp[6]) / 4)   # mid-neck
    assert set(SYNTHESISED["coco17"]) == {"pelvis", "spine", "thorax", "neck_nose", "head"}


def test_mpii_and_mediapipe_and_lilee():
    kp = np.random.default_rng(1).normal(size=(2, 16, 2))
    out, _ = to_h36m17(kp, None, "mpii16")
    assert np.allclose(out[:, 3], kp[:, 0]) and np.allclose(out[:, 10], kp[:, 8])
    assert np.allclose(out[:, 9], (kp[:, 7] + kp[:, 8]) / 2)
    mp = np.random.default_rng(2).normal(size=(33, 3))
    out, _ = to_h36m17(mp, np.ones(33), "mediapipe33")
    assert np.allclose(out[0], (mp[23] + mp[24]) / 2) and np.allclose(out[16], mp[16])
    pose = np.random.default_rng(3).normal(size=(4, 17, 3))
    back, _ = to_h36m17(from_h36m17(pose, "lilee16"), None, "lilee16")
    keep = [j for j in range(17) if j != 7]
    assert np.allclose(back[:, keep], pose[:, keep])
    assert np.allclose(back[:, 7], (pose[:, 0] + pose[:, 8]) / 2)
    t, tc = to_h36m17(torch.as_tensor(mp), torch.ones(33), "mediapipe33")
    assert torch.allclose(t, torch.as_tensor(out)) and tc.shape == (17,)


def test_wrong_joint_count_rejected():
    with pytest.raises(ValueError, match="17 joints"):
        to_h36m17(np.zeros((16, 2)), None, "coco17")
    with pytest.raises(KeyError):
        to_h36m17(np.zeros((17, 2)), None, "openpose25")
    assert all(len(l.to_h36m) == 17 for l in LAYOUTS.values())
