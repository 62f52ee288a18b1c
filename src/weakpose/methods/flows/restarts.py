"""Restarts of ``weakpose train flows-ws``, chosen by the weak objective alone (**not in Zanfir
et al.**: a remedy for the WS-only local optimum measured in docs/flows.md, "Issue 16 aims").

Trained from 2D alone (``supervised_fraction = 0``), some seeds end in a worse local optimum of
the same objective L_ws (Eq. 11): poses depth-mirrored for a large share of the frames seen by
some cameras, with a higher final L_ws than the good runs. ``restarts = R > 1`` trains R
candidate networks, each the whole schedule from its own seed (:func:`candidate_seed`;
candidate 0 is the run without restarts), scores each by the mean L_ws on
:data:`SELECTION_FRAMES` fixed training frames (:func:`selection_score`: 2D and cameras only,
no 3D, no test subject) and keeps the candidate with the lowest score.

The logged training L_ws does not rank candidates early (three 6,000-step runs: the seed that
ends lowest is not lowest at steps 1,000 or 3,000; the ranking settles after ~3,750 steps, while
the learning rate decays), so every candidate trains the full schedule rather than a short
warm-up. Each candidate is an engine phase (``candidate_0`` … ``candidate_{R-1}``), so progress,
logs and checkpoints work inside every one and ``--resume`` continues inside any; the finished
candidates' weights and scores are method state in the checkpoint (:class:`RestartRecord`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

SEED_STRIDE = 1000
"""Candidate ``r`` trains from seed ``seed + SEED_STRIDE · r``."""

SELECTION_FRAMES = 4096
"""Training frames L_ws is scored on."""

SELECTION_SEED = 12345
"""Seed of the frames' draw: the same frames for every candidate of every run."""

SELECTION_BATCH = 1024


def candidate_seed(seed: int, r: int) -> int:
    """The seed candidate ``r`` of a run with ``seed`` trains from (a plain run with this seed
    trains the same network)."""
    return seed + SEED_STRIDE * r


def candidate_phase(r: int) -> str:
    return f"candidate_{r}"


@torch.no_grad()
def selection_score(method: Any) -> float:
    """Mean L_ws (Eq. 11) of ``method``'s network (in evaluation mode, as it predicts) on
    :data:`SELECTION_FRAMES` training frames drawn with :data:`SELECTION_SEED`: the 2D keypoints
    and cameras of the frames, never their 3D. Under torchrun every process scores its share and
    the shares are averaged (equal shares: the global mean)."""
    from weakpose.engine.distributed import average_scalars

    frames = np.random.default_rng(SELECTION_SEED)
    net = method.nets["net"]
    was_training = net.training
    net.eval()
    total = 0.0
    try:
        for start in range(0, SELECTION_FRAMES, SELECTION_BATCH):
            n = min(SELECTION_BATCH, SELECTION_FRAMES - start)
            batch = method.draw(supervised=False, rng=frames, size=n)
            total += float(method.losses(batch, fs=False)["L_ws"].sum())
    finally:
        net.train(was_training)
    return average_scalars({"L_ws": total / float(method.global_count(SELECTION_FRAMES))})["L_ws"]


@dataclass
class RestartRecord:
    """The finished candidates of a run: their scores, monitor errors (training subjects, logged
    only, never used to choose) and weights until the choice is made."""

    scores: list[float] = field(default_factory=list)
    monitor_pa: list[float] = field(default_factory=list)
    states: list[dict[str, torch.Tensor]] = field(default_factory=list)

    def add(self, score: float, monitor_pa: float, state: dict[str, torch.Tensor]) -> None:
        self.scores.append(score)
        self.monitor_pa.append(monitor_pa)
        self.states.append({k: v.detach().clone() for k, v in state.items()})

    def best(self) -> int:
        """The candidate with the lowest score (the first of equal ones)."""
        return int(np.argmin(self.scores))

    def take_best(self) -> dict[str, torch.Tensor]:
        """The best candidate's weights; the others' are dropped."""
        state = self.states[self.best()]
        self.states = []
        return state

    def scalars(self) -> dict[str, float]:
        """What the run logs at its end: ``restarts/L_ws_r``, ``restarts/monitor_pa_mpjpe_r`` and
        ``restarts/chosen``."""
        out = {f"restarts/L_ws_{r}": s for r, s in enumerate(self.scores)}
        out.update({f"restarts/monitor_pa_mpjpe_{r}": p for r, p in enumerate(self.monitor_pa)})
        if self.scores:
            out["restarts/chosen"] = float(self.best())
        return out

    def state(self) -> dict[str, Any]:
        return {"scores": list(self.scores), "monitor_pa": list(self.monitor_pa), "states": list(self.states)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RestartRecord:
        return cls(list(state.get("scores", [])), list(state.get("monitor_pa", [])), list(state.get("states", [])))
