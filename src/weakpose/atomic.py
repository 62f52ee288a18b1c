"""Output files: checked before the work starts, written atomically (complete or not at all).

Every command that writes a file calls :func:`check_output_file` (or :func:`check_output_folder`
for a run folder) while parsing its options, so that a path it cannot write, a folder where a
file is expected, or an output that is one of its own inputs ends in a one-line
:class:`~weakpose.data.contracts.InputError` *before* any compute, and then writes through
:func:`atomic_path`, so that an interrupted or failed command leaves no partial file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
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


def _nearest_existing(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _check_parent(path: Path, option: str) -> None:
    """The folder that will hold ``path`` exists or can be created (``atomic_path`` creates it)."""
    from weakpose.errors import InputError

    anchor = _nearest_existing(path.parent)
    if not anchor.is_dir():
        raise InputError(f"{path}: {option}: {anchor} is a file, not a folder")
    if not os.access(anchor, os.W_OK | os.X_OK):
        raise InputError(f"{path}: {option}: no permission to write in {anchor}")


def check_output_file(path: str | Path, inputs: Iterable[str | Path | None] = (), option: str = "output") -> Path:
    """Refuse, before any work, an output file that cannot be written or is one of ``inputs``.

    Checks: not an existing folder; the parent is a folder (or can be created) and writable;
    an existing file is writable; not the same file as any input (which would be destroyed).
    Raises :class:`~weakpose.data.contracts.InputError` (exit code 2 in the CLI).
    """
    from weakpose.errors import InputError

    path = Path(path)
    if str(path) == "":
        raise InputError(f"command line: {option}: empty file name")
    if path.is_dir():
        raise InputError(f"{path}: {option}: is a folder, expected a file name")
    _check_parent(path, option)
    if path.exists():
        if not os.access(path, os.W_OK) and not os.access(path.parent, os.W_OK):
            raise InputError(f"{path}: {option}: no permission to replace this file")
        for other in inputs:
            if other is not None and str(other) != "" and Path(other).exists() and os.path.samefile(path, other):
                raise InputError(f"{path}: {option}: is also an input of this command ({other}); "
                                 "writing it would destroy the input, choose another file")
    return path


def check_output_folder(path: str | Path, option: str = "out", inputs: Iterable[str | Path | None] = ()) -> Path:
    """A run/output folder: not an existing file, its parent can be created and written, and no
    input lies in it (the command writes there and could replace it, e.g. ``--config RUN/config.json``)."""
    from weakpose.errors import InputError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{path}: {option}: is a file, expected a folder")
    folder = path.resolve()
    for other in inputs:
        if other is not None and str(other) != "":
            resolved = Path(other).resolve()
            if resolved == folder or folder in resolved.parents:
                raise InputError(f"{path}: {option}: holds an input of this command ({other}); the command writes "
                                 "this folder and could replace it, keep inputs outside it")
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise InputError(f"{path}: {option}: no permission to write in this folder")
    else:
        _check_parent(path, option)
    return path
