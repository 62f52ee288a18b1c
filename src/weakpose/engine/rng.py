"""Random generators and their states: what a checkpoint must hold for an exact resume.

A method owns its generators (numpy ``Generator``s, ``torch.Generator``s, and the ones inside
its samplers and renderers) and declares them with :meth:`weakpose.methods.base.Method.own_generator`;
the engine saves :func:`generator_state` of every declared one and of the process-global ones
(:func:`global_states`) in ``last.pt`` and restores them on ``--resume``.
:func:`undeclared_generators` finds generators a method holds but did not declare (the
per-method resume test checks that there are none).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

Generator = np.random.Generator | torch.Generator


def generator_state(gen: Generator) -> Any:
    """A ``weights_only``-loadable snapshot of ``gen``."""
    if isinstance(gen, np.random.Generator):
        return gen.bit_generator.state
    if isinstance(gen, torch.Generator):
        return gen.get_state()
    raise TypeError(f"not a random generator: {type(gen).__name__}")


def set_generator_state(gen: Generator, state: Any) -> None:
    if isinstance(gen, np.random.Generator):
        gen.bit_generator.state = state
    elif isinstance(gen, torch.Generator):
        gen.set_state(state)
    else:
        raise TypeError(f"not a random generator: {type(gen).__name__}")


def seed_everything(seed: int) -> None:
    """Seed the process-global generators (Python's ``random``, numpy's legacy ``np.random``,
    torch) as a run does before it builds its method."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def global_states() -> dict[str, Any]:
    """The process-global generators: torch (CPU and every CUDA device), numpy's legacy
    ``np.random`` and Python's ``random``."""
    legacy = np.random.get_state()
    out = {"torch": torch.get_rng_state(), "python": random.getstate(),
           "numpy_global": {"key": legacy[0], "pos": int(legacy[2]), "has_gauss": int(legacy[3]),
                            "cached_gaussian": float(legacy[4]), "keys": torch.from_numpy(legacy[1].astype(np.int64))}}
    if torch.cuda.is_available():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def set_global_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    random.setstate(states["python"])
    if "numpy_global" in states:
        s = states["numpy_global"]
        np.random.set_state((s["key"], s["keys"].numpy().astype(np.uint32), s["pos"], s["has_gauss"],
                             s["cached_gaussian"]))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _named_children(obj: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(obj, dict):
        yield from ((f"[{k!r}]", v) for k, v in obj.items())
    elif isinstance(obj, (list, tuple, set, frozenset)):
        yield from ((f"[{i}]", v) for i, v in enumerate(obj))
    elif isinstance(obj, torch.nn.Module):
        yield from ((f".{k}", v) for k, v in obj.__dict__.get("_modules", {}).items())
        yield from ((f".{k}", v) for k, v in vars(obj).items() if not k.startswith("_"))
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        yield from ((f".{f.name}", getattr(obj, f.name)) for f in dataclasses.fields(obj))
    elif hasattr(obj, "__dict__") and type(obj).__module__.startswith("weakpose"):
        yield from ((f".{k}", v) for k, v in vars(obj).items())


def undeclared_generators(method: Any, declared: dict[str, Generator]) -> list[str]:
    """Attribute paths of random generators reachable from ``method`` (through its attributes,
    containers, networks and weakpose objects) that are not among ``declared``."""
    known = {id(g) for g in declared.values()}
    seen: set[int] = set()
    found: list[str] = []
    stack: list[tuple[str, Any]] = [("method", method)]
    while stack:
        path, obj = stack.pop()
        if id(obj) in seen or isinstance(obj, (torch.Tensor, np.ndarray, str, bytes, int, float, type)):
            continue
        seen.add(id(obj))
        if isinstance(obj, (np.random.Generator, torch.Generator)):
            if id(obj) not in known:
                found.append(path)
            continue
        stack.extend((path + name, child) for name, child in _named_children(obj))
    return sorted(found)
