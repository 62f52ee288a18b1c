"""``weakpose train composite``: one 2.5D lifter trained by any weighted combination of the four
papers' weak signals (see :mod:`weakpose.methods.composite.objective` for the terms).

The data sources are read when the method is built
(:func:`~weakpose.methods.composite.data.training_sources`: the user's
``--train-2d/--train-multiview/--train-3d/--train-paired`` files, each replacing the CMU-WS default
of its kind). Training is up to three engine phases (:mod:`weakpose.engine.phases`: each with its
own progress bar, logs and checkpoints, so ``--resume`` continues inside any of them):

1. ``flow_prior`` (when the ``flow`` term is on): the flow prior fitted by maximum likelihood
   (Zanfir et al. Eq. 1) on the unpaired 3D, ``flow_fit_steps`` steps; frozen afterwards and
   saved with the run;
2. ``teacher`` (when the ``distill`` term is on and no ``teacher=RUN`` is given): the Deep NRSfM
   teacher (Wang et al. §3) trained on the composite's single-view 2D source (the ``--train-2d``
   files when given) with the ``nrsfm`` method's own training step, ``teacher_steps`` steps;
   frozen afterwards and saved with the run;
3. ``train``: per step one critic update (when ``mmd`` is on, Li & Lee's L_D) and one lifter
   update on ``sum_k w_k L_k``.

Monitoring (never used to select the model, which is the last step's) is the base class's
:meth:`~weakpose.methods.base.Method.monitor_set`: the ``--val`` file, else 2D views of the
**training** subjects; the test files are never read while training.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import torch

from weakpose.data.contracts import InputError
from weakpose.data.sources import DataSources, option
from weakpose.engine.distributed import DistInfo
from weakpose.engine.phases import MAIN_PHASE, Phase
from weakpose.methods.base import Method, freeze
from weakpose.methods.composite.config import TERMS, CompositeConfig
from weakpose.methods.composite.data import FILE_KINDS, Keypoints, TrainingSources, draw_batch, training_sources
from weakpose.methods.composite.objective import (
    CompositeObjective,
    flow_features,
    to_template,
)
from weakpose.methods.flows.prior import check_nf_kind
from weakpose.methods.flows.priors.flow import FlowConfig, NormalizingFlow
from weakpose.methods.hypotheses.data import torso_template
from weakpose.methods.hypotheses.networks import PoseCritic
from weakpose.methods.multiview.method import (
    KeypointTwoPointFive,
    MultiviewPredictor,
    training_bone_statistics,
)
from weakpose.methods.nrsfm.distill import FrozenTeacher
from weakpose.skeleton import H36M17

J = H36M17.num_joints
#: which source kinds each term reads (a term is off when none of a group is present)
TERM_SOURCES: dict[str, tuple[frozenset[str], ...]] = {
    "2d": (frozenset({"single_2d", "multiview_2d", "paired"}),),
    "mc": (frozenset({"multiview_2d"}),),
    "mmd": (frozenset({"unpaired_3d"}), frozenset({"single_2d", "multiview_2d"})),
    "flow": (frozenset({"unpaired_3d"}), frozenset({"single_2d", "multiview_2d"})),
    "distill": (frozenset({"single_2d", "multiview_2d"}),),
    "sup": (frozenset({"paired"}),),
}


def term_weights(cfg: CompositeConfig) -> dict[str, float]:
    return {"2d": cfg.w2d, "mc": cfg.w_mc, "mmd": cfg.w_mmd, "flow": cfg.w_flow, "distill": cfg.w_distill,
            "sup": cfg.w_sup}


def active_terms(cfg: CompositeConfig, present: set[str]) -> set[str]:
    """Terms with a positive weight whose data sources are present. Distillation also needs a
    teacher: ``teacher=RUN`` or single-view 2D to train one on."""
    on = set()
    for term in TERMS:
        if term_weights(cfg)[term] > 0 and all(group & present for group in TERM_SOURCES[term]):
            on.add(term)
    if "distill" in on and not cfg.teacher and "single_2d" not in present:
        on.discard("distill")
    return on


def parts_needed(active: set[str]) -> set[str]:
    """Source kinds to draw each step for the active terms."""
    parts = set()
    if active & {"2d", "mmd", "flow", "distill"}:
        parts |= {"single_2d", "multiview_2d"}
    if "mc" in active:
        parts.add("multiview_2d")
    if active & {"2d", "sup"}:
        parts.add("paired")
    if "mmd" in active:
        parts.add("unpaired_3d")
    return parts


class FlowFit:
    """Maximum likelihood (Zanfir et al. Eq. 1) of ``flow`` on pose vectors ``data`` [N, D] with
    dequantisation noise ``noise``, one Adam step (cosine schedule over ``steps``) per
    :meth:`step`: the composite's ``flow_prior`` phase. The standardisation is set when built from
    what the flow is trained on, ``data`` with that noise (``std = sqrt(var + noise²)``, as the
    Zanfir prior's; a saved run restores the same buffers)."""

    BATCH, LR = 256, 1e-3

    def __init__(self, flow: NormalizingFlow, data: torch.Tensor, steps: int, noise: float, seed: int):
        self.flow, self.data, self.noise = flow, data, noise
        self.gen = torch.Generator().manual_seed(seed)
        flow.standardize.set_statistics(data, noise)
        self.opt = torch.optim.Adam(flow.parameters(), lr=self.LR, weight_decay=1e-4)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, max(1, steps))

    def step(self, step: int) -> dict[str, float]:
        """One step; logs the batch's NLL per dimension."""
        data = self.data
        idx = torch.randint(len(data), (self.BATCH,), generator=self.gen)
        x = data[idx] + self.noise * torch.randn(self.BATCH, data.shape[1], generator=self.gen)
        loss = -self.flow.log_prob(x).mean()
        self.opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.flow.parameters(), 10.0)
        self.opt.step()
        self.sched.step()
        return {"train/flow_nll_per_dim": float(loss.detach()) / data.shape[1]}


