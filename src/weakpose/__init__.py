"""weakpose: monocular 3D human pose learned without 3D annotations of the training images.

Python API (loaded lazily, so ``import weakpose`` stays cheap)::

    model = weakpose.load("runs/reference")        # run folder or checkpoint file, any method
    out = model.lift(keypoints_2d)                 # dict of numpy arrays, as `weakpose predict` writes
    weakpose.detect("photo.jpg")                   # MediaPipe 2D (the `detect` extra)

Bad input raises :class:`weakpose.InputError`. See :mod:`weakpose.api`.
"""

import os

# Intel MKL (torch's CPU BLAS) chooses code paths by memory alignment unless told otherwise, so
# the same computation can round differently from one run to the next; an exact `--resume`
# (docs/training.md) needs bit-reproducible steps. AUTO keeps the fastest path for the CPU. It
# takes effect only when set before torch is first imported (the `weakpose` command does so).
os.environ.setdefault("MKL_CBWR", "AUTO")

__version__ = "0.1.0"

__all__ = ["load", "detect", "Model", "InputError", "__version__"]

_LAZY = {"load": "weakpose.api", "detect": "weakpose.api", "Model": "weakpose.api",
         "InputError": "weakpose.errors"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'weakpose' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
