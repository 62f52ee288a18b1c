"""Configuration: dataclasses hold the one default of every setting; files and ``key=value``
command-line overrides change them; the resolved config is saved beside each run.

Config files are TOML (``configs/*.toml``) or JSON with top-level keys equal to field names.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weakpose.errors import InputError


@dataclass
class TrainConfig:
    """Settings every method has. Method configs subclass this and add their own."""

    steps: int = 2000               # optimisation steps
    batch_size: int = 256
    lr: float = 1e-3
    seed: int = 0
    eval_every: int = 500           # monitor evaluation period (steps); 0 = only at the end
    checkpoint_every: int = 500     # checkpoint period (steps)
    log_every: int = 50             # scalar logging period (steps)
    monitor_samples: int = 2048     # test-file samples scored while training (monitoring only)
    device: str = "cpu"


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
    except (ValueError, TypeError, json.JSONDecodeError):
        raise InputError(f"{source}: key '{key}': {value!r} is not a valid {getattr(tp, '__name__', tp)}") from None
    return value


def apply_values(config: Any, values: dict[str, Any], source: str) -> Any:
    """A copy of ``config`` with ``values`` (validated and converted to the field types).

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
    """Rebuild a config from a checkpoint; settings unknown to this version are ignored."""
    known = set(_field_types(cls)) | set(getattr(cls, "RENAMED_KEYS", {}))
    return apply_values(cls(), {k: v for k, v in values.items() if k in known}, "checkpoint config")