def load_teacher_run(cfg: CompositeConfig) -> FrozenTeacher:
    """The frozen teacher of ``teacher=RUN`` (one run; the distill method's own loader and checks)."""
    if "," in cfg.teacher:
        raise InputError(f"config: key 'teacher': {cfg.teacher!r}: the composite takes one teacher run "
                         "(several teachers: weakpose train distill teacher=RUN_A,RUN_B)")
    return FrozenTeacher.load(cfg.teacher, cfg.damping)


def teacher_trainer(cfg: CompositeConfig, root, single_2d: Keypoints | None):
    """A Deep NRSfM to train in the ``teacher`` phase on ``single_2d``, the composite's own
    single-view 2D source (the user's ``--train-2d`` files or the CMU-WS 2D; the nrsfm method's
    defaults, ``teacher_steps`` steps)."""
    from weakpose.methods.nrsfm.teacher import NRSfMConfig, NRSfMMethod

    if single_2d is None:
        raise InputError("config: key 'teacher': the distill term needs a teacher run (teacher=RUN) or single-view 2D "
                         "to train one on (--train-2d or single_2d=cmu-train)")
    tcfg = NRSfMConfig(steps=cfg.teacher_steps, rig=cfg.rig, noise=cfg.noise, stride=cfg.stride, seed=cfg.seed)
    return NRSfMMethod(tcfg, root, sources=DataSources(train_2d=single_2d.as_keypoints_2d()))


def start_depthless(lifter: KeypointTwoPointFive) -> None:
    """Zero the depth rows of the lifter's output layer, so training starts from the depth-less
    pose (every joint at the root depth). From a random start the untrained depths are large,
    every bone points almost along the viewing ray, and the terms that judge a pose's shape
    alone (flow, critic, teacher) get vanishing direction gradients there (measured with the
    flow term alone: 342 mm PA-MPJPE after 400 steps from a random start)."""
    with torch.no_grad():
        lifter.mlp.head.weight[:J].zero_()
        lifter.mlp.head.bias[:J].zero_()


def validate(cfg: CompositeConfig) -> None:
    for key in ("w2d", "w_mc", "w_mmd", "w_flow", "w_distill", "w_sup", "alpha", "beta", "lambda_gp"):
        if getattr(cfg, key) < 0:
            raise InputError(f"config: key '{key}': {getattr(cfg, key)} is negative")
    if not 2 <= cfg.views <= 4:
        raise InputError(f"config: key 'views': {cfg.views} (multi-view consistency uses 2 to 4 views)")
    if cfg.batch_size < 2 or cfg.mv_batch_size < 1:
        raise InputError("config: keys 'batch_size'/'mv_batch_size': batch_size >= 2 and mv_batch_size >= 1 required")
    sp = tuple(cfg.scale_pair)
    if len(sp) != 2 or len(set(sp)) != 2 or not all(0 <= i < J for i in sp):
        raise InputError(f"config: key 'scale_pair': {cfg.scale_pair} is not two distinct joint indices")
    if not 0 <= cfg.noise_fraction <= 1 or not 0 <= cfg.wild_fraction <= 1:
        raise InputError("config: keys 'noise_fraction'/'wild_fraction': must be in [0, 1]")
    check_nf_kind(cfg.flow_kind)


