"""Held-out training subject for choosing the multi-view settings (docs/multiview.md, issue 16).

The validation files of ``multiview_validation_files.py`` are frames the runs also train on
(other cameras and noise draws), so they reward fitting the training poses. Here subject 8 is
left out of training and is the validation data; never the test subjects:

    PYTHONPATH=src python scripts/multiview_holdout.py files OUT_DIR
    PYTHONPATH=src python scripts/multiview_holdout.py train RUN [key=value ...]
    PYTHONPATH=src python scripts/multiview_holdout.py score RUN OUT_DIR

``files`` writes OUT_DIR/val_holdout8_h36m_det2d.npz (every frame of subject 8 x the 4 h36m-rig
cameras) and OUT_DIR/val_holdout8_wild_det2d.npz (every frame x 4 independent wild cameras),
3,556 samples each, detector-like 2D (noise seeds 7-10; the runs' samplers use seeds 0-2).
``train`` runs ``weakpose train multiview`` (one thread, no progress bar) on the training
subjects minus subject 8: the multi-view samples and the mean bone lengths of L_B and of the mm
scale. ``score`` predicts both files with the run and prints PA-MPJPE (and MPJPE) per file and
their mean, the selection criterion.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HOLDOUT = 8
RIGS = ("h36m", "wild")
KEYS = ("keypoints_2d", "confidence", "intrinsics", "positions_3d", "image_size")


def val_path(out: Path, rig: str) -> Path:
    return out / f"val_holdout{HOLDOUT}_{rig}_det2d.npz"


def write_files(out: Path) -> None:
    from weakpose.data.benchmark import make_split
    from weakpose.data.contracts import save_npz_atomic
    from weakpose.data.paths import data_root

    out.mkdir(parents=True, exist_ok=True)
    h36m = make_split(data_root(), (HOLDOUT,), rig="h36m", noise="detector", seed=7)
    wild = [make_split(data_root(), (HOLDOUT,), rig="wild", noise="detector", seed=s) for s in (7, 8, 9, 10)]
    for rig, parts in (("h36m", [h36m]), ("wild", wild)):
        arrays = {k: np.concatenate([p[k] for p in parts]) for k in KEYS}
        save_npz_atomic(val_path(out, rig), **arrays)
        print(f"wrote {val_path(out, rig)}: {len(arrays['keypoints_2d'])} samples")


def train(run: Path, overrides: list[str]) -> None:
    import torch

    from weakpose.data import mocap

    mocap.TRAIN_SUBJECTS = tuple(s for s in mocap.TRAIN_SUBJECTS if s != HOLDOUT)  # before the method is imported
    torch.set_num_threads(1)
    from weakpose.methods.multiview import method

    assert HOLDOUT not in method.TRAIN_SUBJECTS, "the multi-view method was imported before the hold-out"
    from weakpose.training import train as run_training

    run_training("multiview", run, overrides=overrides, progress=False)


def score(run: Path, files: Path) -> None:
    from weakpose.data.contracts import Keypoints2D
    from weakpose.engine.checkpoint import load_checkpoint
    from weakpose.methods.registry import get_method
    from weakpose.metrics import mpjpe, pa_mpjpe

    ckpt = load_checkpoint(run)
    predictor = get_method(ckpt["method"]).load_predictor(ckpt)
    pa = []
    for rig in RIGS:
        d = np.load(val_path(files, rig))
        pred = predictor.predict(Keypoints2D(d["keypoints_2d"], d["confidence"], d["intrinsics"]))["positions_3d"]
        pa.append(float(pa_mpjpe(pred, d["positions_3d"]).mean()))
        full = float(mpjpe(pred, d["positions_3d"]).mean())
        print(f"{run} holdout{HOLDOUT}_{rig}: PA-MPJPE {pa[-1]:.2f} MPJPE {full:.2f}")
    print(f"{run} holdout{HOLDOUT} mean PA-MPJPE {np.mean(pa):.2f}")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "files":
        write_files(Path(args[0]))
    elif cmd == "train":
        train(Path(args[0]), args[1:])
    elif cmd == "score":
        score(Path(args[0]), Path(args[1]))
    else:
        sys.exit(f"unknown command {cmd!r} (files, train, score)")
