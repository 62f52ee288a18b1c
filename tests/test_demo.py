"""`weakpose demo --steps N`: the README's main job, at a few steps, as a user runs it."""

import json
import subprocess
import sys

import numpy as np


def test_demo_with_few_steps_writes_results_and_figure(tmp_path):
    out = tmp_path / "demo"
    argv = [sys.executable, "-m", "weakpose.cli", "demo", "--steps", "5", "--out", str(out), "--no-progress"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    results = json.loads((out / "demo_results.json").read_text())
    assert set(results) == {"h36mrig_gt2d", "h36mrig_det2d", "wild_det2d"}
    assert all(np.isfinite(v["mpjpe"]) and np.isfinite(v["pa_mpjpe"]) for v in results.values())
    assert (out / "demo_poses.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "supervised" / "config.json").read_text())["config"]["steps"] == 5   # --steps is used
    assert json.loads((out / "supervised" / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 5
