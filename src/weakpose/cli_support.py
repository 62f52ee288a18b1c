"""What every ``weakpose`` sub-command shares: one-line option errors, range-checked numeric
option types, declared input/output paths checked before any work, the torch thread count
and progress bars.

Declaring paths: a sub-command lists its path options with :func:`declare_paths`::

    declare_paths(p, inputs=("input", "checkpoint"), outputs=("output",))

and :func:`check_declared_paths` (called by ``weakpose.cli.main`` before the command runs)
refuses outputs that cannot be written, are folders, or are the same file as an input.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NoReturn

from weakpose.errors import InputError

MAX_AUTO_THREADS = 4
"""Upper bound of the automatic torch thread count: weakpose's networks are small MLPs and
light CNNs whose CPU kernels gain little beyond ~4 threads (docs/cli.md, "CPU threads")."""


class WeakposeParser(argparse.ArgumentParser):
    """``argparse`` parser whose errors are the one line ``error: command line: ...`` (exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: command line: {self.prog}: {message} (see {self.prog} --help)\n")


# --------------------------------------------------------------------------------------------
# numeric option types (checked while parsing)


def _number(kind: type, minimum: float | None, maximum: float | None, min_open: bool = False) -> Callable[[str], Any]:
    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a valid {kind.__name__}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if minimum is not None and (value <= minimum if min_open else value < minimum):
            raise argparse.ArgumentTypeError(f"{text} must be {'>' if min_open else '≥'} {minimum:g}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"{text} must be ≤ {maximum:g}")
        return value

    bounds = [f"{'>' if min_open else '≥'} {minimum:g}" if minimum is not None else "",
              f"≤ {maximum:g}" if maximum is not None else ""]
    convert.__name__ = f"{kind.__name__} {' and '.join(b for b in bounds if b)}".strip()
    return convert


def int_at_least(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """``type=`` for an integer option in ``[minimum, maximum]``."""
    return _number(int, minimum, maximum)


def positive_float(text: str) -> float:
    """``type=`` for a finite float > 0."""
    return _number(float, 0.0, None, min_open=True)(text)


def nonnegative_float(text: str) -> float:
    """``type=`` for a finite float ≥ 0."""
    return _number(float, 0.0, None)(text)


def fraction(text: str) -> float:
    """``type=`` for a finite float in [0, 1]."""
    return _number(float, 0.0, 1.0)(text)


def finite_float(text: str) -> float:
    return _number(float, None, None)(text)


# --------------------------------------------------------------------------------------------
# input and output paths


def declare_paths(parser: argparse.ArgumentParser, inputs: Iterable[str] = (), outputs: Iterable[str] = (),
                  output_folders: Iterable[str] = ()) -> None:
    """Name the options (``dest``) of a sub-command that are input files, output files and
    output folders; :func:`check_declared_paths` checks them before the command runs."""
    parser.set_defaults(_input_options=tuple(inputs), _output_options=tuple(outputs),
                        _output_folder_options=tuple(output_folders))


def _values(args: argparse.Namespace, dest: str) -> list[Any]:
    value = getattr(args, dest, None)
    if value is None:
        return []
    return [v for v in (value if isinstance(value, (list, tuple)) else [value]) if v is not None]


def check_declared_paths(args: argparse.Namespace) -> None:
    """Refuse unwritable outputs and outputs that are inputs (``InputError``), before any work."""
    from weakpose.atomic import check_output_file, check_output_folder

    inputs = [v for d in getattr(args, "_input_options", ()) for v in _values(args, d)]
    outputs = [(d, v) for d in getattr(args, "_output_options", ()) for v in _values(args, d)]
    for dest, path in outputs:
        check_output_file(path, inputs, option="--" + dest.replace("_", "-"))
    seen: dict[Path, str] = {}
    for dest, path in outputs:
        key = Path(path).absolute()
        if key in seen:
            raise InputError(f"{path}: --{dest.replace('_', '-')}: also given as --{seen[key].replace('_', '-')}")
        seen[key] = dest
    for dest in getattr(args, "_output_folder_options", ()):
        for path in _values(args, dest):
            check_output_folder(path, option="--" + dest.replace("_", "-"), inputs=inputs)


# --------------------------------------------------------------------------------------------
# threads and progress


def default_threads() -> int:
    """Torch threads when neither ``--threads`` nor ``$OMP_NUM_THREADS`` says: the cores that
    the 1-minute load average leaves idle, at least 1 and at most :data:`MAX_AUTO_THREADS`.

    A busy machine therefore gets 1 thread: on a loaded 2-core machine two threads were 4.9x
    slower than one (docs/cli.md, "CPU threads"), because each torch operation waits for its
    slowest thread, which the scheduler keeps descheduled.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):
        load = 0.0
    return max(1, min(MAX_AUTO_THREADS, cores, int(cores - load)))


def configure_threads(threads: int | None) -> int:
    """Set torch's intra-op threads: ``threads``, else ``$OMP_NUM_THREADS``, else :func:`default_threads`."""
    import torch

    if threads is None:
        env = os.environ.get("OMP_NUM_THREADS", "")
        threads = int(env) if env.isdigit() and int(env) > 0 else default_threads()
    torch.set_num_threads(threads)
    return threads


def add_threads_option(parser: argparse.ArgumentParser, top_level: bool = False) -> None:
    """``--threads N`` on ``parser`` and, recursively, on all its sub-commands."""
    parser.add_argument("--threads", type=int_at_least(1), metavar="N",
                        default=None if top_level else argparse.SUPPRESS,
                        help="torch CPU threads (default: $OMP_NUM_THREADS, else the idle cores, 1 to "
                             f"{MAX_AUTO_THREADS}; 1 on a busy machine)")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                add_threads_option(sub)


def progress_bar(enabled: bool, total: int, desc: str, unit: str):
    """A tqdm bar with rate and ETA on stderr (a no-op object when disabled)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, file=sys.stderr, dynamic_ncols=True,
                leave=False)