class CompositeMethod(Method):
    """Data files: ``--train-2d`` (single-view 2D: the 2D, critic, flow and distillation terms
    and the in-phase teacher), ``--train-multiview`` (L_MC + L_B), ``--train-3d`` (unpaired 3D:
    critic, flow prior, bone lengths), ``--train-paired`` (the supervised share), ``--val``
    (monitoring). Each replaces the CMU-WS default of its kind; a file that no active term reads
    is refused (it would be ignored silently)."""

    name = "composite"
    Config = CompositeConfig
    data_kinds = ("train_2d", "train_multiview", "train_3d", "train_paired", "val")
    single_process_reason = ("its MMD critic compares the lifted and real batches as wholes (Li & Lee Eq. 8-9), so "
                             "a batch split over processes changes the objective")

    def __init__(self, config: CompositeConfig, data_root, device: str = "cpu", dist: DistInfo | None = None,
                 sources: DataSources | None = None, training_data: TrainingSources | None = None):
        """``sources``: the user's data files (``weakpose train --train-*``); ``training_data``:
        already loaded source kinds to reuse (several methods on the same data), instead of
        :func:`training_sources`."""
        validate(config)
        super().__init__(config, data_root, device, dist or DistInfo(), sources)
        c = config
        self.data = training_sources(self.data_root, c, self.sources) if training_data is None else training_data
        self.active = active_terms(c, self.data.present())
        if not self.active:
            raise InputError(f"config: no loss term is on: present sources {sorted(self.data.present()) or 'none'}, "
                             f"weights {term_weights(c)}")
        self.parts = parts_needed(self.active)
        unused = [k for k, part in FILE_KINDS.items()
                  if k != "train_3d" and getattr(self.sources, k) is not None and part not in self.parts]
        if unused:
            raise InputError(f"command line: {option(unused[0])}: no active term of composite reads it (terms on: "
                             f"{', '.join(t for t in TERMS if t in self.active)}); set the weight of a term that uses "
                             f"it > 0 or leave the file out")
        self.mean_bones_mm, norm = training_bone_statistics(self.data_root, tuple(c.scale_pair), self.sources.train_3d)
        self.lifter = self.nets["lifter"]
        template = None
        if self.active & {"mmd", "flow"}:
            template = torch.from_numpy(torso_template(self.data.unpaired_3d))
        # phases before the lifter's: the flow prior's fit and the teacher's training (module docstring)
        self.flow_fit = self.teacher_training = None
        if "flow" in self.active:
            real = to_template(torch.from_numpy(self.data.unpaired_3d), template)
            self.flow_fit = FlowFit(self.nets["flow"], flow_features(real), c.flow_fit_steps, c.flow_noise, c.seed)
            self.own_generator("flow_prior", self.flow_fit.gen)
        teacher = None
        if "distill" in self.active:
            if c.teacher:
                teacher = load_teacher_run(c)
            else:
                self.teacher_training = teacher_trainer(c, self.data_root, self.data.single_2d)
                self.nets["teacher"] = self.teacher_training.model     # saved with the run, resumed in-phase
                print(f"[composite] teacher phase: Deep NRSfM on {len(self.teacher_training.w)} single-view 2D "
                      "samples", flush=True)
                for name, g in self.teacher_training.generators().items():
                    self.own_generator(f"teacher_{name}", g)
        self.objective = CompositeObjective(c, self.lifter, torch.as_tensor(norm), self.active,
                                            self.nets["critic"], self.nets["flow"], template, teacher)
        self.gen = self.own_generator("critic", torch.Generator().manual_seed(c.seed))
        self.opt = torch.optim.Adam(self.lifter.parameters(), lr=c.lr)
        self.sched = torch.optim.lr_scheduler.MultiStepLR(
            self.opt, milestones=[max(1, round(c.lr_drop * c.steps))], gamma=c.lr_final / c.lr)
        self.opt_d = torch.optim.Adam(self.nets["critic"].parameters(), lr=c.critic_lr, betas=(0.5, 0.9))
        self._lifter_ready = False
        origin = {part: option(k) for k, part in FILE_KINDS.items() if getattr(self.sources, k) is not None}
        print(f"[composite] terms on: {', '.join(t for t in TERMS if t in self.active)}; sources: "
              + ", ".join(f"{k} ({origin.get(k, 'CMU-WS')})" for k in sorted(self.data.present())), flush=True)

    @classmethod
    def build_modules(cls, config: CompositeConfig) -> dict[str, torch.nn.Module]:
        lifter = KeypointTwoPointFive(config.width, config.blocks, config.dropout, tuple(config.scale_pair),
                                      config.pair_depth_bound)
        if config.depthless_start:
            start_depthless(lifter)
        return {
            "lifter": lifter,
            "critic": PoseCritic(J, len(H36M17.bones), config.critic_pose_width, config.critic_kcs_width,
                                 config.critic_out, config.critic_blocks),
            "flow": NormalizingFlow(FlowConfig(3 * len(H36M17.bones), config.flow_kind, config.flow_steps,
                                               config.flow_hidden, 2, config.seed)),
        }

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        opts = {"adam": self.opt, "critic": self.opt_d}
        if self.flow_fit is not None:
            opts["flow_prior"] = self.flow_fit.opt
        if self.teacher_training is not None:
            opts["teacher"] = self.teacher_training.opt
        return opts

    def schedulers(self) -> dict[str, Any]:
        scheds = {"step": self.sched}
        if self.flow_fit is not None:
            scheds["flow_prior"] = self.flow_fit.sched
        if self.teacher_training is not None:
            scheds["teacher"] = self.teacher_training.sched
        return scheds

    def phases(self) -> tuple[Phase, ...]:
        """``flow_prior`` and ``teacher`` when their terms need them, then ``train``."""
        before = []
        if self.flow_fit is not None:
            before.append(Phase("flow_prior", self.config.flow_fit_steps, self.flow_fit.step))
        if self.teacher_training is not None:
            before.append(Phase("teacher", self.config.teacher_steps, self.teacher_training.train_step))
        return (*before, Phase(MAIN_PHASE, self.config.steps, self.train_step))

    def prepare_lifter_training(self) -> None:
        """Freeze the flow prior and the teacher trained in the earlier phases; the teacher's
        depth sign and Eq. 14's operator come from its final weights. Runs at the first lifter
        step, also of a run resumed inside the ``train`` phase (the weights are in the checkpoint)."""
        if self.flow_fit is not None:
            freeze(self.nets["flow"])
        if self.teacher_training is not None:
            from weakpose.methods.nrsfm.teacher import teacher_check_warning

            t = self.teacher_training
            state = t.predictor_state()
            warning = teacher_check_warning(state["backward_knees"], t.config.max_backward_knees)
            if warning:   # the same check as a teacher=RUN loaded by weakpose.methods.nrsfm.distill
                print(f"warning: [composite] teacher phase: {warning}", file=sys.stderr)
            self.objective.teacher = FrozenTeacher.from_model(t.model, state["depth_sign"], t.center,
                                                              self.config.damping)
        self._lifter_ready = True

    def extra_state(self) -> dict:
        return {"gen": self.gen.get_state()}

    def load_extra_state(self, state: dict) -> None:
        self.gen.set_state(state["gen"])

    def train_step(self, step: int) -> dict[str, float]:
        if not self._lifter_ready:
            self.prepare_lifter_training()
        batch = draw_batch(self.data, self.config, self.rng, self.parts)
        lifted = self.objective.lift_batch(batch)
        logs: dict[str, float] = {}
        if "mmd" in self.active:
            loss_d = self.objective.critic_loss(lifted, self.gen)
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
            logs["train/critic"] = float(loss_d.detach())
        terms = self.objective.terms(lifted)
        self.opt.zero_grad(set_to_none=True)
        terms["total"].backward()
        self.opt.step()
        self.sched.step()
        logs |= {f"train/{k}": float(v.detach()) for k, v in terms.items()}
        logs["train/lr"] = self.sched.get_last_lr()[0]
        return logs

    def predictor_state(self) -> dict[str, Any]:
        return {"mean_bones_mm": self.mean_bones_mm.tolist()}

    @classmethod
    def make_predictor(cls, config: CompositeConfig, nets: dict[str, torch.nn.Module], state: dict[str, Any]
                       ) -> MultiviewPredictor:
        return MultiviewPredictor(nets["lifter"], np.asarray(state["mean_bones_mm"], np.float32), config.scale_pair)


METHOD = CompositeMethod
