"""Atomic checkpoints that hold everything needed to rebuild a model.

A checkpoint is a ``torch.save`` dictionary with ``format``, ``version``, ``weakpose_version``,
``method``, ``config`` (plain dict), ``skeleton``, ``modules`` (state dicts), ``predictor_state``
(tensors and plain values: normalisation statistics and the like), ``step``, and, for resuming,
``training`` (optimiser, scheduler and random-number-generator states). It is loaded with
``weights_only=True``: no code is executed from a checkpoint file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

import weakpose
from weakpose.atomic import atomic_path
from weakpose.errors import InputError

CHECKPOINT_FORMAT = "weakpose-checkpoint"
CHECKPOINT_VERSION = 1
FINAL_MODEL = "model.pt"
LAST_CHECKPOINT = "last.pt"


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``path`` atomically (temporary file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
               "weakpose_version": weakpose.__version__, **payload}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def resolve_checkpoint_path(path: str | Path) -> Path:
    """A run folder means its final model (``model.pt``); a file is taken as it is."""
    path = Path(path)
    if path.is_dir():
        if (path / FINAL_MODEL).exists():
            return path / FINAL_MODEL
        raise InputError(f"{path}: run folder has no {FINAL_MODEL} (training not finished? use --resume)")
    return path


def _first_line(e: BaseException) -> str:
    """``Type: first line of the message`` (the type alone when the message is empty, as for
    the ``EOFError`` of a truncated file)."""
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0][:120]}" if lines else f"{type(e).__name__}: truncated or empty file"


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read and check a weakpose checkpoint (``InputError`` for anything else)."""
    path = resolve_checkpoint_path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_file() and path.stat().st_size == 0:
        raise InputError(f"{path}: not a readable checkpoint (empty file, 0 bytes)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for corrupt or foreign files
        raise InputError(f"{path}: not a readable checkpoint ({_first_line(e)})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"{path}: key 'format': not a weakpose checkpoint")
    if payload.get("version", 0) > CHECKPOINT_VERSION:
        raise InputError(
            f"{path}: key 'version': checkpoint version {payload['version']} is newer than this weakpose "
            f"supports ({CHECKPOINT_VERSION})"
        )
    for key in ("method", "config", "modules"):
        if key not in payload:
            raise InputError(f"{path}: key '{key}': missing")
    return payload
