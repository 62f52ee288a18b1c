"""Training-subject validation files with detector-like 2D (docs/multiview.md, issue 16): the
data the multi-view defaults were chosen on, never the test subjects.

    PYTHONPATH=src python scripts/multiview_validation_files.py OUT_DIR

writes OUT_DIR/val_train_h36m_det2d.npz (every 40th training frame x the 4 h36m-rig cameras)
and OUT_DIR/val_train_wild_det2d.npz (every 10th training frame, one random wild camera each),
2,584 samples each, noise seed 7 (the training samplers use the run's seed, 0-2); score a run
with `weakpose predict --checkpoint RUN --input FILE --output P.npz` and
`weakpose evaluate --pred P.npz --gt FILE`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from weakpose.data.benchmark import make_split
from weakpose.data.contracts import save_npz_atomic
from weakpose.data.mocap import TRAIN_SUBJECTS
from weakpose.data.paths import data_root

KEYS = ("keypoints_2d", "confidence", "intrinsics", "positions_3d", "image_size")


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for rig, stride in (("wild", 10), ("h36m", 40)):
        s = make_split(data_root(), tuple(TRAIN_SUBJECTS), rig=rig, noise="detector", seed=7, stride=stride)
        path = out / f"val_train_{rig}_det2d.npz"
        save_npz_atomic(path, **{k: s[k] for k in KEYS})
        print(f"wrote {path}: {len(s['keypoints_2d'])} samples")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
