"""Reading npz files that hold pickled objects (VideoPose3D's ``data_3d_h36m.npz``,
``data_2d_h36m_*.npz``) without running code from the file.

``np.load`` with pickles allowed unpickles with the full :mod:`pickle` machinery, so a
crafted file can run any code (``__reduce__``). Here object arrays go through an unpickler
whose ``find_class`` only hands out what plain containers of numpy arrays need: numpy's
array/dtype/scalar reconstructors, ``collections.OrderedDict`` and ``_codecs.encode``
(protocol-2 bytes). Anything else (``os.system``,
``builtins.eval``, a class of the file's choosing) is refused with an :class:`InputError`
before it can run. Dicts, lists, tuples, strings and numbers are built by pickle opcodes
and need no class look-up.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.lib import format as npy_format

from weakpose.errors import InputError

ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    (module, name)
    for core in ("numpy.core.multiarray", "numpy._core.multiarray")
    for module, name in ((core, "_reconstruct"), (core, "scalar"))
) | frozenset({
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("collections", "OrderedDict"),
    ("_codecs", "encode"),  # bytes in protocol-2 pickles (str -> bytes, runs no user code)
})  # fmt: skip
"""(module, name) pairs a pickled container of arrays may refer to; nothing else is resolved."""


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused to load {module}.{name} (only containers of numpy arrays are allowed)")


def restricted_loads(stream: IO[bytes]) -> Any:
    """Unpickle ``stream`` allowing only containers, numbers, strings and numpy arrays."""
    return _RestrictedUnpickler(stream).load()


def _read_npy(stream: IO[bytes]) -> np.ndarray:
    version = npy_format.read_magic(stream)
    header = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
    shape, fortran, dtype = header(stream)
    if dtype.hasobject:
        value = restricted_loads(stream)
        if not isinstance(value, np.ndarray):
            raise pickle.UnpicklingError(f"object array member holds a {type(value).__name__}")
        return value
    count = int(np.prod(shape, dtype=np.int64))
    data = stream.read(count * dtype.itemsize)
    if len(data) != count * dtype.itemsize:
        raise EOFError("array data truncated")
    array = np.frombuffer(data, dtype=dtype, count=count)
    return array.reshape(shape[::-1]).transpose() if fortran else array.reshape(shape)


def load_pickled_npz(path: str | Path) -> dict[str, np.ndarray]:
    """All arrays of an npz file, object arrays unpickled with :func:`restricted_loads`.

    Raises :class:`InputError` (one line, naming the file) for a missing, unreadable or
    malicious file; no code from the file runs.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {'is a folder, expected an npz file' if path.is_dir() else 'file not found'}")
    try:
        out = {}
        with zipfile.ZipFile(path) as z:
            for member in z.namelist():
                if not member.endswith(".npy"):
                    continue
                with z.open(member) as f:
                    out[member[: -len(".npy")]] = _read_npy(f)
        return out
    except pickle.UnpicklingError as e:
        raise InputError(f"{path}: unsafe or corrupt pickled data ({e})") from None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, TypeError, KeyError, AttributeError,
            IndexError, MemoryError) as e:  # fmt: skip
        raise InputError(f"{path}: not a readable npz file ({type(e).__name__}: {str(e)[:120]})") from None
