"""Conversion speed of the Human3.6M / MPI-INF-3DHP / COCO converters on synthetic files of real size.

No licensed data is available here, so this writes files in the exact formats with the sizes
of the real ones and times the conversion (the CDF/npz/JSON writing is not timed):

* Human3.6M: one subject = 30 ``D3_Positions`` CDF files × 3,000 frames (S9 has 30 takes,
  ~100k frames in total at 50 fps, so the full 7 subjects are ~7× this);
* VideoPose3D: the same subject as ``data_3d_h36m.npz`` + a 2D detection file;
* MPI-INF-3DHP test: TS1-size ``annot_data.mat`` (6,151 frames), v7.3;
* COCO: a val2017-size ``person_keypoints`` JSON (6,352 annotated people, 5,000 images).

Usage: ``OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/converters_synthetic.py``
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "data_converters"))
from h36m_fixtures import random_world_poses, write_pickled_npz, write_pose_cdf  # noqa: E402

from weakpose.data.converters import coco, h36m, mpi_inf_3dhp  # noqa: E402


def timed(label: str, frames: int, fn):
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    n = len(out["keypoints_2d"])
    print(f"{label:48s} {dt:7.2f} s  {frames / dt:10,.0f} source frames/s  -> {n:,} samples")
    return out


def main() -> None:
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # Human3.6M original
        actions = [a for a in h36m.ACTIONS] * 2
        worlds = {}
        for i, a in enumerate(actions):
            name = f"{a} {1 + i // len(h36m.ACTIONS)}"
            w = random_world_poses(rng, 3000)
            worlds[name] = w
            write_pose_cdf(tmp / "h36m" / "S9" / "MyPoseFeatures" / "D3_Positions" / f"{name}.cdf", w)
        frames = 3000 * len(actions)
        timed("h36m original, S9-size, projected, distortion", frames,
              lambda: h36m.convert_h36m_original(tmp / "h36m", subjects=["S9"]))  # fmt: skip
        timed("h36m original, S9-size, multiview, stride 64", frames,
              lambda: h36m.convert_h36m_original(tmp / "h36m", subjects=["S9"], stride=64, multiview=True))  # fmt: skip
        write_pickled_npz(tmp / "d3.npz", positions_3d={"S9": {k: v / 1000 for k, v in worlds.items()}})
        det = {
            "S9": {
                k: [rng.uniform(0, 1000, (len(v), 17, 2)).astype(np.float32) for _ in range(4)]
                for k, v in worlds.items()
            }
        }
        write_pickled_npz(tmp / "d2.npz", positions_2d=det, metadata={"layout_name": "h36m", "num_joints": 17})
        timed("h36m VideoPose3D 3D + 2D detections, S9-size", frames,
              lambda: h36m.convert_h36m_vp3d(tmp / "d3.npz", tmp / "d2.npz", subjects=["S9"]))  # fmt: skip
        # MPI-INF-3DHP test set (v7.3)
        import h5py

        T = 6151
        p3 = rng.normal(0, 300, (T, 17, 3)) + [0, 0, 4000]
        uv = p3[..., :2] / p3[..., 2:] * 1500 + 1024
        (tmp / "TS1").mkdir()
        with h5py.File(tmp / "TS1" / "annot_data.mat", "w") as f:
            f["annot2"] = uv[:, None]
            f["annot3"] = p3[:, None]
            f["univ_annot3"] = p3[:, None]
            f["valid_frame"] = np.ones((1, T))
            f["activity_annotation"] = np.ones((1, T))
        timed("mpi-inf-3dhp test TS1-size (v7.3)", T, lambda: mpi_inf_3dhp.convert_3dhp_test(tmp, sequences=["TS1"]))
        # COCO val2017-size
        anns = []
        for i in range(6352):
            k = np.concatenate([rng.uniform(0, 600, (17, 2)), rng.integers(0, 3, (17, 1))], 1)
            anns.append({"id": i, "image_id": i % 5000, "category_id": 1, "iscrowd": 0, "keypoints": k.ravel().tolist(),
                         "bbox": [0, 0, 100, 200], "num_keypoints": int((k[:, 2] > 0).sum())})  # fmt: skip
        images = [{"id": i, "file_name": f"{i:012d}.jpg", "width": 640, "height": 480} for i in range(5000)]
        (tmp / "coco.json").write_text(
            json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]})
        )
        timed("coco val2017-size person_keypoints", 6352, lambda: coco.convert_coco(tmp / "coco.json"))


if __name__ == "__main__":
    main()
