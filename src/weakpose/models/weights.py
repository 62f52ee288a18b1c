"""Load user-supplied pretrained weights into a network, with a report of what matched.

Accepts a ``state_dict`` file or a checkpoint dict holding one under ``state_dict``,
``model``, ``model_state`` or ``net``; strips ``module.`` (DataParallel), ``backbone.`` and
``model.`` prefixes (and adds ``net.`` for :class:`~weakpose.models.heatmap_net.HeatmapNet`) when
that makes more keys match (mmpose/official HRNet/torchvision files).
Parameters whose shapes differ (e.g. a 17-joint head loaded into a 34-channel head) are left
at their initial values and reported; nothing is loaded silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from weakpose.errors import InputError

_CONTAINERS = ("state_dict", "model", "model_state", "model_state_dict", "net")
_PREFIXES = ("module.", "backbone.", "model.", "keypoint_head.")
_MODEL_PREFIXES = ("net.",)


@dataclass
class LoadReport:
    """Keys loaded, missing from the file, unexpected in the file, and with other shapes."""

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not (self.missing or self.mismatched)

    def summary(self, limit: int = 8) -> str:
        def lst(keys):
            keys = list(keys)
            more = f" ... (+{len(keys) - limit})" if len(keys) > limit else ""
            return ", ".join(keys[:limit]) + more

        lines = [f"loaded {len(self.loaded)} tensors"]
        if self.missing:
            lines.append(f"missing from file ({len(self.missing)}, left at initial values): {lst(self.missing)}")
        if self.unexpected:
            lines.append(f"unexpected in file ({len(self.unexpected)}, ignored): {lst(self.unexpected)}")
        if self.mismatched:
            lines.append(f"shape mismatch ({len(self.mismatched)}, left at initial values): "
                         + lst(f"{k} file{tuple(a)} vs model{tuple(b)}" for k, a, b in self.mismatched))
        return "\n".join(lines)


def _extract_state_dict(obj, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, nn.Module):
        return obj.state_dict()
    if isinstance(obj, dict):
        for k in _CONTAINERS:
            if k in obj and isinstance(obj[k], dict):
                return _extract_state_dict(obj[k], path)
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if tensors:
            return tensors
    raise InputError(
        f"{path}: no state_dict of tensors found (keys: "
        f"{list(obj)[:8] if isinstance(obj, dict) else type(obj).__name__})"
    )


def _best_renaming(keys: list[str], model_keys: set[str]) -> dict[str, str]:
    """The renaming file key -> model key (strip up to two known prefixes, optionally add
    ``net.``) that makes the most file keys match the model's."""

    def strip(k, p):
        return k[len(p):] if k.startswith(p) else k

    funcs = [lambda k: k] + [lambda k, p=p: strip(k, p) for p in _PREFIXES]
    funcs += [lambda k, p=p, q=q: strip(strip(k, p), q) for p in _PREFIXES for q in _PREFIXES]
    funcs += [lambda k, f=f, m=m: m + f(k) for f in list(funcs) for m in _MODEL_PREFIXES]
    best = max(funcs, key=lambda f: sum(f(k) in model_keys for k in keys))
    return {k: best(k) for k in keys}


def load_weights(model: nn.Module, path: str | Path, strict: bool = False) -> LoadReport:
    """Copy matching tensors from the file at ``path`` into ``model`` and report the rest.

    With ``strict`` an incomplete load (missing or mismatched keys) raises ``InputError``
    after reporting; unexpected keys never raise (ImageNet files carry a classifier).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is a user input problem
        raise InputError(f"{path}: not a PyTorch weights file ({type(e).__name__}: {e})") from None
    own = model.state_dict()
    sd = _extract_state_dict(obj, path)
    rename = _best_renaming(list(sd), set(own))
    rep = LoadReport()
    to_load = {}
    for orig, v in sd.items():
        k = rename[orig]
        if k not in own:
            rep.unexpected.append(orig)  # reported under the file's own name
        elif tuple(v.shape) != tuple(own[k].shape):
            rep.mismatched.append((k, tuple(v.shape), tuple(own[k].shape)))
        else:
            to_load[k] = v
            rep.loaded.append(k)
    found = set(rename.values())
    rep.missing = [k for k in own if k not in found]
    if strict and not rep.complete:
        raise InputError(f"{path}: incomplete weights for {type(model).__name__}:\n{rep.summary()}")
    model.load_state_dict(to_load, strict=False)
    return rep
