"""CMU BVH -> cmu_h36m17.npz: reproduction of the shipped file on a few short trials, rotations."""

from __future__ import annotations

import numpy as np
import pytest

from weakpose.data.converters import cmu
from weakpose.data.converters._common import InputError

# short trials covering every cleaning rule: frozen frames and a glitch window and a dropped
# short clip (03_02), an all-zero first frame (07_12), a frozen frame splitting a clip (06_03),
# a plain trial (02_03)
TRIALS = ["02_03", "03_02", "06_03", "07_12"]


@pytest.fixture(scope="module")
def converted(cmu_root):
    return cmu.convert_cmu(cmu_root / "bvh", cmu_root / "index.tsv", trials=TRIALS, rotations=True)


@pytest.fixture(scope="module")
def reference(cmu_root):
    with np.load(cmu_root / "cmu_h36m17.npz") as d:
        return {k: d[k] for k in d.files}


def _reference_subset(ref: dict, trials: list[str]) -> dict:
    seq = np.flatnonzero(np.isin(ref["seq_trial"], trials))
    frames = np.isin(ref["seq_id"], seq)
    return {"seq": seq, "frames": frames}


def test_reproduces_reference_positions(converted, reference) -> None:
    sub = _reference_subset(reference, TRIALS)
    for key in ("positions", "extra_positions"):
        ref = reference[key][sub["frames"]]
        assert converted[key].shape == ref.shape
        err = np.linalg.norm(converted[key].astype(np.float64) - ref, axis=-1)
        assert err.max() < 1.0, (key, err.max())
    for key in ("subject", "src_frame", "action_id"):
        np.testing.assert_array_equal(converted[key], reference[key][sub["frames"]])


def test_reproduces_reference_clips(converted, reference) -> None:
    seq = _reference_subset(reference, TRIALS)["seq"]
    for key in ("seq_names", "seq_trial", "seq_subject", "seq_src_start", "seq_src_end", "seq_len",
                "seq_description", "seq_action", "seq_src_fps", "seq_fps"):  # fmt: skip
        np.testing.assert_array_equal(converted[key], reference[key][seq], err_msg=key)
    # the clip-relative keys are renumbered for the subset
    np.testing.assert_array_equal(converted["seq_start"], np.r_[0, np.cumsum(converted["seq_len"])[:-1]])
    ref_stats = reference["trial_stats"][np.isin(reference["trial_stats"]["trial"], TRIALS)]
    np.testing.assert_array_equal(converted["trial_stats"], ref_stats)
    for key in ("joint_names", "parents", "action_names", "extra_names", "fps"):
        np.testing.assert_array_equal(converted[key], reference[key], err_msg=key)


def test_cleaning_statistics_hand_checked(converted) -> None:
    stats = {r["trial"]: r for r in converted["trial_stats"]}
    # 03_02: frames 12-24 repeat frame 11; jump at 51 -> 39..62 dropped; 1..11 and 25..38 too short
    assert (stats["03_02"]["frozen"], stats["03_02"]["glitch_window"], stats["03_02"]["dropped"]) == (13, 24, 62)
    assert int(converted["seq_src_start"][list(converted["seq_names"]).index("03_02")]) == 63
    # 06_03: one frozen frame (235) splits the trial into two clips
    assert list(converted["seq_names"]).count("06_03#0") == 1 and "06_03#1" in converted["seq_names"]


def test_every_fourth_frame_from_clip_start(converted) -> None:
    for s, (start, n) in enumerate(zip(converted["seq_start"], converted["seq_len"])):
        f = converted["src_frame"][start : start + n]
        assert f[0] == converted["seq_src_start"][s]
        assert np.all(np.diff(f) == 4)
        assert f[-1] <= converted["seq_src_end"][s] < f[-1] + 4


def test_thorax_repair_adds_upper_back_length(cmu_root) -> None:
    from weakpose.data import bvh

    b = bvh.read_bvh(cmu_root / "bvh" / "09" / "09_03.bvh")
    s = b.skeleton
    fixed = cmu.thorax_repaired_offsets(s)
    for name in ("Neck", "LeftShoulder", "RightShoulder"):
        np.testing.assert_array_equal(s.offsets[s.index(name)], 0.0)
        np.testing.assert_array_equal(fixed[s.index(name)], s.offsets[s.index("Spine1")])
    p_raw = bvh.forward_kinematics(b)[1] * cmu.MM_PER_BVH_UNIT
    p_fix = bvh.forward_kinematics(b, fixed)[1] * cmu.MM_PER_BVH_UNIT
    grow = p_fix[s.index("Head_End"), 1] - p_raw[s.index("Head_End"), 1]
    assert 100 < grow < 130  # "about 11-12 cm too short" without it


