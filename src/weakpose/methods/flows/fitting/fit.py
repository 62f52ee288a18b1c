"""Optimisation-based pose and shape estimation (Zanfir et al. §2.1 Eq. 5–6, §3 Eq. 11–12).

Objective per frame (Eq. 11 with the prior of Eq. 5 or 6)::

    L = w_KA · L_KA + w_BA · (L_BA_fwd + L_BA_bwd) + w_ψ · ψ + w_β · ‖β‖²

and for a temporal window (Eq. 12) with β shared by the window's frames::

    Σ_t L_t + 50 · w_ψ · Σ_t ‖z_t − z_{t−1}‖²

Choices the paper leaves open (docs/flows.md):

* Weights from a Gaussian keypoint-noise model: with L_KA the mean squared pixel error over
  ``J`` joints and noise ``σ_kp`` px, the MAP objective is ``J/(2σ²)·L_KA + ½‖z‖² + ½‖β‖²``;
  dividing by ``J/(2σ²)`` gives ``w_KA = 1``, ``w_ψ = 2σ²/J``, ``w_β = σ²/J`` (the ½ of a
  standard normal β folded in). ``σ_kp`` = 5 px by default (the model's bone-length error
  against a real skeleton is of that order at 4–5 m).
* Optimiser (``optimizer = "batched"``, the default): :func:`weakpose.methods.flows.fitting.lbfgs.batched_lbfgs`,
  one L-BFGS per sample (own memory, own Armijo backtracking step) run as one batch, exact
  gradients by autograd. ``optimizer = "torch"`` instead runs ``torch.optim.LBFGS`` with the
  strong Wolfe line search on the sum of the per-sample objectives (one memory and one step for
  all frames). Two stages, as in SMPLify: global rotation + translation only, then everything.
* Four initial global rotations (:func:`initial_global_rotations`) run as one batch; each
  frame keeps the initialisation with the lowest final objective.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from weakpose.camera import project
from weakpose.geometry.rotations import axis_angle_to_matrix
from weakpose.methods.flows.body.model import BodyModel
from weakpose.methods.flows.body.parts import PART_NAMES
from weakpose.methods.flows.body.pose import vector_to_matrices
from weakpose.methods.flows.fitting.camera_init import initial_global_rotations, weak_perspective_translation
from weakpose.methods.flows.fitting.lbfgs import batched_lbfgs
from weakpose.methods.flows.fitting.losses import (
    GroupedPixels,
    body_part_alignment,
    group_pixels,
    keypoint_alignment,
    temporal_smoothness,
)
from weakpose.methods.flows.fitting.pose_space import PoseSpace


@dataclass
class FitConfig:
    sigma_kp: float = 5.0          # px, keypoint noise of the MAP weights
    w_ba: float = 0.0              # body-part alignment weight (0 = KA only)
    prior_scale: float = 1.0       # multiplies w_ψ and w_β
    smooth_factor: float = 50.0    # Eq. 12 weight relative to the prior's (§3)
    inits: int = 4                 # initial global rotations (§3)
    stage2_starts: int = 4         # starts kept after stage 1 (lowest loss); < inits trades accuracy for speed
    stage1_iters: int = 30         # rotation + translation only
    stage2_iters: int = 150        # all variables
    lbfgs_history: int = 10
    optimizer: str = "batched"  # "batched" (per-frame memory + Armijo step) | "torch" (torch.optim.LBFGS, strong Wolfe)
    chunk: int = 64                # frames per L-BFGS batch


@dataclass
class FitResult:
    joints_cam: Tensor   # [B, 17, 3] mm camera frame (absolute)
    pose: Tensor         # [B, D] θ
    var: Tensor          # [B, D_var] the optimised pose variable (z or θ)
    beta: Tensor         # [B, K]
    global_rot: Tensor   # [B, 3, 3]
    transl: Tensor       # [B, 3]
    loss: Tensor         # [B]
    seconds: float


class Fitter:
    """Batched fitting of a body model to 2D keypoints (and optionally part masks)."""

    def __init__(self, body: BodyModel, space: PoseSpace, config: FitConfig | None = None) -> None:
        config = FitConfig() if config is None else config
        self.body, self.space, self.cfg = body, space, config
        J = 17
        self.w_prior = config.prior_scale * 2 * config.sigma_kp**2 / J
        self.w_beta = config.prior_scale * config.sigma_kp**2 / J

    # ------------------------------------------------------------------ model
    def _joints(self, var: Tensor, beta: Tensor, rot_aa: Tensor, transl: Tensor, base_rot: Tensor):
        theta = self.space.pose(var)
        local = vector_to_matrices(theta, self.space.rep)
        R = axis_angle_to_matrix(rot_aa) @ base_rot
        out = self.body(local, beta, global_rot=R)
        # origin at the pelvis so that rotation and translation are decoupled
        pelvis = out.joints[:, :1]
        return out, pelvis, transl

    def _terms(self, var, beta, rot_aa, tau, base_rot, kp, conf, K, ba):
        """Objective per sample. The pelvis position is parametrised for L-BFGS's conditioning
        as ``τ = (10·x/z, 10·y/z, 10·ln(z / 1 m))``: the image position of the body depends on
        the first two only, its image size on the third (see :func:`tau_to_translation`)."""
        out, pelvis, t = self._joints(var, beta, rot_aa, tau_to_translation(tau), base_rot)
        joints = out.joints - pelvis + t[:, None]
        proj = project(joints, K)
        loss = keypoint_alignment(proj, kp, conf)
        if ba is not None and self.cfg.w_ba > 0:
            pts, labels = self.body.alignment_points(joints)
            fwd, bwd = body_part_alignment(project(pts, K), labels, ba)
            loss = loss + self.cfg.w_ba * (fwd + bwd)
        loss = loss + self.w_prior * self.space.energy(var) + self.w_beta * beta.pow(2).sum(-1)
        return loss, joints

    # ------------------------------------------------------------------ per frame
    def fit(self, keypoints_2d: Tensor, K: Tensor, confidence: Tensor | None = None,
            ba: tuple[Tensor, Tensor] | None = None, progress: Callable[[int], None] | None = None) -> FitResult:
        """Fit every frame independently (chunks of ``cfg.chunk`` frames × ``cfg.inits`` starts);
        ``progress(frames)`` is called after each chunk."""
        t0 = time.time()
        if ba is not None and self.cfg.w_ba > 0 and not isinstance(ba, GroupedPixels):
            ba = group_pixels(ba[0], ba[1], len(PART_NAMES))
        elif self.cfg.w_ba <= 0:
            ba = None
        parts = []
        n = keypoints_2d.shape[0]
        for i in range(0, n, self.cfg.chunk):
            sl = slice(i, min(i + self.cfg.chunk, n))
            parts.append(self._fit_chunk(keypoints_2d[sl], K[sl], None if confidence is None else confidence[sl],
                                         None if ba is None else ba.index(torch.arange(n)[sl])))
            if progress is not None:
                progress(sl.stop - sl.start)
        cat = {
            f: torch.cat([getattr(p, f) for p in parts])
            for f in ("joints_cam", "pose", "var", "beta", "global_rot", "transl", "loss")
        }
        return FitResult(**cat, seconds=time.time() - t0)

    def _fit_chunk(self, kp: Tensor, K: Tensor, conf: Tensor | None, ba) -> FitResult:
        B, I = kp.shape[0], self.cfg.inits
        rots = initial_global_rotations(I)  # [I, 3, 3]
        rep = lambda x: x.repeat_interleave(I, 0) if x is not None else None  # noqa: E731
        kpI, KI, confI = rep(kp), rep(K), rep(conf)
        baI = None if ba is None else ba.index(torch.arange(B).repeat_interleave(I))
        base_rot = rots.repeat(B, 1, 1)
        var = self.space.init(B * I)
        beta = torch.zeros(B * I, self.body.num_betas)
        rot_aa = torch.zeros(B * I, 3)
        with torch.no_grad():
            out, pelvis, _ = self._joints(var, beta, rot_aa, torch.zeros(B * I, 3), base_rot)
            transl = translation_to_tau(weak_perspective_translation(out.joints - pelvis, kpI, KI, confI))
        fixed = (base_rot, kpI, confI, KI, baI)
        if self.cfg.optimizer == "torch":
            for t_ in (var, beta, rot_aa, transl):
                t_.requires_grad_(True)
            self._run([rot_aa, transl], (var, beta, rot_aa, transl, *fixed), self.cfg.stage1_iters)
            self._run([var, beta, rot_aa, transl], (var, beta, rot_aa, transl, *fixed), self.cfg.stage2_iters)
        else:
            dv, dk = var.shape[1], beta.shape[1]

            def stage1(x):
                return self._terms(var, beta, x[:, :3], x[:, 3:], *fixed)[0]

            def stage2(x):
                return self._terms(
                    x[:, :dv], x[:, dv : dv + dk], x[:, dv + dk : dv + dk + 3], x[:, dv + dk + 3 :], *fixed
                )[0]

            x, f1, _ = batched_lbfgs(
                stage1, torch.cat([rot_aa, transl], 1), self.cfg.stage1_iters, self.cfg.lbfgs_history
            )
            rot_aa, transl = x[:, :3], x[:, 3:]
            keep = min(self.cfg.stage2_starts, I)
            if keep < I:  # continue only the most promising starts of every frame
                top = f1.view(B, I).topk(keep, dim=1, largest=False).indices + torch.arange(B)[:, None] * I
                sel = top.flatten()
                var, beta, rot_aa, transl = var[sel], beta[sel], rot_aa[sel], transl[sel]
                base_rot, kpI, KI = base_rot[sel], kpI[sel], KI[sel]
                confI = None if confI is None else confI[sel]
                baI = None if baI is None else baI.index(sel)
                fixed = (base_rot, kpI, confI, KI, baI)
                I = keep
            x, _, _ = batched_lbfgs(stage2, torch.cat([var, beta, rot_aa, transl], 1), self.cfg.stage2_iters,
                                    self.cfg.lbfgs_history)
            var, beta, rot_aa, transl = x[:, :dv], x[:, dv:dv + dk], x[:, dv + dk:dv + dk + 3], x[:, dv + dk + 3:]
        with torch.no_grad():
            loss, joints = self._terms(var, beta, rot_aa, transl, base_rot, kpI, confI, KI, baI)
            best = loss.view(B, I).argmin(1) + torch.arange(B) * I
            R = axis_angle_to_matrix(rot_aa) @ base_rot
            return FitResult(
                joints_cam=joints[best],
                pose=self.space.pose(var)[best],
                var=var[best].detach(),
                beta=beta[best].detach(),
                global_rot=R[best],
                transl=tau_to_translation(transl[best].detach()),
                loss=loss[best],
                seconds=0.0,
            )

    def _run(self, params: list[Tensor], args, iters: int) -> None:
        if iters <= 0:
            return
        opt = torch.optim.LBFGS(params, lr=1.0, max_iter=iters, history_size=self.cfg.lbfgs_history,
                                line_search_fn="strong_wolfe", tolerance_grad=1e-9, tolerance_change=1e-12)

        def closure():
            opt.zero_grad()
            loss, _ = self._terms(*args)
            total = loss.sum()
            total.backward()
            return total

        opt.step(closure)

    # ------------------------------------------------------------------ temporal (Eq. 12)
    def fit_windows(self, init: FitResult, keypoints_2d: Tensor, K: Tensor, confidence: Tensor | None,
                    window: int, ba: tuple[Tensor, Tensor] | None = None) -> FitResult:
        """Refine per-frame fits over windows of ``window`` consecutive frames (rows of the
        inputs, already grouped so that each window is one sequence seen by one camera): β shared
        per window, smoothness ``smooth_factor · w_ψ · Σ‖z_t − z_{t−1}‖²`` on the pose codes."""
        t0 = time.time()
        if ba is not None and self.cfg.w_ba > 0 and not isinstance(ba, GroupedPixels):
            ba = group_pixels(ba[0], ba[1], len(PART_NAMES))
        elif self.cfg.w_ba <= 0:
            ba = None
        n = keypoints_2d.shape[0]
        if n % window:
            raise ValueError(f"{n} frames do not split into windows of {window}")
        W = n // window
        var = init.var.clone().requires_grad_(True)
        beta_w = init.beta.view(W, window, -1).mean(1).clone().requires_grad_(True)
        R0 = init.global_rot.clone()
        rot_aa = torch.zeros(n, 3, requires_grad=True)
        transl = translation_to_tau(init.transl).clone().requires_grad_(True)
        w_smooth = self.cfg.smooth_factor * self.w_prior
        space = self.space

        def objective():
            beta = beta_w.repeat_interleave(window, 0)
            loss, joints = self._terms(var, beta, rot_aa, transl, R0, keypoints_2d, confidence, K, ba)
            # β is shared: count its prior once per window, not once per frame
            loss = loss - self.w_beta * beta.pow(2).sum(-1) * (1 - 1 / window)
            codes = space.latent_code(var).view(W, window, -1)
            return loss.view(W, window).sum(1) + w_smooth * temporal_smoothness(codes), joints

        opt = torch.optim.LBFGS([var, beta_w, rot_aa, transl], lr=1.0, max_iter=self.cfg.stage2_iters,
                                history_size=self.cfg.lbfgs_history, line_search_fn="strong_wolfe",
                                tolerance_grad=1e-9, tolerance_change=1e-12)

        def closure():
            opt.zero_grad()
            total = objective()[0].sum()
            total.backward()
            return total

        opt.step(closure)
        with torch.no_grad():
            loss, joints = objective()
            R = axis_angle_to_matrix(rot_aa) @ R0
            return FitResult(joints_cam=joints, pose=space.pose(var), var=var.detach(),
                             beta=beta_w.detach().repeat_interleave(window, 0), global_rot=R,
                             transl=tau_to_translation(transl.detach()), loss=loss.repeat_interleave(window) / window,
                             seconds=time.time() - t0)


def tau_to_translation(tau: Tensor) -> Tensor:
    """``τ`` [B, 3] -> pelvis position [B, 3] mm (camera frame)."""
    z = 1000.0 * torch.exp(tau[:, 2] / 10.0)
    return torch.stack([tau[:, 0] / 10.0 * z, tau[:, 1] / 10.0 * z, z], -1)


def translation_to_tau(t: Tensor) -> Tensor:
    z = t[:, 2].clamp_min(1.0)
    return torch.stack([10.0 * t[:, 0] / z, 10.0 * t[:, 1] / z, 10.0 * torch.log(z / 1000.0)], -1)


def root_relative(joints: Tensor) -> np.ndarray:
    return (joints - joints[:, :1]).detach().cpu().numpy().astype(np.float32)


__all__ = ["FitConfig", "FitResult", "Fitter", "root_relative"]
