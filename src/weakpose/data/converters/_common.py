"""Helpers shared by the converters.

``InputError`` and ``save_npz_atomic`` belong to :mod:`weakpose.data.contracts` (the
foundation). Until that module exists on the branch, minimal stand-ins with the same names and
behaviour are defined here so that the converters can be used and tested; once it exists they
are imported from there (so the CLI recognises the error class).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

try:  # pragma: no cover - depends on which foundation stage is merged
    from weakpose.data.contracts import InputError, save_npz_atomic  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover

    class InputError(ValueError):  # type: ignore[no-redef]
        """Bad user input; the message is ``"FILE: key 'x': problem"`` (one line)."""

    def save_npz_atomic(path, **arrays) -> None:  # type: ignore[no-redef]
        """Write ``arrays`` to ``path`` (.npz) via a temporary file and an atomic rename."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp.npz", dir=path.parent)
        os.close(fd)
        try:
            np.savez(tmp, **arrays)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise


__all__ = ["InputError", "save_npz_atomic"]
