"""Held-out log-likelihood per dimension of a finished ``weakpose train prior`` run on the
rotations of CMU-WS test subjects 2 and 9 (the docs/flows.md table; Zanfir et al. §4.1).

This is an evaluation of a trained run, kept out of the training code: the trainer's monitor only
reads training subjects (DESIGN.md §5).

    python benchmarks/prior_loglik.py runs/prior [--json runs/prior/heldout_loglik.json] [--round-trip 2000]

``--round-trip N`` also decodes N random codes of norm 3·sqrt(d) (every flow's "3σ shell") in
float32 and reports the largest |θ| of f⁻¹(z) and the share of codes whose round trip f(f⁻¹(z))
misses z by more than 1e-3 (or is not finite); no data are read for it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from weakpose.data.mocap import TEST_SUBJECTS
from weakpose.data.paths import data_root
from weakpose.methods.flows.body.cmu import pose_data
from weakpose.methods.flows.prior import PriorConfig, PriorMethod, _load_nets, cmu_rotations, loglik_table
from weakpose.methods.flows.priors.bundle import pose_vectors
from weakpose.methods.flows.priors.flow import NormalizingFlow

ROUND_TRIP_TOL = 1e-3


def round_trip(flow: NormalizingFlow, n: int, seed: int = 0) -> dict[str, float]:
    """Largest |θ| of f⁻¹(z) and share of failed round trips for ``n`` codes with ‖z‖ = 3·sqrt(d)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, flow.dim, generator=g)
    z = 3.0 * flow.dim ** 0.5 * z / z.norm(dim=1, keepdim=True)
    flow.eval()
    failed = {}
    for dtype in (torch.float32, torch.float64):
        with torch.no_grad():
            f = flow.to(dtype)
            theta = f.inverse(z.to(dtype))
            back, _ = f(theta)
        err = (back - z.to(dtype)).abs().amax(1)
        failed[dtype] = ~torch.isfinite(err) | (err > ROUND_TRIP_TOL)
        if dtype == torch.float32:
            theta32 = theta
    flow.float()
    finite = torch.isfinite(theta32).all(1)
    worst = int(torch.where(finite, theta32.abs().amax(1), torch.inf).argmax())
    with torch.no_grad():  # ‖h‖ of the worst code after each inverse layer (where f⁻¹ amplifies)
        h, norms = z[worst : worst + 1], [float(z[worst].norm())]
        for step in reversed(flow.steps):
            h = step.inverse(h)
            norms.append(float(h.norm()))
    return {"max_abs_theta": float(theta32[finite].abs().max()) if finite.any() else float("inf"),
            "median_max_abs_theta": float(theta32[finite].abs().amax(1).median()) if finite.any() else float("inf"),
            "round_trip_failed": float(failed[torch.float32].float().mean()),
            "round_trip_failed_float64": float(failed[torch.float64].float().mean()),
            "worst_code_norm_per_inverse_layer": norms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="run folder of `weakpose train prior` (or its model.pt)")
    parser.add_argument("--data", help="data folder (default: WEAKPOSE_DATA or ../shared/data)")
    parser.add_argument("--json", help="also write the table as JSON")
    parser.add_argument("--round-trip", type=int, default=0, metavar="N",
                        help="also check N codes of norm 3*sqrt(d) per flow (largest |theta|, failed round trips)")
    args = parser.parse_args()
    from weakpose.engine.checkpoint import load_checkpoint
    from weakpose.engine.config import config_from_dict

    payload = load_checkpoint(args.run)
    if payload["method"] != PriorMethod.name:
        raise SystemExit(f"error: {args.run}: key 'method': a {payload['method']!r} run, not 'prior'")
    config = config_from_dict(PriorConfig, payload["config"])
    nets = _load_nets(config, payload["modules"])
    test = pose_data(cmu_rotations(data_root(args.data)), TEST_SUBJECTS)
    table = loglik_table(nets, {rep: pose_vectors(test.local, rep) for rep in config.representations})
    for name, value in table.items():
        print(f"{name:16s} {value:8.3f} nats/dim")
    if args.round_trip:
        for name, net in nets.items():
            if isinstance(net, NormalizingFlow):
                table[f"round_trip/{name}"] = rt = round_trip(net, args.round_trip)
                print(f"{name:16s} 3-sigma codes: max |theta| {rt['max_abs_theta']:.3g} rad "
                      f"(median per code {rt['median_max_abs_theta']:.3g}), "
                      f"round trips failed {100 * rt['round_trip_failed']:.1f} % "
                      f"(float64: {100 * rt['round_trip_failed_float64']:.1f} %); worst code's norm per inverse "
                      f"layer: {' '.join(f'{v:.3g}' for v in rt['worst_code_norm_per_inverse_layer'])}")
    if args.json:
        Path(args.json).write_text(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()
