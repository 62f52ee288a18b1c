"""COCO and MPII annotation files -> weakpose 2D files (Human3.6M-17 via weakpose.skeleton.to_h36m17)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io

from weakpose.data.contracts import validate_keypoints_2d
from weakpose.data.converters import coco, mpii
from weakpose.errors import InputError
from weakpose.skeleton import COCO17_NAMES, MPII16_NAMES


def _coco_file(tmp_path, rng):
    kps = []
    anns = []
    for a_id, (img, crowd) in enumerate([(1, 0), (1, 0), (2, 1), (2, 0)]):
        k = np.concatenate([rng.uniform(0, 600, (17, 2)), np.full((17, 1), 2.0)], 1)
        if a_id == 1:
            k[COCO17_NAMES.index("l_hip"), 2] = 0  # pelvis and spine become missing
            k[COCO17_NAMES.index("l_ear"), 2] = 1  # occluded but labelled
            k[COCO17_NAMES.index("l_hip"), :2] = 0
        if a_id == 3:
            k[:, 2] = 0  # no keypoints at all: dropped
            k[:, :2] = 0
        kps.append(k)
        anns.append({"id": 100 + a_id, "image_id": img, "category_id": 1, "iscrowd": crowd,
                     "keypoints": k.ravel().tolist(), "num_keypoints": int((k[:, 2] > 0).sum()),
                     "bbox": [10.0, 20.0, 300.0, 400.0], "area": 1.0})  # fmt: skip
    d = {"images": [{"id": 1, "file_name": "000001.jpg", "width": 640, "height": 480},
                    {"id": 2, "file_name": "000002.jpg", "width": 320, "height": 240}],
         "annotations": anns, "categories": [{"id": 1, "name": "person"}]}  # fmt: skip
    p = tmp_path / "person_keypoints_val2017.json"
    p.write_text(json.dumps(d))
    return p, kps, d


def test_coco(tmp_path) -> None:
    rng = np.random.default_rng(0)
    p, kps, _ = _coco_file(tmp_path, rng)
    out = coco.convert_coco(p, image_root="images/val2017")
    assert out["keypoints_2d"].shape == (2, 17, 2)  # crowd and the empty person dropped
    np.testing.assert_array_equal(out["annotation_id"], [100, 101])
    assert out["image_path"].tolist() == ["images/val2017/000001.jpg"] * 2
    k = kps[0]
    c = {n: k[i, :2] for i, n in enumerate(COCO17_NAMES)}
    np.testing.assert_allclose(out["keypoints_2d"][0, 0], (c["l_hip"] + c["r_hip"]) / 2, rtol=1e-6)
    np.testing.assert_allclose(out["keypoints_2d"][0, 10], (c["l_ear"] + c["r_ear"]) / 2, rtol=1e-6)
    np.testing.assert_allclose(
        out["keypoints_2d"][0, 9], (c["l_ear"] + c["r_ear"] + c["l_shoulder"] + c["r_shoulder"]) / 4, rtol=1e-6
    )
    np.testing.assert_allclose(out["keypoints_2d"][0, 16], c["r_wrist"], rtol=1e-6)
    # a missing left hip makes l_hip, pelvis and spine missing, at (0, 0)
    assert out["confidence"][1].tolist() == [0, 1, 1, 1, 0, 1, 1, 0] + [1] * 9
    np.testing.assert_array_equal(out["keypoints_2d"][1, [0, 4, 7]], 0)
    assert out["source_visible"][1, COCO17_NAMES.index("l_ear")] == 0
    assert out["source_confidence"][1, COCO17_NAMES.index("l_ear")] == 1
    np.testing.assert_array_equal(out["image_size"][0], [640, 480])
    np.testing.assert_array_equal(out["bbox"][0], [10, 20, 300, 400])
    np.testing.assert_array_equal(out["box"][0], [10, 20, 310, 420])  # x0, y0, x1, y1 for predict / images=
    validate_keypoints_2d(out, p)
    vis = coco.convert_coco(p, visible_only=True)
    assert vis["confidence"][1, 10] == 0  # head = mid-ear with an occluded ear
    proto = json.loads(str(out["protocol"]))
    assert proto["skipped_crowd"] == 1 and proto["dropped_people"] == 1
    assert set(proto["synthesised_joints"]) == {"pelvis", "spine", "thorax", "neck_nose", "head"}


def test_coco_bad_input(tmp_path) -> None:
    rng = np.random.default_rng(1)
    p, _, d = _coco_file(tmp_path, rng)
    bad = json.loads(json.dumps(d))
    del bad["annotations"][2]["keypoints"]
    p.write_text(json.dumps(bad))
    with pytest.raises(InputError, match=r"key 'annotations\[2\]\.keypoints': missing"):
        coco.convert_coco(p)
    bad = json.loads(json.dumps(d))
    bad["annotations"][0]["keypoints"] = bad["annotations"][0]["keypoints"][:50]
    p.write_text(json.dumps(bad))
    with pytest.raises(InputError, match="50 values, expected 51"):
        coco.convert_coco(p)
    bad = json.loads(json.dumps(d))
    del bad["images"]
    p.write_text(json.dumps(bad))
    with pytest.raises(InputError, match="key 'images': missing"):
        coco.convert_coco(p)
    p.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        coco.convert_coco(p)


def test_mpii_json(tmp_path) -> None:
    rng = np.random.default_rng(2)
    rows = []
    for i in range(3):
        j = rng.uniform(0, 700, (16, 2))
        v = np.ones(16)
        if i == 1:
            v[MPII16_NAMES.index("pelvis")] = 0
            j[MPII16_NAMES.index("pelvis")] = -1
        rows.append({"image": f"{i:09d}.jpg", "center": [300.0, 310.0], "scale": 2.5,
                     "joints": j.tolist(), "joints_vis": v.tolist()})  # fmt: skip
    p = tmp_path / "valid.json"
    p.write_text(json.dumps(rows))
    out = mpii.convert_mpii(p, image_root="images")
    assert out["keypoints_2d"].shape == (3, 17, 2)
    j = np.asarray(rows[0]["joints"])
    idx = {n: i for i, n in enumerate(MPII16_NAMES)}
    np.testing.assert_allclose(out["keypoints_2d"][0, 0], j[idx["pelvis"]], rtol=1e-6)
    np.testing.assert_allclose(out["keypoints_2d"][0, 7], (j[idx["pelvis"]] + j[idx["thorax"]]) / 2, rtol=1e-6)
    np.testing.assert_allclose(out["keypoints_2d"][0, 10], j[idx["upper_neck"]], rtol=1e-6)
    np.testing.assert_allclose(out["keypoints_2d"][0, 3], j[idx["r_ankle"]], rtol=1e-6)
    assert out["confidence"][1, 0] == 0 and out["confidence"][1, 7] == 0 and out["confidence"][1, 8] == 1
    np.testing.assert_allclose(out["bbox"][0], [50, 60, 500, 500])
    np.testing.assert_allclose(out["box"][0], [50, 60, 550, 560])
    assert out["image_path"][2] == "images/000000002.jpg"
    validate_keypoints_2d(out, p)
    del rows[1]["joints_vis"]
    p.write_text(json.dumps(rows))
    with pytest.raises(InputError, match=r"key '\[1\]\.joints_vis': missing"):
        mpii.convert_mpii(p)


def _point(jid, x, y, vis):
    return {"x": float(x), "y": float(y), "id": jid, "is_visible": vis}


def test_mpii_mat_release(tmp_path) -> None:
    rng = np.random.default_rng(3)
    pts = rng.uniform(0, 500, (16, 2))
    person = {"annopoints": {"point": np.array([_point(j, *pts[j], j % 2) for j in range(16) if j != 8], dtype=object)},
              "scale": 3.0, "objpos": {"x": 250.0, "y": 260.0}}  # fmt: skip
    unannotated = {"scale": 1.0, "objpos": {"x": 1.0, "y": 1.0}}
    one_point = {"annopoints": {"point": _point(6, 10.0, 20.0, 1)}, "scale": 1.0, "objpos": {"x": 10.0, "y": 20.0}}
    annolist = np.array([
        {"image": {"name": "a.jpg"}, "annorect": np.array([person, unannotated, one_point], dtype=object)},
        {"image": {"name": "test.jpg"}, "annorect": {"scale": 1.0, "objpos": {"x": 1.0, "y": 1.0}}},
    ], dtype=object)  # fmt: skip
    p = tmp_path / "mpii_human_pose_v1_u12_1.mat"
    scipy.io.savemat(p, {"RELEASE": {"annolist": annolist, "img_train": np.array([1, 0])}})
    out = mpii.convert_mpii(p)
    assert out["keypoints_2d"].shape == (2, 17, 2)  # the unannotated person is skipped
    np.testing.assert_allclose(out["source_keypoints"][0, :8], pts[:8], rtol=1e-6)
    assert out["source_confidence"][0, 8] == 0  # upper_neck not annotated
    assert out["confidence"][0, 10] == 0  # -> Human3.6M head missing
    np.testing.assert_array_equal(out["source_visible"][0, :4], [False, True, False, True])
    np.testing.assert_allclose(out["bbox"][0], [-50, -40, 600, 600])
    assert out["image_path"].tolist() == ["a.jpg", "a.jpg"]
    assert out["confidence"][1].sum() == 1  # only the pelvis
    with pytest.raises(InputError, match="no annotated person"):
        mpii.convert_mpii(p, split="test")
    scipy.io.savemat(p, {"NOT_RELEASE": np.zeros(3)})
    with pytest.raises(InputError, match="key 'RELEASE': missing"):
        mpii.convert_mpii(p)


def test_mpii_cpm_json(tmp_path) -> None:
    rng = np.random.default_rng(4)
    entries = []
    for i in range(3):
        j = np.concatenate([rng.uniform(10, 700, (16, 2)), np.ones((16, 1))], 1)
        if i == 0:
            j[MPII16_NAMES.index("upper_neck")] = 0  # not annotated
        entries.append({"dataset": "MPI", "isValidation": float(i == 2), "img_paths": f"{i}.jpg",
                        "objpos": [100.0, 120.0], "scale_provided": 1.5, "joint_self": j.tolist()})  # fmt: skip
    p = tmp_path / "mpii_annotations.json"
    p.write_text(json.dumps({"root": entries}))
    out = mpii.convert_mpii(p)  # train: isValidation 0
    assert out["image_path"].tolist() == ["0.jpg", "1.jpg"]
    assert out["confidence"][0, 10] == 0 and out["confidence"][1, 10] == 1
    np.testing.assert_allclose(out["keypoints_2d"][1, 3], entries[1]["joint_self"][0][:2], rtol=1e-6)
    np.testing.assert_allclose(out["bbox"][0], [-50, -30, 300, 300])
    assert mpii.convert_mpii(p, split="test")["image_path"].tolist() == ["2.jpg"]
    assert json.loads(str(out["protocol"]))["format"] == "json-cpm"
