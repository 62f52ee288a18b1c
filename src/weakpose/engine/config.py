"""Configuration: dataclasses hold the one default of every setting; files and ``key=value``
command-line overrides change them; the resolved config is saved beside each run.

Config files are TOML (``configs/*.toml``) or JSON with top-level keys equal to field names.

Every value is checked where it enters (:func:`apply_values`): its type, and for numbers
finiteness and range. A field's range is declared once, in its dataclass ``metadata``
(:func:`setting`); numeric settings without a declared range must be ≥ 0 (counts, weights,
rates and lengths are never negative), so a method config only declares stricter bounds.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weakpose.errors import InputError


@dataclass(frozen=True)
class Range:
    """Allowed values of a numeric setting: ``minimum`` ≤ (or <, ``open_min``) value ≤ ``maximum``."""

    minimum: float | None = 0.0
    maximum: float | None = None
    open_min: bool = False

    def problem(self, value: float) -> str | None:
        if not math.isfinite(value):
            return "must be a finite number"
        if self.minimum is not None and (value <= self.minimum if self.open_min else value < self.minimum):
            return f"must be {'>' if self.open_min else '≥'} {self.minimum:g}"
        if self.maximum is not None and value > self.maximum:
            return f"must be ≤ {self.maximum:g}"
        return None


DEFAULT_RANGE = Range()
"""Range of a numeric setting that declares none."""


def setting(default: Any, minimum: float | None = 0.0, maximum: float | None = None, open_min: bool = False) -> Any:
    """A dataclass field with a declared :class:`Range` (``steps: int = setting(2000, minimum=1)``).
    A subclass that only changes the default (``steps: int = 4000``) keeps the base's range."""
    return field(default=default, metadata={"range": Range(minimum, maximum, open_min)})


@dataclass
class TrainConfig:
    """Settings every method has. Method configs subclass this and add their own."""

    steps: int = setting(2000, minimum=1)           # optimisation steps
    batch_size: int = setting(256, minimum=1)
    lr: float = setting(1e-3, minimum=0.0, open_min=True)
    seed: int = 0
    eval_every: int = 500           # monitor evaluation period (steps); 0 = only at the end
    checkpoint_every: int = setting(500, minimum=1)  # checkpoint period (steps)
    log_every: int = setting(50, minimum=1)          # scalar logging period (steps)
    monitor_samples: int = setting(2048, minimum=1)  # --val or training-subject samples, monitoring only
    device: str = "cpu"             # cpu, cuda, cuda:N (checked against the machine)


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _convert(value: Any, tp: Any, key: str, source: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    try:
        if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
            if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "")):
                return None
            inner = [a for a in args if a is not type(None)][0]
            return _convert(value, inner, key, source)
        if origin in (tuple, list):
            if isinstance(value, str):
                value = (
                    json.loads(value) if value.strip().startswith("[") else [v for v in value.split(",") if v.strip()]
                )
            inner = args[0] if args else str
            return origin(_convert(v, inner, key, source) for v in value)
        if tp is bool:
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if tp is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(float(value)) if isinstance(value, str) else int(value)
        if tp is float:
            return float(value)
        if tp is str:
            return str(value)
    except (ValueError, TypeError, OverflowError, json.JSONDecodeError):
        raise InputError(f"{source}: key '{key}': {value!r} is not a valid {getattr(tp, '__name__', tp)}") from None
    return value


def setting_range(cls: type, name: str) -> Range:
    """The declared :class:`Range` of setting ``name``: the nearest class in the MRO whose field
    declares one (so overriding a default keeps the range), else :data:`DEFAULT_RANGE`."""
    for klass in cls.__mro__:
        f = vars(klass).get("__dataclass_fields__", {}).get(name)
        if f is not None and "range" in f.metadata:
            return f.metadata["range"]
    return DEFAULT_RANGE


def check_device(device: str, key: str, source: str) -> None:
    """``InputError`` unless ``device`` names a device this machine has."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise InputError(f"{source}: key '{key}': {device!r} is not a device (cpu, cuda, cuda:N)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"{source}: key '{key}': {device!r} requested, but this machine has no CUDA device")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InputError(f"{source}: key '{key}': {device!r}, but this machine has "
                             f"{torch.cuda.device_count()} CUDA device(s)")
    elif dev.type != "cpu":
        raise InputError(f"{source}: key '{key}': device type {dev.type!r} is not supported (cpu or cuda)")


def check_value(cls: type, key: str, value: Any, source: str, devices: bool = True) -> None:
    """Range and finiteness of a converted setting (all numbers, also inside lists)."""
    items = value if isinstance(value, (list, tuple)) else [value]
    for item in items:
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            problem = setting_range(cls, key).problem(item)
            if problem:
                raise InputError(f"{source}: key '{key}': {item!r} {problem}")
    if key == "device" and devices:
        check_device(str(value), key, source)


def apply_values(config: Any, values: dict[str, Any], source: str, check_devices: bool = True) -> Any:
    """A copy of ``config`` with ``values`` (validated and converted to the field types).
    ``check_devices=False`` accepts a device this machine lacks (a checkpoint's config, whose
    predictor runs on the CPU anyway).

    A config class may map former setting names to current ones in ``RENAMED_KEYS`` (a
    ``ClassVar``), so that configs and checkpoints written before a rename still load.
    """
    types = _field_types(type(config))
    renamed = getattr(type(config), "RENAMED_KEYS", {})
    changes = {}
    for key, value in values.items():
        key = renamed.get(key, key)
        if key not in types:
            raise InputError(
                f"{source}: key '{key}': unknown setting of {type(config).__name__} "
                f"(known: {', '.join(sorted(types))})"
            )
        changes[key] = _convert(value, types[key], key, source)
        check_value(type(config), key, changes[key], source, check_devices)
    return dataclasses.replace(config, **changes)


def parse_overrides(overrides: list[str] | tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in overrides:
        if "=" not in item:
            raise InputError(f"command line: override '{item}': expected key=value")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def load_config_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    try:
        if path.suffix == ".json":
            values = json.loads(path.read_text())
        else:
            values = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: not a valid config file ({e})") from None
    values.pop("method", None)
    values.pop("notes", None)
    return values


def resolve_config(cls: type, config_file: str | Path | None = None, overrides=(), base: dict | None = None) -> Any:
    """Defaults of ``cls`` <- ``base`` (a saved config) <- the config file <- ``key=value`` overrides."""
    config = cls()
    if base:
        config = apply_values(config, base, "saved config")
    if config_file is not None:
        config = apply_values(config, load_config_file(config_file), str(config_file))
    return apply_values(config, parse_overrides(overrides), "command line")


def config_to_dict(config: Any) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(config).items()}


def config_from_dict(cls: type, values: dict[str, Any]) -> Any:
    """Rebuild a config from a checkpoint; settings unknown to this version are ignored. A config
    class may name in ``FORMER_DEFAULTS`` settings added with a default that changes what an older
    checkpoint means (e.g. a network's shape): their value where the stored config lacks them."""
    values = {**getattr(cls, "FORMER_DEFAULTS", {}), **values}
    known = set(_field_types(cls)) | set(getattr(cls, "RENAMED_KEYS", {}))
    return apply_values(cls(), {k: v for k, v in values.items() if k in known}, "checkpoint config",
                        check_devices=False)
