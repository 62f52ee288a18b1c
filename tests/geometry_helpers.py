"""Helpers shared by the foundation tests."""

import torch


def random_rotation(rng, n=1, dtype=torch.float64):
    """``n`` random rotation matrices ``[n, 3, 3]``."""
    from weakpose.geometry import axis_angle_to_matrix

    return axis_angle_to_matrix(torch.as_tensor(rng.normal(size=(n, 3)), dtype=dtype))
