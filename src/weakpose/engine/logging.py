"""Scalar logs: TensorBoard event files (tensorboardX) and a plain ``metrics.jsonl``."""

from __future__ import annotations

import json
import time
from pathlib import Path


class ScalarLogger:
    """Writes scalars to ``RUN_DIR/logs`` (open with ``tensorboard --logdir RUN_DIR/logs``) and
    appends them as JSON lines to ``RUN_DIR/metrics.jsonl``."""

    def __init__(self, out_dir: Path, enabled: bool = True):
        self.enabled = enabled
        self._tb = None
        self._jsonl = None
        if enabled:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(str(out_dir / "logs"))
            self._jsonl = open(out_dir / "metrics.jsonl", "a")

    def log(self, step: int, scalars: dict[str, float]) -> None:
        if not self.enabled or not scalars:
            return
        for k, v in scalars.items():
            self._tb.add_scalar(k, float(v), step)
        self._jsonl.write(
            json.dumps({"step": step, "time": time.time(), **{k: float(v) for k, v in scalars.items()}}) + "\n"
        )
        self._jsonl.flush()

    def close(self) -> None:
        if self.enabled:
            self._tb.close()
            self._jsonl.close()
