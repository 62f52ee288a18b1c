"""The one training loop every method uses (the upper half of the engine; see :mod:`weakpose.engine`).

``train("supervised", out_dir)`` resolves the config (defaults <- file <- overrides), saves it as
``RUN_DIR/config.json``, runs the method's phases (:mod:`weakpose.engine.phases`) with periodic
monitoring, TensorBoard-compatible logs and atomic checkpoints (``RUN_DIR/last.pt``), and writes
the final model ``RUN_DIR/model.pt``. With ``resume=True`` it restores networks, optimisers,
schedulers, the phase and its step, every random generator the method declared and the global
ones from ``last.pt`` and continues exactly where it stopped, so an interrupted run ends with
the same weights as an uninterrupted one. Under torchrun it sets up data-parallel training
(:mod:`weakpose.engine.distributed`) or refuses a method that cannot be split.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from weakpose.atomic import remove_stale_temporaries
from weakpose.data.paths import data_root as find_data_root
from weakpose.data.sources import check_unchanged, load_sources, recorded_data_files
from weakpose.engine import distributed
from weakpose.engine.checkpoint import FINAL_MODEL, LAST_CHECKPOINT, load_checkpoint, save_checkpoint
from weakpose.engine.config import config_to_dict, resolve_config
from weakpose.engine.logging import METRICS_FILE, ScalarLogger, truncate_metrics
from weakpose.engine.phases import MAIN_PHASE
from weakpose.engine.rng import generator_state, global_states, seed_everything, set_generator_state, set_global_states
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


#: Settings that do not change what a run trains (a resumed run may change them silently).
RUN_ONLY_SETTINGS = frozenset({"device", "eval_every", "checkpoint_every", "log_every", "monitor_samples"})


def training_payload(method, step: int, phase: str = MAIN_PHASE) -> dict[str, Any]:
    """Model payload plus everything needed to resume training bit-for-bit: the phase and its
    step, optimisers, schedulers, every generator the method declared
    (:meth:`~weakpose.methods.base.Method.own_generator`), the process-global generators and the
    method's :meth:`~weakpose.methods.base.Method.extra_state`."""
    payload = model_payload(method, step)
    payload["phase"] = phase
    payload["training"] = {
        "optimizers": {k: o.state_dict() for k, o in method.optimizers().items()},
        "schedulers": {k: s.state_dict() for k, s in method.schedulers().items()},
        "generators": {k: generator_state(g) for k, g in method.generators().items()},
        "global_rng": global_states(),
        "method_state": method.extra_state(),
    }
    return payload


def restore_training(method, payload: dict[str, Any]) -> int:
    """Load a :func:`training_payload` into a freshly built method; returns the step (within
    ``payload["phase"]``)."""
    missing_modules = sorted(set(method.nets) - set(payload["modules"]))
    if missing_modules:
        raise InputError(f"checkpoint: key 'modules': no {', '.join(missing_modules)} (written by an older weakpose "
                         "that trained it differently); start a new run instead of --resume")
    for k, net in method.nets.items():
        net.load_state_dict(payload["modules"][k])
    tr = payload["training"]
    for k, o in method.optimizers().items():
        o.load_state_dict(tr["optimizers"][k])
    for k, s in method.schedulers().items():
        s.load_state_dict(tr["schedulers"][k])
    if "generators" in tr:
        saved = tr["generators"]
        set_global_states(tr["global_rng"])
    else:  # checkpoints before generators were declared: the sampling generator and torch/python
        saved = {"sampling": tr["numpy_rng"]}
        set_global_states({"torch": tr["torch_rng"], "python": tr["python_rng"]})
    missing = sorted(set(method.generators()) - set(saved))
    if missing:
        print(f"warning: the checkpoint has no state of the generator(s) {', '.join(missing)} (written by an older "
              "weakpose); they restart from their seeds, so this run will not match an uninterrupted one",
              file=sys.stderr)
    for k, g in method.generators().items():
        if k in saved:
            set_generator_state(g, saved[k])
    method.load_extra_state(tr.get("method_state", {}))
    return int(payload["step"])


def changed_settings(saved: dict[str, Any], config: Any) -> dict[str, tuple[Any, Any]]:
    """Settings (other than :data:`RUN_ONLY_SETTINGS`) whose value differs from the saved run's."""
    now = config_to_dict(config)
    return {k: (saved.get(k), v) for k, v in now.items()
            if k not in RUN_ONLY_SETTINGS and k in saved and saved[k] != v}


