"""The composite objective: the four papers' weak losses (and an optional supervised share) on
the output of **one** lifter, each imported from its method's module.

The lifter is Iqbal et al.'s 2.5D keypoint network (:class:`KeypointTwoPointFive`): it reads 2D
keypoints and predicts scale-normalised relative depths (and a 2D estimate for missing joints);
the camera is the perspective camera of the input's intrinsics, and the pose follows
analytically (Eq. 2-3, :func:`weak_poses`, root depth constant for autograd). Every term reads
that pose:

=========  ==============================================================================  =====================
term       loss (imported from)                                                            data source
=========  ==============================================================================  =====================
``2d``     2D estimate vs the 2D labels (``multiview.method.estimate_2d_loss``)             any 2D
``mc``     alpha L_MC (Eq. 8, Procrustes without gradient) + beta L_B (Eq. 11)              multi-view 2D
           (``multiview.losses.loss_mc``, ``loss_bone``)
``mmd``    MMD^2 (Li & Lee Eq. 8-9) of a pose + KCS critic (``hypotheses.losses``)          unpaired 3D
``flow``   -log p / D of a Real-NVP flow (Zanfir et al. Eq. 1-3, ``flows.priors.flow``)      unpaired 3D
``distill`` Wang et al. Eq. 14 with a Deep NRSfM teacher (``nrsfm.distill.student_loss``)    single-view 2D
``sup``    psi-free L_z (Iqbal Eq. 6, ``multiview.losses.loss_fs``)                         paired 2D-3D
=========  ==============================================================================  =====================

The total is ``sum_k w_k L_k`` over the active terms, so a composite equals the sum of its
single-term losses on the same batch (tested).

Li & Lee's reprojection term (Eq. 4, ``|M y - x|`` with a predicted weak-perspective camera M)
is identically zero for this lifter on observed joints: its pose reprojects exactly onto the
input 2D through the perspective camera (Eq. 2). The critic and the flow compare poses in
Li & Lee's template frame; the lifter's camera-frame pose is brought there by a similarity
Procrustes on the torso that is a constant for autograd (:func:`align_to_template` with
``transform_grad=False``), the same device Iqbal et al. use for L_MC's rotations.

Wang et al.'s depth hypothesis ``z'`` is the lifter's root-relative depth in the teacher's
normalised units: the camera-frame pose times the least-squares scale (no gradient) that maps
its root-relative x, y onto the teacher's normalised 2D ``w``; the student's x, y are ``w``
itself (the 2.5D lifter keeps the observed 2D), so Eq. 15's x, y term is zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from weakpose.methods.composite.config import CompositeConfig
from weakpose.methods.composite.data import CompositeBatch, Views
from weakpose.methods.hypotheses import losses as LL
from weakpose.methods.hypotheses.data import align_to_template
from weakpose.methods.multiview.losses import loss_bone, loss_fs, loss_mc
from weakpose.methods.multiview.method import complete_2d, estimate_2d_loss, weak_poses
from weakpose.methods.nrsfm.codec import normalise_keypoints
from weakpose.methods.nrsfm.distill import student_loss
from weakpose.skeleton import H36M17

J = H36M17.num_joints


@dataclass
class Lifted:
    """The lifter's output on one batch part: relative depths [N, J], poses [N, J, 3]
    (scale-normalised camera frame) and the per-pose 2D term [N]."""

    z_rel: torch.Tensor
    poses: torch.Tensor                 # root depth constant for autograd (L_MC, L_B; Iqbal et al.)
    shapes: torch.Tensor                # Eq. 3 with its gradient: the pose the predictor returns
    l2d: torch.Tensor
    views: Views


@dataclass
class LiftedBatch:
    single: Lifted | None
    multiview: Lifted | None            # flattened views; reshape with ``views``
    paired: Lifted | None
    real_3d: torch.Tensor | None
    num_views: int = 0

    def weak(self) -> Lifted | None:
        """Single-view and multi-view poses together (what the single-pose weak terms read)."""
        parts = [p for p in (self.single, self.multiview) if p is not None]
        if not parts:
            return None
        if len(parts) == 1:
            return parts[0]
        def cat(field: str) -> torch.Tensor:
            return torch.cat([getattr(p, field) for p in parts])

        v = Views(*(torch.cat([getattr(p.views, k) for p in parts]) for k in
                    ("keypoints_2d", "confidence", "labels_2d", "label_confidence", "intrinsics")))
        return Lifted(cat("z_rel"), cat("poses"), cat("shapes"), cat("l2d"), v)


def lift(net: torch.nn.Module, views: Views, scale_pair: tuple[int, int]) -> Lifted:
    """Run the 2.5D lifter on ``views`` (flat [N, J, 2]) and rebuild its poses from the 2D labels
    (missing label joints: the network's 2D estimate), as Iqbal et al.'s weak losses do.

    Two reconstructions: ``poses`` holds the root depth constant for autograd (multiview's
    choice for L_MC, which could otherwise shrink the pose); ``shapes`` keeps Eq. 3's gradient,
    so the scale-free terms (flow, critic, teacher) judge exactly the pose the predictor returns:
    with a constant root depth they could tilt the scale pair towards the viewing ray unchecked,
    and Eq. 3 then rebuilds a different pose at prediction (measured with the flow alone: NLL
    below the depth-less pose's while training, 237 mm PA-MPJPE predicted)."""
    z_rel, uv_est, xy_n, (center, scale) = net(views.keypoints_2d, views.confidence, views.intrinsics)
    # a missing label joint (confidence 0: a detection file's missing joint) never pulls towards (0, 0)
    l2d = estimate_2d_loss(xy_n, views.labels_2d, views.intrinsics, center, scale, labelled=views.label_confidence > 0)
    uv = complete_2d(views.labels_2d, views.label_confidence, uv_est)
    K = views.intrinsics
    return Lifted(z_rel, weak_poses(uv, z_rel, K, scale_pair), weak_poses(uv, z_rel, K, scale_pair, True), l2d, views)


def to_template(poses: torch.Tensor, template: torch.Tensor) -> torch.Tensor:
    """Root-relative poses in Li & Lee's template frame (similarity fixed for autograd)."""
    return align_to_template(poses.double(), template.double(), transform_grad=False).float()


def flow_features(template_poses: torch.Tensor) -> torch.Tensor:
    """The flow's pose representation [N, 3 |bones|]: the unit direction of every bone in the
    template frame. Directions, not joint positions: the training subjects' bone lengths are
    nearly constant, so a density over positions is concentrated near a lower-dimensional set
    and its NLL explodes for any lifted pose whose lengths are off (measured: NLL ~1e5 per
    dimension and a lifter worse than the depth-less baseline); lengths are L_B's job."""
    parents = torch.tensor([p for p, _ in H36M17.bones], device=template_poses.device)
    children = torch.tensor([c for _, c in H36M17.bones], device=template_poses.device)
    b = template_poses[:, children] - template_poses[:, parents]
    d = b / (b.pow(2).sum(-1, keepdim=True) + 1e-12).sqrt()
    return d.reshape(len(template_poses), -1)


def robust_nll(nll: torch.Tensor, tau: float) -> torch.Tensor:
    """Per-sample NLL per dimension, unchanged up to ``tau`` and ``tau + log(1 + nll - tau)``
    above it (continuous, slope 1 at tau, then 1 / (1 + nll - tau)).

    A few lifted poses lie far outside the prior (a depth-less start seen from the side, say) and
    their NLL is orders of magnitude above the rest; with a plain mean they set the gradient of
    the whole batch (measured at the depth-less start: median 0.18, mean 112 per dimension, and
    the lifter diverged to 247 mm PA-MPJPE). Training poses score about -1.1."""
    excess = (nll - tau).clamp_min(0.0)
    return torch.where(nll > tau, tau + torch.log1p(excess), nll)


class CompositeObjective:
    """Weighted sum of the active terms (see the module docstring)."""

    def __init__(self, cfg: CompositeConfig, lifter: torch.nn.Module, mean_bones_norm: torch.Tensor,
                 active: set[str], critic: torch.nn.Module | None = None, flow: torch.nn.Module | None = None,
                 template: torch.Tensor | None = None, teacher=None):
        self.cfg, self.lifter, self.mean_bones_norm, self.active = cfg, lifter, mean_bones_norm, set(active)
        self.critic, self.flow, self.template, self.teacher = critic, flow, template, teacher

    def weights(self) -> dict[str, float]:
        c = self.cfg
        w = {"2d": c.w2d, "mc": c.w_mc, "mmd": c.w_mmd, "flow": c.w_flow, "distill": c.w_distill, "sup": c.w_sup}
        return {k: v for k, v in w.items() if k in self.active}

    def critic_features(self, pose: torch.Tensor) -> torch.Tensor:
        return self.critic(pose, LL.kcs_matrix(pose, H36M17.bones))

    def lift_batch(self, batch: CompositeBatch) -> LiftedBatch:
        """One forward pass of the lifter over every 2D part of the batch."""
        parts = [(k, getattr(batch, k)) for k in ("single", "multiview", "paired") if getattr(batch, k) is not None]
        flat = [v.flat if k == "multiview" else v for k, v in parts]
        views = Views(*(torch.cat([getattr(v, f) for v in flat]) for f in
                        ("keypoints_2d", "confidence", "labels_2d", "label_confidence", "intrinsics")))
        out = lift(self.lifter, views, tuple(self.cfg.scale_pair))
        res: dict[str, Lifted] = {}
        i = 0
        for (k, _), v in zip(parts, flat):
            n = len(v.keypoints_2d)
            sl = slice(i, i + n)
            res[k] = Lifted(out.z_rel[sl], out.poses[sl], out.shapes[sl], out.l2d[sl], v)
            i += n
        C = batch.multiview.keypoints_2d.shape[1] if batch.multiview is not None else 0
        return LiftedBatch(res.get("single"), res.get("multiview"), res.get("paired"), batch.real_3d, C)

    def real_and_fake(self, lifted: LiftedBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Template-frame real (unpaired) and generated poses of equal count, for the critic."""
        fake = to_template(lifted.weak().shapes, self.template)
        real = to_template(lifted.real_3d, self.template)
        n = min(len(fake), len(real))
        return real[:n], fake[:n]

    def critic_loss(self, lifted: LiftedBatch, generator: torch.Generator | None = None) -> torch.Tensor:
        """L_D = -MMD^2 + lambda_gp L_gp (Li & Lee §3.3) on detached generated poses."""
        c = self.cfg
        real, fake = self.real_and_fake(lifted)
        fake = fake.detach()
        mmd = LL.mmd2_loss(self.critic_features(real), self.critic_features(fake), c.kernel_alphas, c.dot_weight)
        gp = LL.witness_gradient_penalty(self.critic_features, real, fake, c.kernel_alphas, c.dot_weight, generator)
        return -mmd + c.lambda_gp * gp

    def terms(self, lifted: LiftedBatch) -> dict[str, torch.Tensor]:
        """Every active term (unweighted) and ``total`` = sum of weight x term."""
        c = self.cfg
        out: dict[str, torch.Tensor] = {}
        if "2d" in self.active:
            parts = [p.l2d for p in (lifted.single, lifted.multiview, lifted.paired) if p is not None]
            out["2d"] = torch.cat(parts).mean()
        if "mc" in self.active:
            mv = lifted.multiview
            B = len(mv.poses) // lifted.num_views
            poses = mv.poses.reshape(B, lifted.num_views, J, 3)
            phi = mv.views.label_confidence.reshape(B, lifted.num_views, J)
            out["mc"] = c.alpha * loss_mc(poses, phi) + c.beta * loss_bone(poses, phi, self.mean_bones_norm)
        weak = lifted.weak() if self.active & {"mmd", "flow", "distill"} else None
        if "mmd" in self.active:
            real, fake = self.real_and_fake(lifted)
            out["mmd"] = LL.mmd2_loss(self.critic_features(real).detach(), self.critic_features(fake),
                                      c.kernel_alphas, c.dot_weight)
        if "flow" in self.active:
            x = flow_features(to_template(weak.shapes, self.template))
            out["flow"] = robust_nll(-self.flow.log_prob(x) / x.shape[1], c.flow_robust).mean()
        if "distill" in self.active:
            out["distill"] = self.distill_term(weak)
        if "sup" in self.active:
            p = lifted.paired
            P = p.views.positions_3d
            k, l = c.scale_pair
            s = (P[:, k] - P[:, l]).norm(dim=-1)
            out["sup"] = loss_fs(p.z_rel, (P[..., 2] - P[:, :1, 2]) / s[:, None])
        w = self.weights()
        out["total"] = sum(w[k] * v for k, v in out.items())
        return out

    def distill_term(self, weak: Lifted) -> torch.Tensor:
        """Wang et al. Eq. 14 (via Eq. 15's student loss) for the lifter's depth hypotheses."""
        t = self.teacher
        v = weak.views
        nk = normalise_keypoints(v.labels_2d, v.label_confidence, v.intrinsics, t.center)
        w, mask = nk.w, nk.mask
        out = t.batch(w)
        rel = weak.shapes - weak.shapes[:, :1]
        with torch.no_grad():
            xy = rel[..., :2] * mask[..., None]
            s = (xy * w).sum((1, 2)) / (xy * xy).sum((1, 2)).clamp_min(1e-12)
        z = s[:, None] * rel[..., 2]
        pred = torch.cat([w, z[..., None]], -1)
        return student_loss(pred, w, mask, mode="distill", gauge=t.gauge, code=out["code"], rotation=out["rotation"],
                            operator=t.operator, reg_weight=self.cfg.reg_weight)["loss"]