def test_rotations_round_trip(converted, tmp_path) -> None:
    path = tmp_path / "cmu_rot.npz"
    cmu.save_cmu(path, converted)
    r = cmu.load_cmu_rotations(path)
    assert r.local.shape == (len(r.positions), 31, 3, 3)
    assert r.offsets.shape == (len(TRIALS), 38, 3)
    # rotation matrices are orthonormal with det +1
    m = r.local.astype(np.float64)
    np.testing.assert_allclose(m @ np.swapaxes(m, -1, -2), np.broadcast_to(np.eye(3), m.shape), atol=1e-5)
    np.testing.assert_allclose(np.linalg.det(m), 1.0, atol=1e-5)
    pos = cmu.repose(r)
    assert np.abs(pos - r.positions).max() < 0.01  # mm
    ext = cmu.repose(r, all_joints=True)
    names = r.joint_names
    np.testing.assert_allclose(ext[:, names.index("Head_End")], r.extra_positions[:, 0], atol=0.01)
    # editing a rotation moves exactly the joints below it
    loc = r.local[:5].copy()
    k = r.rot_joint_names.index("LeftForeArm")
    loc[:, k] = np.eye(3)
    moved = cmu.repose(r, local=loc, frames=slice(0, 5))
    changed = np.abs(moved - r.positions[:5]).max(axis=(0, 2)) > 1e-3
    assert changed.tolist() == [j == 13 for j in range(17)]  # only l_wrist
    rot6d = r.rot6d()
    assert rot6d.shape == r.local.shape[:-2] + (6,)


def test_rotation_file_errors(tmp_path, converted) -> None:
    path = tmp_path / "positions_only.npz"
    cmu.save_cmu(path, {k: v for k, v in converted.items() if not k.startswith(("rot_", "bvh_"))})
    with pytest.raises(InputError, match="'rot_local': missing.*--rotations"):
        cmu.load_cmu_rotations(path)
    with pytest.raises(InputError, match="cannot read"):
        cmu.load_cmu_rotations(tmp_path / "missing.npz")


def test_actions_cover_the_index(cmu_root) -> None:
    idx = cmu.read_index(cmu_root / "index.tsv")
    actions = {t: cmu.action_from_description(d) for t, d in idx.items()}
    assert set(actions.values()) == set(cmu.ACTION_NAMES)
    assert actions["01_01"] == "playground"  # "playground - forward jumps" is not "jump"
    assert actions["02_06"] == "bend_pick_up"
    assert actions["09_12"] == "walk"
    assert cmu.action_from_description("juggling") == cmu.OTHER_ACTION


def test_bad_inputs(tmp_path, cmu_root) -> None:
    with pytest.raises(InputError, match="no description for trial '99_01'"):
        cmu.convert_cmu(cmu_root / "bvh", cmu_root / "index.tsv", trials=["99_01"])
    bad_index = tmp_path / "index.tsv"
    bad_index.write_text("# comment\n01_01 no tab here\n")
    with pytest.raises(InputError, match=r"index.tsv:2: expected 'trial<TAB>description'"):
        cmu.read_index(bad_index)
    bad_index.write_text("02_03\trun\n")
    with pytest.raises(InputError, match="no BVH file"):
        cmu.convert_cmu(tmp_path, bad_index)


def test_rotations_in_memory(converted, cmu_root) -> None:
    r = cmu.rotations_from_arrays(converted)
    np.testing.assert_allclose(cmu.repose(r, frames=slice(0, 50)), r.positions[:50], atol=0.01)
    r9 = cmu.cmu_rotations(cmu_root, subjects=[9])  # 12 short trials
    assert set(r9.subject.tolist()) == {9} and r9.offsets.shape == (1, 38, 3)
    np.testing.assert_allclose(cmu.repose(r9), r9.positions, atol=0.01)


@pytest.mark.slow
def test_full_reproduction_all_98_files(cmu_root, reference) -> None:
    """All 98 BVH files against the shipped npz (about 5-15 s; ``-m slow``)."""
    out = cmu.convert_cmu(cmu_root / "bvh", cmu_root / "index.tsv", rotations=True)
    assert len(out["trial_stats"]) == 98
    for key in ("positions", "extra_positions"):
        assert out[key].shape == reference[key].shape
        assert np.linalg.norm(out[key].astype(np.float64) - reference[key], axis=-1).max() < 1.0
    for key in reference:
        if key not in ("positions", "extra_positions", "meta"):
            np.testing.assert_array_equal(out[key], reference[key], err_msg=key)
    r = cmu.rotations_from_arrays(out)
    assert np.abs(cmu.repose(r) - r.positions).max() < 0.01