def _setup_processes(method, info: distributed.DistInfo) -> None:
    """Multi-process training: even shares, global batch norm, identical start, synchronised
    gradients on every optimiser step (:mod:`weakpose.engine.distributed`)."""
    if not info.enabled:
        return
    distributed.check_even_split(method.sharded_batch_sizes(), info)
    for net in method.nets.values():
        distributed.synchronise_batch_norm(net, info)
    distributed.broadcast_modules(method.nets.values(), info)
    for opt in method.optimizers().values():
        distributed.attach_gradient_sync(opt)


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

    ``stop_after`` ends this invocation after that many steps (over all phases) with a
    checkpoint (as an interrupt would), for time-sliced jobs; ``resume=True`` continues it.
    A resumed run that changes a training setting gets a warning: learning-rate schedules and
    phase lengths were set from the old values.
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
    method_class = cls.method_class(config)
    if distributed.world_size_from_env() > 1 and method_class.single_process_reason:
        raise InputError(f"torchrun: method '{method_name}' trains in one process only: "
                         f"{method_class.single_process_reason}")
    root = find_data_root(data)
    files = {k: v for k, v in (data_files or {}).items() if v}
    if saved and not files:
        files = recorded_data_files(saved.get("data_files", []))
    method_class.check_data_kinds(files)
    sources = load_sources(**files)
    if saved:
        check_unchanged(saved.get("data_files", []), sources.config_entry())
    info = distributed.init_from_env(config.device)
    if resume and info.is_main:
        changed = changed_settings(saved["config"], config)
        if changed:
            what = ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in changed.items())
            print(f"warning: {out}: resuming with changed settings ({what}); the learning-rate schedule, phase "
                  "lengths and batches were set up with the old values, so the result matches neither an "
                  "uninterrupted run with the old settings nor one with the new", file=sys.stderr)

    seed_everything(config.seed)
    method = cls(config, root, config.device, info, sources=sources)
    _setup_processes(method, info)
    phases = method.phases()
    names = [p.name for p in phases]
    phase_index, start = 0, 0
    if resume:
        payload = load_checkpoint(last)
        start = restore_training(method, payload)
        phase = payload.get("phase", MAIN_PHASE)
        if phase not in names:
            raise InputError(f"{last}: key 'phase': {phase!r} is not a phase of this run ({', '.join(names)})")
        phase_index = names.index(phase)
    offsets = [sum(p.steps for p in phases[:i]) for i in range(len(phases))]
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        for leftover in (last, out / FINAL_MODEL):  # temporaries of a write that was killed
            remove_stale_temporaries(leftover)
        if resume:
            truncate_metrics(out / METRICS_FILE, names, names[phase_index], start)
        (out / CONFIG_FILE).write_text(json.dumps({"method": method_name, "config": config_to_dict(config),
                                                     "data_files": sources.config_entry()}, indent=2))
    logger = ScalarLogger(out, enabled=info.is_main, purge_step=offsets[phase_index] + start + 1 if resume else None)

    interrupted = {"flag": False}

    def on_sigint(signum, frame):  # finish the current step, checkpoint, then stop
        interrupted["flag"] = True

    previous = signal.signal(signal.SIGINT, on_sigint) if info.is_main else None
    onednn_deterministic = torch.backends.mkldnn.deterministic
    torch.backends.mkldnn.deterministic = True  # oneDNN (CPU convolutions) without run-to-run variation
    metrics: dict[str, float] = {}
    done = 0  # steps run by this invocation
    try:
        for net in method.nets.values():
            net.train()
        for i in range(phase_index, len(phases)):
            ph = phases[i]
            step = start if i == phase_index else 0
            if ph.steps == 0 and ph.name != MAIN_PHASE:
                continue
            if step == 0 and ph.begin is not None:
                ph.begin()
            final_phase = i == len(phases) - 1
            log_every = max(1, config.log_every)
            bar = tqdm(total=ph.steps, initial=step, desc=f"{method_name} {ph.name}" if len(phases) > 1 else
                       f"train {method_name}", unit="step", disable=not (progress and info.is_main), dynamic_ncols=True)
            try:
                while step < ph.steps:
                    scalars = ph.step(step)
                    step += 1
                    done += 1
                    bar.update(1)
                    if step % log_every == 0 or step == ph.steps:
                        logger.log(step, scalars, ph.name, offsets[i] + step)
                        bar.set_postfix({k.split("/")[-1]: f"{v:.4g}" for k, v in list(scalars.items())[:3]})
                    if (ph.name == MAIN_PHASE and config.eval_every and step % config.eval_every == 0
                            and step < ph.steps and info.is_main):
                        metrics = method.evaluate()
                        logger.log(step, metrics, ph.name, offsets[i] + step)
                    at_end = final_phase and step == ph.steps
                    stop = stop_after is not None and done >= stop_after and not at_end
                    if info.is_main and not at_end and (step % config.checkpoint_every == 0 or interrupted["flag"]
                                                        or stop or step == ph.steps):
                        save_checkpoint(last, training_payload(method, step, ph.name))
                    if stop:
                        return {"stopped_at_step": step} if ph.name == MAIN_PHASE else \
                            {"stopped_at_step": step, "stopped_in_phase": ph.name}
                    if interrupted["flag"] and not at_end:
                        raise KeyboardInterrupt(f"interrupted at step {step} of phase {ph.name}; "
                                                "continue with --resume")
            finally:
                bar.close()
        if info.is_main:
            metrics = method.evaluate()
            logger.log(phases[-1].steps, metrics, phases[-1].name, offsets[-1] + phases[-1].steps)
            step = phases[-1].steps
            save_checkpoint(last, training_payload(method, step, phases[-1].name))
            save_checkpoint(out / FINAL_MODEL, model_payload(method, step))
            (out / "final_metrics.json").write_text(json.dumps(metrics, indent=2))
    finally:
        torch.backends.mkldnn.deterministic = onednn_deterministic
        logger.close()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        distributed.barrier(info)
        distributed.cleanup(info)
    return metrics
