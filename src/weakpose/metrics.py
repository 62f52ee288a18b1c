"""CMU-WS metrics (DESIGN.md §5): MPJPE, N-MPJPE, PA-MPJPE, PCK@150, AUC, per action, best-of-H;
beside PA-MPJPE (no reflections, the primary column) the papers' PA-MPJPE with reflections.

All metrics are root-relative at the pelvis, in mm, per sample; file-level numbers are the
frame-weighted mean. Functions take numpy arrays or torch tensors and return the same kind.
The numpy path runs the torch implementation in float64, so both give identical results.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from weakpose.geometry.procrustes import procrustes_align

Array = Any
ROOT = 0
PCK_THRESHOLD_MM = 150.0
AUC_THRESHOLDS_MM = tuple(float(t) for t in range(0, 151, 5))


def _torch_metric(fn):
    def wrapper(pred: Array, gt: Array, *args, **kwargs) -> Array:
        if isinstance(pred, torch.Tensor):
            return fn(pred, gt, *args, **kwargs)
        out = fn(torch.as_tensor(np.asarray(pred), dtype=torch.float64),
                 torch.as_tensor(np.asarray(gt), dtype=torch.float64), *args, **kwargs)
        return out.numpy()

    wrapper.__doc__, wrapper.__name__ = fn.__doc__, fn.__name__
    return wrapper


def _root_relative(x: torch.Tensor) -> torch.Tensor:
    return x - x[..., ROOT : ROOT + 1, :]


def _joint_errors(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    return (_root_relative(pred) - _root_relative(gt)).norm(dim=-1)


@_torch_metric
def mpjpe(pred: Array, gt: Array) -> Array:
    """Mean per-joint position error after subtracting the pelvis, over all 17 joints: ``[N]``."""
    return _joint_errors(pred, gt).mean(-1)


@_torch_metric
def n_mpjpe(pred: Array, gt: Array) -> Array:
    """MPJPE after the least-squares scale ``s = <gt, pred> / <pred, pred>`` (root-relative)."""
    p, g = _root_relative(pred), _root_relative(gt)
    s = (p * g).sum((-1, -2)) / (p * p).sum((-1, -2)).clamp_min(1e-12)
    return (s[..., None, None] * p - g).norm(dim=-1).mean(-1)


@_torch_metric
def pa_mpjpe(pred: Array, gt: Array) -> Array:
    """MPJPE after per-sample similarity Procrustes (rotation, scale, translation), no reflections."""
    aligned = procrustes_align(pred, gt, scale=True, reflection=False)
    return (aligned - gt).norm(dim=-1).mean(-1)


@_torch_metric
def pa_mpjpe_with_reflections(pred: Array, gt: Array) -> Array:
    """PA-MPJPE whose Procrustes may also reflect (as several papers compute it): a depth-mirrored
    prediction then scores like the unmirrored one. Report it beside :func:`pa_mpjpe`, labelled
    "with reflections (as the papers)", never instead of it."""
    aligned = procrustes_align(pred, gt, scale=True, reflection=True)
    return (aligned - gt).norm(dim=-1).mean(-1)


@_torch_metric
def pck(pred: Array, gt: Array, threshold: float = PCK_THRESHOLD_MM) -> Array:
    """Percentage of the 16 non-root joints within ``threshold`` mm (root-relative): ``[N]``."""
    err = _joint_errors(pred, gt)[..., [j for j in range(pred.shape[-2]) if j != ROOT]]
    return 100.0 * (err <= threshold).to(err.dtype).mean(-1)


@_torch_metric
def auc(pred: Array, gt: Array) -> Array:
    """Mean PCK over thresholds 0, 5, …, 150 mm, in percent: ``[N]``."""
    err = _joint_errors(pred, gt)[..., [j for j in range(pred.shape[-2]) if j != ROOT]]
    th = torch.tensor(AUC_THRESHOLDS_MM, dtype=err.dtype)
    return 100.0 * (err[..., None] <= th).to(err.dtype).mean((-1, -2))


@_torch_metric
def depth_error(pred: Array, gt: Array) -> Array:
    """Mean absolute error of the root-relative depth (camera z), per sample ``[N]`` in mm: the
    "depth error" of Wang et al. 2019 (§5.2, "the mean difference along z-axis"). Not a CMU-WS
    protocol metric; reported on the NRSfM page."""
    return (_root_relative(pred)[..., 2] - _root_relative(gt)[..., 2]).abs().mean(-1)


#: Every file-level metric, in table order. ``pa_mpjpe_refl`` is "PA-MPJPE with
#: reflections (as the papers)": printed beside ``pa_mpjpe``, never instead of it; the gap between
#: the two is the cost of depth-mirrored predictions.
METRICS = {"mpjpe": mpjpe, "n_mpjpe": n_mpjpe, "pa_mpjpe": pa_mpjpe, "pa_mpjpe_refl": pa_mpjpe_with_reflections,
           "pck150": pck, "auc": auc}
METRIC_NAMES = tuple(METRICS)


def per_sample_metrics(pred: Array, gt: Array) -> dict[str, np.ndarray]:
    """Every metric of :data:`METRICS` for every sample (numpy float64)."""
    pred = torch.as_tensor(np.asarray(pred), dtype=torch.float64)
    gt = torch.as_tensor(np.asarray(gt), dtype=torch.float64)
    return {name: fn(pred, gt).numpy() for name, fn in METRICS.items()}


def best_of_hypotheses(hypotheses: Array, gt: Array) -> dict[str, np.ndarray]:
    """Oracle (best-of-H) per-sample metrics: for each metric, the best hypothesis per sample.

    ``hypotheses`` ``[N, H, 17, 3]``. This uses the ground truth to choose and must be reported
    as an oracle result, never as a prediction.
    """
    h = torch.as_tensor(np.asarray(hypotheses), dtype=torch.float64)
    g = torch.as_tensor(np.asarray(gt), dtype=torch.float64)[:, None].expand_as(h)
    out = {}
    for name, fn in METRICS.items():
        v = fn(h.reshape(-1, *h.shape[2:]), g.reshape(-1, *g.shape[2:])).reshape(h.shape[:2])
        out[name] = (v.max(1).values if name in ("pck150", "auc") else v.min(1).values).numpy()
    return out


def _summarise(values: dict[str, np.ndarray], actions: np.ndarray | None) -> dict:
    res: dict = {k: float(v.mean()) for k, v in values.items()}
    res["num_samples"] = int(len(next(iter(values.values()))))
    if actions is not None:
        res["per_action"] = {
            str(a): {k: float(v[actions == a].mean()) for k, v in values.items()}
            | {"num_samples": int((actions == a).sum())}
            for a in sorted(set(actions.tolist()))
        }
    return res


def evaluate_predictions(
    pred: Array, gt: Array, actions: np.ndarray | None = None, hypotheses: Array | None = None
) -> dict:
    """File-level results: ``mpjpe``, ``n_mpjpe``, ``pa_mpjpe``, ``pa_mpjpe_refl`` (with
    reflections, as the papers), ``pck150``, ``auc``,
    ``num_samples``, ``per_action`` (when ``actions`` is given) and, with ``hypotheses``,
    an ``oracle`` block of best-of-H results (clearly labelled, chosen with the ground truth)."""
    res = _summarise(per_sample_metrics(pred, gt), actions)
    if hypotheses is not None:
        oracle = _summarise(best_of_hypotheses(hypotheses, gt), actions)
        oracle["num_hypotheses"] = int(np.asarray(hypotheses).shape[1])
        res["oracle"] = oracle
    return res


def format_table(results: dict, title: str = "") -> str:
    """A plain-text table of :func:`evaluate_predictions` results, overall and per action."""
    heads = ("MPJPE", "N-MPJPE", "PA-MPJPE", "PA-refl", "PCK@150", "AUC", "N")
    head = f"{'':16s}" + "".join(f"{h:>10s}" for h in heads)
    lines = [title] if title else []
    lines += ["(mm, root-relative at the pelvis; PCK and AUC in %; PA-MPJPE without reflections; "
              "PA-refl: PA-MPJPE with reflections, as the papers)", head]

    def row(name: str, r: dict) -> str:
        return f"{name:16s}" + "".join(f"{r[k]:10.2f}" for k in METRIC_NAMES) + f"{r['num_samples']:10d}"

    for a, r in results.get("per_action", {}).items():
        lines.append(row(a, r))
    lines.append(row("ALL", results))
    if "oracle" in results:
        o = results["oracle"]
        lines.append(row(f"ORACLE best-of-{o['num_hypotheses']}", o))
    return "\n".join(lines)


#: A predicted bone counts as human when its length is within this fraction of the truth's.
BONE_TOLERANCE = 0.25


def seen_unseen_errors(pred: Array, gt: Array, unseen: np.ndarray) -> dict:
    """Errors on inputs with joints cut off (``unseen`` [N, 17] bool, e.g. ``truncated`` of
    ``weakpose benchmark --truncate``): root-relative MPJPE over the seen and over the unseen
    joints (the pelvis, the origin of both, is left out), and for the bones that end at an
    unseen joint ("unseen limbs") the mean |L_pred / L_gt − 1| and the share within
    :data:`BONE_TOLERANCE` of the true length."""
    from weakpose.skeleton import H36M17

    p = np.asarray(pred, np.float64)
    g = np.asarray(gt, np.float64)
    unseen = np.asarray(unseen, bool)
    err = np.linalg.norm((p - p[:, :1]) - (g - g[:, :1]), axis=-1)
    mask = np.ones_like(unseen)
    mask[:, 0] = False
    parents, children = zip(*H36M17.bones)
    ratio = H36M17.bone_lengths(p) / np.maximum(H36M17.bone_lengths(g), 1e-9)
    limb = unseen[:, list(children)]
    rel = np.abs(ratio - 1.0)[limb]
    return {
        "mpjpe_seen": float(err[mask & ~unseen].mean()) if (mask & ~unseen).any() else float("nan"),
        "mpjpe_unseen": float(err[mask & unseen].mean()) if (mask & unseen).any() else float("nan"),
        "unseen_joint_share": float(unseen[:, 1:].mean()),
        "unseen_bone_error": float(rel.mean()) if rel.size else float("nan"),
        "unseen_bones_within_tolerance": float((rel <= BONE_TOLERANCE).mean() * 100) if rel.size else float("nan"),
        "num_unseen_bones": int(rel.size),
    }


def format_seen_unseen(r: dict) -> str:
    return (f"seen joints {r['mpjpe_seen']:.1f} mm, unseen joints {r['mpjpe_unseen']:.1f} mm MPJPE "
            f"({100 * r['unseen_joint_share']:.0f} % of the joints unseen); bones of unseen limbs: length error "
            f"{100 * r['unseen_bone_error']:.1f} %, {r['unseen_bones_within_tolerance']:.1f} % within "
            f"{100 * BONE_TOLERANCE:.0f} % ({r['num_unseen_bones']} bones)")
