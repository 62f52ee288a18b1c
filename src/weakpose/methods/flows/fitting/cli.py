"""``weakpose fit``: optimisation-based 3D pose from 2D keypoints (and part masks) with a
trained prior (Zanfir et al. 2020, Eq. 5, 6, 11, 12)."""

from __future__ import annotations

import argparse
import time

import numpy as np

from weakpose.cli_support import (
    declare_paths,
    int_at_least,
    nonnegative_float,
    positive_float,
    progress_bar,
)
from weakpose.errors import InputError

EPILOG = ("example: weakpose fit --prior runs/prior --input 2d.npz --output fit.npz "
          "--masks masks.npz --window 8")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "fit", help="fit the body model to 2D keypoints (and part masks) with a trained pose prior",
        description="Per-frame (or temporal, --window) L-BFGS fitting of weakpose's body model: keypoint "
                    "alignment, optional semantic body-part alignment, the prior, and a shape term.",
        epilog=EPILOG)
    p.add_argument("--prior", required=True, metavar="RUN_DIR",
                   help="a `weakpose train prior` run (folder or model.pt)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", metavar="2D.npz", help="2D keypoint file (DESIGN.md §4)")
    src.add_argument("--video", metavar="CLIP",
                     help="a video: MediaPipe detection per frame, one tracked person (extra 'detect'); use --window "
                          "for the temporal smoothness of Eq. 12 on the latent codes (e.g. --window 8)")
    p.add_argument("--max-frames", type=int_at_least(1), default=None, help="--video: stop after N frames")
    p.add_argument("--output", required=True, metavar="3D.npz", help="prediction file to write")
    p.add_argument("--masks", metavar="MASKS.npz",
                   help="part masks: key 'parts' [N, H, W] with the renderer's labels (0 = background) and optional "
                        "'mask_scale' (input pixels per mask pixel, for masks rendered smaller); enables L_BA")
    p.add_argument(
        "--w-ba", type=nonnegative_float, default=1.0,
        help="weight of the body-part alignment loss when --masks is given",
    )
    p.add_argument(
        "--window", type=int_at_least(1), default=1,
        help="temporal windows of N consecutive frames (Eq. 12); 1 = per frame",
    )
    p.add_argument(
        "--prior-kind", default=None, choices=["nf", "nf-prelu", "gmm", "vae"], help="default: the run's fit_prior"
    )
    p.add_argument("--rep", default=None, choices=["aa", "6d"], help="rotation representation (default: the run's)")
    p.add_argument("--space", default=None, choices=["latent", "ambient"], help="optimise z (Eq. 6) or θ (Eq. 5)")
    p.add_argument("--iterations", type=int_at_least(1), default=None,
                   help="L-BFGS iterations of the main stage (default: the run's fit_iterations)")
    p.add_argument("--sigma-kp", type=positive_float, default=None,
                   help="keypoint noise (px) that sets the prior weight (default: the run's fit_sigma_kp)")
    p.add_argument("--chunk", type=int_at_least(1), default=256, help="frames per batched L-BFGS run")
    p.add_argument("--stage2-starts", type=int_at_least(1, 4), default=4,
                   help="of the 4 starting rotations, how many continue after the rotation/translation stage "
                        "(4 = the paper's protocol; 1 is ~3x faster, ~1.5 mm worse in docs/flows.md)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_fit)
    declare_paths(p, inputs=("prior", "input", "video", "masks"), outputs=("output",))


def cmd_fit(args: argparse.Namespace) -> int:
    from weakpose.data.contracts import load_keypoints_2d, load_npz, save_npz_atomic
    from weakpose.methods.flows.fitting.predictor import FitPredictor, masks_to_pixel_sets
    from weakpose.methods.flows.prior import load_prior_run

    bundle, cfg = load_prior_run(args.prior)
    if args.video:
        inputs = _video_inputs(args.video, args.max_frames)
    else:
        inputs = load_keypoints_2d(args.input)
    if inputs.multiview:
        raise InputError(f"{args.input}: key 'keypoints_2d': fit takes single-view samples [N, 17, 2]")
    masks = None
    if args.masks:
        m = load_npz(args.masks)
        if "parts" not in m:
            raise InputError(f"{args.masks}: key 'parts': missing")
        parts = m["parts"]
        if parts.ndim != 3 or parts.shape[0] != inputs.num_samples or parts.dtype.kind not in "iu":
            raise InputError(f"{args.masks}: key 'parts': expected integer labels [{inputs.num_samples}, H, W], "
                             f"got {parts.dtype} {list(parts.shape)}")
        scale = float(m["mask_scale"]) if "mask_scale" in m and m["mask_scale"].size == 1 else 1.0
        if not (np.isfinite(scale) and scale > 0):
            raise InputError(f"{args.masks}: key 'mask_scale': must be a positive number, got {scale}")
        masks = masks_to_pixel_sets(parts, scale=scale)
    predictor = FitPredictor(
        bundle, args.prior_kind or cfg.fit_prior, args.rep or cfg.fit_rep, args.space or cfg.fit_space,
        sigma_kp=cfg.fit_sigma_kp if args.sigma_kp is None else args.sigma_kp,
        iterations=cfg.fit_iterations if args.iterations is None else args.iterations,
        chunk=args.chunk, w_ba=args.w_ba if masks is not None else 0.0, window=args.window,
        stage2_starts=args.stage2_starts)
    t0 = time.time()
    seq = inputs.extras.get("sequence")
    if args.video:   # Eq. 12 windows never span a gap in the track
        seq = np.concatenate([[0], np.cumsum(np.diff(inputs.extras["frame_index"]) > 1)]).astype(str)
    cam = inputs.extras.get("camera_index")
    if seq is not None and cam is not None:
        seq = np.char.add(np.asarray(seq).astype(str), np.char.add("/", np.asarray(cam).astype(str)))
    if args.window > 1 and seq is not None:
        order = np.lexsort((inputs.extras.get("frame_index", np.arange(inputs.num_samples)), seq))
    else:
        order = np.arange(inputs.num_samples)
    sub = type(inputs)(inputs.keypoints_2d[order], inputs.confidence[order],
                       None if inputs.intrinsics is None or inputs.intrinsics.ndim == 2 else inputs.intrinsics[order])
    if inputs.intrinsics is not None and inputs.intrinsics.ndim == 2:
        sub.intrinsics = inputs.intrinsics
    sub_masks = None if masks is None else (masks[0][order], masks[1][order])
    with progress_bar(not args.no_progress, inputs.num_samples, "fit", "frame") as bar:
        result = predictor.predict(sub, sub_masks, None if seq is None else seq[order], progress=bar.update)
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    result = {k: v[inverse] for k, v in result.items()}
    seconds = time.time() - t0
    passthrough = {k: v for k, v in inputs.per_sample_extras().items() if k not in result and k != "positions_3d"}
    if inputs.intrinsics is not None:
        passthrough["intrinsics"] = inputs.intrinsics
    out = save_npz_atomic(args.output, **passthrough, keypoints_2d=inputs.keypoints_2d, confidence=inputs.confidence,
                          **result, units="mm", frame="camera (OpenCV), root-relative at the pelvis")
    print(f"wrote {out}: positions_3d {list(result['positions_3d'].shape)} mm, camera frame, root-relative "
          f"({1000 * seconds / max(inputs.num_samples, 1):.0f} ms/frame)")
    return 0


def _video_inputs(video: str, max_frames: int | None):
    """The tracked person's 2D keypoints of a video (no one-euro filter: Eq. 12 smooths the fit)."""
    from pathlib import Path

    from weakpose.data.contracts import validate_keypoints_2d
    from weakpose.inference.temporal import video_keypoints

    return validate_keypoints_2d(video_keypoints(video, max_frames=max_frames), Path(video))
