"""Held-out log-likelihood per dimension of a finished ``weakpose train prior`` run on the
rotations of CMU-WS test subjects 2 and 9 (the docs/flows.md table; Zanfir et al. §4.1).

This is an evaluation of a trained run, kept out of the training code: the trainer's monitor only
reads training subjects (DESIGN.md §5).

    python benchmarks/prior_loglik.py runs/prior [--json runs/prior/heldout_loglik.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from weakpose.data.mocap import TEST_SUBJECTS
from weakpose.data.paths import data_root
from weakpose.methods.flows.body.cmu import pose_data
from weakpose.methods.flows.prior import PriorConfig, PriorMethod, _load_nets, cmu_rotations, loglik_table
from weakpose.methods.flows.priors.bundle import pose_vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="run folder of `weakpose train prior` (or its model.pt)")
    parser.add_argument("--data", help="data folder (default: WEAKPOSE_DATA or ../shared/data)")
    parser.add_argument("--json", help="also write the table as JSON")
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
    if args.json:
        Path(args.json).write_text(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()
