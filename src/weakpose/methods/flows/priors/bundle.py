"""The pose priors of a ``weakpose train prior`` run (trained by :mod:`weakpose.methods.flows.prior`).

A :class:`PriorBundle` holds the body model (rest skeleton + shape space of the training
subjects) and, for each rotation representation (``aa``, ``6d``), the priors:
``nf`` (Real-NVP flow), ``nf-prelu`` (the lighter PReLU flow), ``gmm`` (8 modes), ``vae``
(VPoser style). All are trained on the local rotations of the CMU training subjects only.

Training-set choice the paper leaves open: the CMU rotations contain exactly constrained
degrees of freedom (e.g. the knee and elbow rotate about fewer than three axes in this
release), so the data lie on a lower-dimensional set and a density over the full vector is
unbounded. As is usual for flows on such data, each training batch is *dequantised* with
Gaussian noise of σ = ``noise`` (``PriorConfig.noise``, radians for angle-axis) — all priors see the
same noise, and held-out log-likelihoods are computed on the clean test rotations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from weakpose.methods.flows.body.model import BodyModel
from weakpose.methods.flows.body.pose import matrices_to_vector
from weakpose.methods.flows.priors.gmm import GMMPrior
from weakpose.methods.flows.priors.vae import PoseVAE

PRIOR_KINDS = ("nf", "nf-prelu", "gmm", "vae")


@dataclass
class PriorBundle:
    body: BodyModel
    priors: dict[str, dict[str, torch.nn.Module]] = field(default_factory=dict)  # rep -> kind -> module
    metrics: dict = field(default_factory=dict)

    def get(self, kind: str, rep: str) -> torch.nn.Module:
        try:
            return self.priors[rep][kind]
        except KeyError:
            have = [f"{k}/{r}" for r, d in self.priors.items() for k in d]
            raise KeyError(f"prior {kind}/{rep} not in this run (have {', '.join(have)})") from None


def pose_vectors(local_rot: np.ndarray, rep: str) -> torch.Tensor:
    return matrices_to_vector(torch.from_numpy(np.asarray(local_rot, np.float32)), rep)


@torch.no_grad()
def heldout_loglik(prior: torch.nn.Module, data: torch.Tensor, batch: int = 2048) -> float:
    """Mean held-out log-likelihood per dimension (nats)."""
    out = []
    gen = torch.Generator().manual_seed(0)
    for i in range(0, len(data), batch):
        x = data[i : i + batch]
        if isinstance(prior, PoseVAE):
            out.append(prior.log_prob(x, samples=64, generator=gen))
        else:
            out.append(prior.log_prob(x.double() if isinstance(prior, GMMPrior) else x).float())
    return float(torch.cat(out).mean()) / data.shape[1]
