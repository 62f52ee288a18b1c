"""Lifters with and without truncation training, side by side (issue 18):

* the public gt2d and det2d test files (whole bodies): MPJPE / PA-MPJPE;
* the truncated gt2d test file (`weakpose benchmark --subjects 2 9 --truncate`): MPJPE of the
  seen and of the unseen joints, and the bones of unseen limbs (length error, share within 25 %);
* the two upper-body photos (scikit-image's astronaut, matplotlib's grace_hopper.jpg, MediaPipe
  2D): each bone's length over the training subjects' mean, and how many bones are within 25 %.

    python benchmarks/truncation_accuracy.py RUN_A RUN_B ... [--truncated FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
from pathlib import Path

import numpy as np

from weakpose.cli import main as weakpose
from weakpose.data.contracts import load_benchmark
from weakpose.data.paths import data_root
from weakpose.data.statistics import training_bone_lengths
from weakpose.inference_api import load_predictor
from weakpose.metrics import evaluate_predictions, seen_unseen_errors
from weakpose.skeleton import H36M17


def photos(tmp: Path) -> list[Path]:
    import matplotlib.cbook as cbook
    import skimage.data
    from PIL import Image

    astronaut = tmp / "astronaut.png"
    Image.fromarray(skimage.data.astronaut()).save(astronaut)
    return [astronaut, Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--truncated", default=None, help="truncated test file (default: generated into a temp folder)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="weakpose_trunc_"))
    root = data_root()
    truncated = args.truncated
    if truncated is None:
        truncated = tmp / "cmu_test_h36mrig_gt2d_truncated.npz"
        with contextlib.redirect_stdout(io.StringIO()):
            weakpose(
                [
                    "benchmark",
                    "--subjects",
                    "2",
                    "9",
                    "--rig",
                    "h36m",
                    "--noise",
                    "gt",
                    "--seed",
                    "0",
                    "--truncate",
                    "--out",
                    str(truncated),
                ]
            )
    files = {name: load_benchmark(root / "benchmark" / f"cmu_test_h36mrig_{name}.npz") for name in ("gt2d", "det2d")}
    trunc = load_benchmark(truncated)
    unseen = np.load(truncated)["truncated"]
    mean_bones = training_bone_lengths(root)
    pics = photos(tmp)
    print(
        "| run | gt2d MPJPE / PA | det2d MPJPE / PA | truncated: seen / unseen joints MPJPE |"
        " unseen-limb bone error, within 25 % |"
        " astronaut: bones within 25 % (min–max ratio) | Grace Hopper: same |"
    )
    print("|---|---|---|---|---|---|---|")
    for run in args.runs:
        predictor = load_predictor(run)
        cells = []
        for f in files.values():
            r = evaluate_predictions(predictor.predict(f.inputs)["positions_3d"], f.positions_3d)
            cells.append(f"{r['mpjpe']:.1f} / {r['pa_mpjpe']:.1f}")
        t = seen_unseen_errors(predictor.predict(trunc.inputs)["positions_3d"], trunc.positions_3d, unseen)
        cells.append(f"{t['mpjpe_seen']:.1f} / {t['mpjpe_unseen']:.1f}")
        cells.append(f"{100 * t['unseen_bone_error']:.1f} %, {t['unseen_bones_within_tolerance']:.1f} %")
        out = tmp / f"photos_{Path(run).name}.npz"
        with contextlib.redirect_stdout(io.StringIO()):
            weakpose(
                [
                    "predict",
                    "--checkpoint",
                    str(run),
                    "--image",
                    *map(str, pics),
                    "--output",
                    str(out),
                    "--figure",
                    str(out.with_suffix(".png")),
                ]
            )
        z = np.load(out)
        for pose, guessed in zip(z["positions_3d"], z["guessed"]):
            ratio = H36M17.bone_lengths(pose) / mean_bones
            ok = int((np.abs(ratio - 1) <= 0.25).sum())
            cells.append(f"{ok}/16 ({ratio.min():.2f}–{ratio.max():.2f}; {int(guessed.sum())} joints guessed)")
        print(f"| {run} | " + " | ".join(cells) + " |")
    print(f"figures: {tmp}/photos_*.png")


if __name__ == "__main__":
    main()
