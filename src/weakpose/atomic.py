"""Atomic file writes: a file appears complete or not at all."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


def temporary_prefix(path: Path) -> str:
    """File names of :func:`atomic_path`'s temporaries for ``path`` start with this."""
    return f".{path.name}."


def remove_stale_temporaries(path: str | Path) -> list[Path]:
    """Delete temporaries of ``path`` that an interrupted :func:`atomic_path` left behind (a
    killed process cannot clean up). Only call it when no other process writes ``path``."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    stale = [p for p in path.parent.glob(temporary_prefix(path) + "*.tmp" + path.suffix) if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def _fsync(path: str | Path, directory: bool = False) -> None:
    fd = os.open(path, (os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)) if directory else os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot sync a directory
        if not directory:
            raise
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | Path):
    """Yields a temporary path beside ``path``; when the block succeeds the file is flushed to
    disk (fsync), renamed onto ``path`` and the rename made durable (fsync of the folder), so a
    crash leaves the old file or the new one, never a truncated one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temporary_prefix(path), suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)       # mkstemp creates 0600; give the file normal permissions
    try:
        yield Path(tmp)
        _fsync(tmp)
        os.replace(tmp, path)
        if os.name == "posix":
            _fsync(path.parent, directory=True)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text_atomic(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)
