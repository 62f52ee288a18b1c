"""Helpers shared by the converters (re-exports of the foundation's error class and writer)."""

from __future__ import annotations

from weakpose.data.contracts import save_npz_atomic
from weakpose.errors import InputError

__all__ = ["InputError", "save_npz_atomic"]
