"""Full CMU reproduction check: convert all 98 BVH files and compare with the shipped npz.

Usage: ``OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/cmu_conversion.py [--data DIR] [--rotations]``

Prints the conversion time, frames/s, and the largest per-joint distance (mm) between the
converted and the reference positions on every kept frame, plus exact equality of the
per-frame/per-clip index keys. Exit code 1 when anything differs (> 1 mm or a key mismatch).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from weakpose.data.converters import cmu
from weakpose.data.paths import data_root

EXACT_KEYS = (
    "subject", "seq_id", "src_frame", "action_id", "action_names", "extra_names", "seq_names", "seq_trial",
    "seq_subject", "seq_src_start", "seq_src_end", "seq_description", "seq_action", "seq_start", "seq_len",
    "seq_src_fps", "seq_fps", "fps", "joint_names", "parents", "trial_stats",
)  # fmt: skip


def compare(out: dict, ref) -> tuple[bool, list[str]]:
    lines = []
    ok = True
    for key in ("positions", "extra_positions"):
        a, b = out[key], ref[key]
        if a.shape != b.shape:
            lines.append(f"{key}: shape {a.shape} vs reference {b.shape}")
            ok = False
            continue
        err = np.linalg.norm(a.astype(np.float64) - b, axis=-1)
        lines.append(f"{key}: max {err.max():.5f} mm, mean {err.mean():.6f} mm over {a.shape[0]} frames")
        ok &= bool(err.max() < 1.0)
    for key in EXACT_KEYS:
        a, b = out[key], ref[key]
        same = a.shape == b.shape and bool(np.all(a == b))
        if not same:
            ok = False
            lines.append(f"{key}: DIFFERS")
    lines.append("index keys " + ("identical" if ok else "differ") + f": {', '.join(EXACT_KEYS)}")
    return ok, lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None)
    ap.add_argument("--rotations", action="store_true", help="also convert rotations and check re-posing")
    args = ap.parse_args()
    root = data_root(args.data) / "cmu"
    t0 = time.perf_counter()
    out = cmu.convert_cmu(root / "bvh", root / "index.tsv", rotations=args.rotations)
    dt = time.perf_counter() - t0
    src = int(out["trial_stats"]["src_frames"].sum()) + len(out["trial_stats"])
    print(f"converted {len(out['trial_stats'])} files, {src} BVH frames -> {out['positions'].shape[0]} frames "
          f"in {dt:.2f} s ({src / dt:,.0f} BVH frames/s)")
    with np.load(root / "cmu_h36m17.npz") as ref:
        ok, lines = compare(out, ref)
    print("\n".join(lines))
    if args.rotations:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "cmu_rot.npz"
            cmu.save_cmu(path, out)
            r = cmu.load_cmu_rotations(path)
            t0 = time.perf_counter()
            pos = cmu.repose(r)
            dt = time.perf_counter() - t0
            err = np.linalg.norm(pos - r.positions, axis=-1)
            print(f"re-posed {len(pos)} frames from stored rotations in {dt:.2f} s: max {err.max():.5f} mm")
            ok &= bool(err.max() < 1.0)
    print("OK" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
