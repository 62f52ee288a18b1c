"""Scalar logs: TensorBoard event files (tensorboardX) and a plain ``metrics.jsonl``.

Each JSON line holds ``step`` (counted within its phase), ``phase``, ``time`` and the scalars.
TensorBoard gets a global step (the steps of the earlier phases plus the step). A resumed run
first cuts both logs back to the checkpoint's step (:func:`truncate_metrics`, TensorBoard's
``purge_step``), so steps logged after the checkpoint by the interrupted run are not repeated.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from weakpose.atomic import write_text_atomic
from weakpose.engine.phases import MAIN_PHASE

METRICS_FILE = "metrics.jsonl"


def truncate_metrics(path: Path, phase_order: list[str], phase: str, step: int) -> int:
    """Drop the records of ``path`` after ``(phase, step)`` (lines without ``phase`` belong to
    the ``train`` phase; unreadable lines, e.g. half-written by a kill, are dropped). Returns
    the number of lines removed."""
    if not path.exists():
        return 0
    order = {name: i for i, name in enumerate(phase_order)}
    limit = (order[phase], step)
    kept, removed = [], 0
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
            key = (order.get(rec.get("phase", MAIN_PHASE), len(order)), int(rec["step"]))
        except (ValueError, KeyError, TypeError, AttributeError):
            removed += 1
            continue
        if key <= limit:
            kept.append(line)
        else:
            removed += 1
    if removed:
        write_text_atomic(path, "".join(f"{line}\n" for line in kept))
    return removed


class ScalarLogger:
    """Writes scalars to ``RUN_DIR/logs`` (open with ``tensorboard --logdir RUN_DIR/logs``) and
    appends them as JSON lines to ``RUN_DIR/metrics.jsonl``. ``purge_step``: TensorBoard events
    at or after this global step from an earlier invocation are discarded (resume)."""

    def __init__(self, out_dir: Path, enabled: bool = True, purge_step: int | None = None):
        self.enabled = enabled
        self._tb = None
        self._jsonl = None
        if enabled:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(str(out_dir / "logs"), purge_step=purge_step)
            self._jsonl = open(out_dir / METRICS_FILE, "a")

    def log(self, step: int, scalars: dict[str, float], phase: str = MAIN_PHASE,
            global_step: int | None = None) -> None:
        if not self.enabled or not scalars:
            return
        for k, v in scalars.items():
            self._tb.add_scalar(k, float(v), step if global_step is None else global_step)
        record = {"step": step, "phase": phase, "time": time.time(), **{k: float(v) for k, v in scalars.items()}}
        self._jsonl.write(json.dumps(record) + "\n")
        self._jsonl.flush()

    def close(self) -> None:
        if self.enabled:
            self._tb.close()
            self._jsonl.close()
