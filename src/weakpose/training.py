"""The one training loop every method uses (the upper half of the engine; see :mod:`weakpose.engine`).

``train("supervised", out_dir)`` resolves the config (defaults <- file <- overrides), saves it as
``RUN_DIR/config.json``, trains with periodic monitoring, TensorBoard-compatible logs and atomic
checkpoints (``RUN_DIR/last.pt``), and writes the final model ``RUN_DIR/model.pt``. With
``resume=True`` it restores networks, optimisers, schedulers, the step and every random
generator from ``last.pt`` and continues exactly where it stopped, so an interrupted run ends
with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import json
import random
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from weakpose.data.paths import data_root as find_data_root
from weakpose.data.sources import check_unchanged, load_sources, recorded_data_files
from weakpose.engine import distributed
from weakpose.engine.checkpoint import FINAL_MODEL, LAST_CHECKPOINT, load_checkpoint, save_checkpoint
from weakpose.engine.config import config_to_dict, resolve_config
from weakpose.engine.logging import ScalarLogger
from weakpose.errors import InputError
from weakpose.methods.registry import get_method
from weakpose.skeleton import H36M17

CONFIG_FILE = "config.json"


def _skeleton_dict() -> dict[str, Any]:
    return {"names": list(H36M17.names), "parents": list(H36M17.parents),
            "left": list(H36M17.left), "right": list(H36M17.right)}


def model_payload(method, step: int) -> dict[str, Any]:
    """What a predictor needs: method name, config, skeleton, network weights, statistics."""
    return {
        "method": method.name,
        "config": config_to_dict(method.config),
        "skeleton": _skeleton_dict(),
        "modules": {k: v.state_dict() for k, v in method.nets.items()},
        "predictor_state": method.predictor_state(),
        "step": step,
    }


def training_payload(method, step: int) -> dict[str, Any]:
    """Model payload plus everything needed to resume training bit-for-bit."""
    payload = model_payload(method, step)
    payload["training"] = {
        "optimizers": {k: o.state_dict() for k, o in method.optimizers().items()},
        "schedulers": {k: s.state_dict() for k, s in method.schedulers().items()},
        "numpy_rng": method.rng.bit_generator.state,
        "torch_rng": torch.get_rng_state(),
        "python_rng": random.getstate(),
        "method_state": method.extra_state() if hasattr(method, "extra_state") else {},
    }
    return payload


def restore_training(method, payload: dict[str, Any]) -> int:
    for k, net in method.nets.items():
        net.load_state_dict(payload["modules"][k])
    tr = payload["training"]
    for k, o in method.optimizers().items():
        o.load_state_dict(tr["optimizers"][k])
    for k, s in method.schedulers().items():
        s.load_state_dict(tr["schedulers"][k])
    method.rng.bit_generator.state = tr["numpy_rng"]
    torch.set_rng_state(tr["torch_rng"])
    random.setstate(tr["python_rng"])
    if hasattr(method, "load_extra_state"):
        method.load_extra_state(tr["method_state"])
    return int(payload["step"])


def train(
    method_name: str,
    out_dir: str | Path,
    config_file: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    resume: bool = False,
    data: str | Path | None = None,
    progress: bool = True,
    stop_after: int | None = None,
    data_files: Mapping[str, Sequence[str | Path] | str | Path] | None = None,
) -> dict[str, float]:
    """Train ``method_name`` into ``out_dir``; returns the final monitor metrics.

    ``data_files`` maps data kinds (:data:`weakpose.data.sources.KINDS`: ``train_2d``,
    ``train_multiview``, ``train_3d``, ``train_paired``, ``val``) to the user's files; a kind the
    method cannot use (``data_kinds`` of the class that trains the config, ``method_class``) or
    a bad file raises InputError before anything is written. They are recorded (path, sha256,
    samples) under ``data_files`` in ``config.json``; ``resume`` re-reads the recorded files and
    refuses changed ones.

    ``stop_after`` ends this invocation after that many steps with a checkpoint (as an interrupt
    would), for time-sliced jobs; ``resume=True`` continues it. Keep ``steps`` unchanged when
    resuming: learning-rate schedules depend on it.
    """
    cls = get_method(method_name)
    out = Path(out_dir)
    last = out / LAST_CHECKPOINT
    saved = None
    if resume:
        if not last.exists():
            raise InputError(f"{last}: nothing to resume (no checkpoint in {out})")
        saved = json.loads((out / CONFIG_FILE).read_text())
        if saved.get("method") != method_name:
            raise InputError(f"{out / CONFIG_FILE}: key 'method': run is {saved.get('method')!r}, not {method_name!r}")
    elif last.exists() or (out / FINAL_MODEL).exists():
        raise InputError(f"{out}: already holds a run (use --resume to continue it, or another --out)")
    config = resolve_config(cls.Config, config_file, overrides, base=saved["config"] if saved else None)
    root = find_data_root(data)
    files = {k: v for k, v in (data_files or {}).items() if v}
    if saved and not files:
        files = recorded_data_files(saved.get("data_files", []))
    cls.method_class(config).check_data_kinds(files)
    sources = load_sources(**files)
    if saved:
        check_unchanged(saved.get("data_files", []), sources.config_entry())
    info = distributed.init_from_env(config.device)

    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)
    method = cls(config, root, config.device, info, sources=sources)
    start = 0
    if resume:
        start = restore_training(method, load_checkpoint(last))
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / CONFIG_FILE).write_text(json.dumps({"method": method_name, "config": config_to_dict(config),
                                                     "data_files": sources.config_entry()}, indent=2))
    logger = ScalarLogger(out, enabled=info.is_main)

    interrupted = {"flag": False}

    def on_sigint(signum, frame):  # finish the current step, checkpoint, then stop
        interrupted["flag"] = True

    previous = signal.signal(signal.SIGINT, on_sigint) if info.is_main else None
    metrics: dict[str, float] = {}
    bar = tqdm(total=config.steps, initial=start, desc=f"train {method_name}", unit="step",
               disable=not (progress and info.is_main), dynamic_ncols=True)
    step = start
    try:
        for net in method.nets.values():
            net.train()
        while step < config.steps:
            scalars = method.train_step(step)
            step += 1
            bar.update(1)
            if step % config.log_every == 0 or step == config.steps:
                logger.log(step, scalars)
                bar.set_postfix({k.split("/")[-1]: f"{v:.4g}" for k, v in list(scalars.items())[:3]})
            if config.eval_every and step % config.eval_every == 0 and step < config.steps and info.is_main:
                metrics = method.evaluate()
                logger.log(step, metrics)
            if (step % config.checkpoint_every == 0 or interrupted["flag"]) and info.is_main:
                save_checkpoint(last, training_payload(method, step))
            if stop_after is not None and step - start >= stop_after and step < config.steps:
                if info.is_main:
                    save_checkpoint(last, training_payload(method, step))
                bar.close()
                return {"stopped_at_step": step}
            if interrupted["flag"]:
                bar.close()
                raise KeyboardInterrupt(f"interrupted at step {step}; continue with --resume")
        bar.close()
        if info.is_main:
            metrics = method.evaluate()
            logger.log(step, metrics)
            save_checkpoint(last, training_payload(method, step))
            save_checkpoint(out / FINAL_MODEL, model_payload(method, step))
            (out / "final_metrics.json").write_text(json.dumps(metrics, indent=2))
    finally:
        logger.close()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        distributed.barrier(info)
        distributed.cleanup(info)
    return metrics
