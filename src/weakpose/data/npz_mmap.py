"""Read the arrays of an ``.npz`` file without loading them: memory-mapped where possible.

``np.savez`` stores every array uncompressed inside the zip, so each member is a ``.npy`` file at
a fixed byte offset and can be memory-mapped like one (``np.load(..., mmap_mode="r")`` does this
for ``.npy`` files but not for ``.npz``). Compressed members (``np.savez_compressed``) and small
arrays are read into memory. Object arrays are refused (weakpose never unpickles user files).
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy as np

from weakpose.errors import InputError

#: Members smaller than this are read into memory (a map costs more than it saves).
MMAP_MIN_BYTES = 1 << 20
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")   # zip local file header (30 bytes)


def _member_offset(f, info: zipfile.ZipInfo) -> int:
    """Byte offset of a stored member's data: after its local header, name and extra field."""
    f.seek(info.header_offset)
    fields = _LOCAL_HEADER.unpack(f.read(_LOCAL_HEADER.size))
    if fields[0] != b"PK\x03\x04":
        raise ValueError("bad local file header")
    return info.header_offset + _LOCAL_HEADER.size + fields[-2] + fields[-1]


def _mapped(path: Path, f, info: zipfile.ZipInfo) -> np.ndarray | None:
    """The member as a read-only memory map, or None when it cannot be mapped."""
    if info.compress_type != zipfile.ZIP_STORED or info.file_size < MMAP_MIN_BYTES:
        return None
    start = _member_offset(f, info)
    f.seek(start)
    version = np.lib.format.read_magic(f)
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    if version not in readers:
        return None
    shape, fortran, dtype = readers[version](f)
    if dtype.hasobject:
        raise InputError(f"{path}: key '{info.filename[:-4]}': object array (weakpose never unpickles user files)")
    return np.memmap(path, dtype=dtype, mode="r", offset=f.tell(), shape=shape, order="F" if fortran else "C")


def open_npz(path: str | Path, mmap: bool = True) -> dict[str, np.ndarray]:
    """All arrays of an npz file by key; large uncompressed ones memory-mapped (read-only)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    out: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as z, open(path, "rb") as f:
            small = []
            for info in z.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                key = info.filename[:-4]
                a = _mapped(path, f, info) if mmap else None
                if a is None:
                    small.append(key)
                else:
                    out[key] = a
        if small:
            with np.load(path, allow_pickle=False) as z:
                out.update({k: z[k] for k in small})
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, struct.error) as e:
        raise InputError(f"{path}: not a readable npz file ({type(e).__name__}: {e})") from None
    return out
