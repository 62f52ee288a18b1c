"""Helpers shared by the converters (re-exports of the foundation's error class and writer)."""

from __future__ import annotations

from weakpose.data.contracts import InputError, save_npz_atomic

__all__ = ["InputError", "save_npz_atomic"]
