"""Fitting as a predictor: 2D keypoint file (+ optional part masks) -> 3D poses (DESIGN.md §4).

Without ``intrinsics`` in the input, the default camera of
:func:`weakpose.camera.default_intrinsics` is assumed.
"""

from __future__ import annotations

import numpy as np
import torch

from weakpose.camera import default_intrinsics
from weakpose.data.contracts import Keypoints2D
from weakpose.errors import InputError
from weakpose.methods.flows.body.parts import MASK_LABEL_OFFSET, PART_NAMES
from weakpose.methods.flows.fitting.fit import FitConfig, FitResult, Fitter, root_relative
from weakpose.methods.flows.fitting.losses import mask_to_pixels
from weakpose.methods.flows.fitting.pose_space import PoseSpace
from weakpose.methods.flows.priors.bundle import PriorBundle


def masks_to_pixel_sets(masks: np.ndarray, max_pixels: int = 256, scale: float = 1.0,
                        seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Part masks [N, H, W] (renderer labels, 0 = background) -> (pixels [N, M, 2], labels [N, M]);
    ``scale`` maps mask pixel indices to the keypoints' pixel units (masks rendered smaller)."""
    if masks.ndim != 3:
        raise InputError(f"part masks: expected [N, H, W], got shape {masks.shape}")
    rng = np.random.default_rng(seed)
    xy, lab = zip(*(mask_to_pixels(m, len(PART_NAMES), max_pixels, rng, MASK_LABEL_OFFSET) for m in masks))
    return torch.from_numpy(np.stack(xy) * scale), torch.from_numpy(np.stack(lab))


class FitPredictor:
    """Fits the body model with one prior to every sample of a :class:`Keypoints2D`."""

    def __init__(self, bundle: PriorBundle, prior: str = "nf", rep: str = "aa", space: str = "latent",
                 sigma_kp: float = 5.0, iterations: int = 150, chunk: int = 256, w_ba: float = 0.0,
                 window: int = 1, stage2_starts: int = 4) -> None:
        if space not in ("latent", "ambient"):
            raise InputError(f"fit: space must be 'latent' or 'ambient', got {space!r}")
        try:
            module = bundle.get(prior, rep)
        except KeyError as e:
            raise InputError(f"fit: {e.args[0]}") from None
        try:
            self.space = PoseSpace(module, rep, space == "latent")
        except ValueError as e:
            raise InputError(f"fit: {e}") from None
        self.bundle = bundle
        self.config = FitConfig(sigma_kp=sigma_kp, stage2_iters=iterations, chunk=chunk, w_ba=w_ba,
                                stage2_starts=stage2_starts)
        self.window = window
        self.fitter = Fitter(bundle.body, self.space, self.config)

    def fit(self, inputs: Keypoints2D, masks: tuple[torch.Tensor, torch.Tensor] | None = None,
            sequence: np.ndarray | None = None, progress=None) -> FitResult:
        kp = np.array(inputs.keypoints_2d, np.float32)
        if kp.ndim != 3:
            raise InputError("fit: keypoints_2d must be [N, 17, 2] (single view)")
        conf = np.array(inputs.confidence, np.float32)
        K = inputs.intrinsics
        K = (
            default_intrinsics(kp, conf, inputs.extras.get("image_size"))
            if K is None
            else np.array(np.broadcast_to(np.asarray(K, np.float32), (len(kp), 3, 3)))
        )
        kp_t, conf_t, K_t = torch.from_numpy(kp), torch.from_numpy(conf), torch.from_numpy(np.ascontiguousarray(K))
        res = self.fitter.fit(kp_t, K_t, conf_t, masks, progress)
        if self.window > 1:
            res = self._temporal(res, kp_t, K_t, conf_t, masks, sequence)
        return res

    def _temporal(self, res: FitResult, kp, K, conf, masks, sequence) -> FitResult:
        """Eq. 12 over consecutive windows of samples that share ``sequence`` (all one
        sequence when absent); a sequence's last partial window keeps its per-frame result."""
        n = len(kp)
        seq = np.zeros(n, np.int64) if sequence is None else np.unique(np.asarray(sequence), return_inverse=True)[1]
        starts = []
        i = 0
        while i + self.window <= n:
            if (seq[i : i + self.window] == seq[i]).all():
                starts.append(i)
                i += self.window
            else:
                i += 1
        if not starts:
            return res
        rows = torch.from_numpy(np.concatenate([np.arange(s, s + self.window) for s in starts]))
        sub = FitResult(
            *(getattr(res, f)[rows] for f in ("joints_cam", "pose", "var", "beta", "global_rot", "transl", "loss")),
            seconds=0.0,
        )
        ba = None if masks is None else (masks[0][rows], masks[1][rows])
        ref = self.fitter.fit_windows(sub, kp[rows], K[rows], conf[rows], self.window, ba)
        out = FitResult(
            *(getattr(res, f).clone() for f in ("joints_cam", "pose", "var", "beta", "global_rot", "transl", "loss")),
            seconds=res.seconds + ref.seconds,
        )
        for f in ("joints_cam", "pose", "var", "beta", "global_rot", "transl", "loss"):
            getattr(out, f)[rows] = getattr(ref, f).to(getattr(out, f).dtype)
        return out

    def predict(self, inputs: Keypoints2D, masks=None, sequence=None, progress=None) -> dict[str, np.ndarray]:
        """3D poses and fit parameters; ``progress(frames)`` is called as frames are fitted."""
        res = self.fit(inputs, masks, sequence, progress)
        return {
            "positions_3d": root_relative(res.joints_cam),
            "fit_loss": res.loss.detach().numpy().astype(np.float32),
            "pose_params": res.pose.detach().numpy().astype(np.float32),
            "betas": res.beta.detach().numpy().astype(np.float32),
            "translation": res.transl.detach().numpy().astype(np.float32),
        }
