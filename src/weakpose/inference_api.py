"""Load any trained model for prediction: ``load_predictor(RUN_DIR or FILE).predict(Keypoints2D)``."""

from __future__ import annotations

from pathlib import Path

from weakpose.engine.checkpoint import load_checkpoint
from weakpose.errors import InputError
from weakpose.methods.base import Predictor
from weakpose.methods.registry import METHOD_MODULES, get_method


def load_predictor(checkpoint: str | Path) -> Predictor:
    """The predictor of a run folder (its ``model.pt``) or checkpoint file, any method."""
    return predictor_from_payload(load_checkpoint(checkpoint), checkpoint)


def predictor_from_payload(payload: dict, checkpoint: str | Path) -> Predictor:
    """The predictor of a loaded checkpoint ``payload`` (``checkpoint`` names it in errors)."""
    name = payload["method"]
    if name not in METHOD_MODULES:
        raise InputError(f"{checkpoint}: key 'method': unknown method {name!r}")
    try:
        return get_method(name).load_predictor(payload)
    except (KeyError, RuntimeError) as e:
        raise InputError(
            f"{checkpoint}: key 'modules': does not fit the {name} model of this weakpose version; a checkpoint "
            f"written before a change of its network (e.g. Deep NRSfM's bias-free decoder, docs/nrsfm.md) must be "
            f"retrained ({str(e).splitlines()[0][:160]})"
        ) from None
