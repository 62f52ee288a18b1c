"""Training phases: a run is one or more phases that the engine runs in order, each with its own
step count, progress bar, logs and checkpoints (``last.pt`` records the phase and its step, so
``--resume`` continues inside any phase).

Most methods have one phase, ``train``, of ``config.steps`` steps (``Method.phases``). The image
variant of the multi-view method has two: ``pretrain_2d`` (2D heatmap pre-training, Iqbal et
al. supp.) and ``train``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

MAIN_PHASE = "train"


@dataclass(frozen=True)
class Phase:
    """``steps`` calls of ``step(k)`` (k = 0 … steps − 1, counted within the phase); ``begin()``
    runs once when the phase starts (not again when a run resumes inside it: what it prepares
    must be in the method's checkpointed state). Scalars are logged with the phase's own step;
    the monitor (``eval_every``) runs in the ``train`` phase only."""

    name: str
    steps: int
    step: Callable[[int], dict[str, float]]
    begin: Callable[[], None] | None = None
