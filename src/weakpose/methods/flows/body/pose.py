"""Pose-vector representations θ of the body model (Zanfir et al. §2): angle-axis (3 numbers
per joint) or the 6D representation of Zhou et al. (6 numbers per joint, the first two
columns of the rotation matrix), flattened joint-major."""

from __future__ import annotations

from torch import Tensor

from weakpose.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle, matrix_to_rot6d, rot6d_to_matrix

REPRESENTATIONS: dict[str, int] = {"aa": 3, "6d": 6}


def check_representation(rep: str) -> int:
    if rep not in REPRESENTATIONS:
        raise ValueError(f"rotation representation must be one of {sorted(REPRESENTATIONS)}, got {rep!r}")
    return REPRESENTATIONS[rep]


def pose_dim(num_joints: int, rep: str) -> int:
    return num_joints * check_representation(rep)


def vector_to_matrices(theta: Tensor, rep: str) -> Tensor:
    """[B, P·k] -> [B, P, 3, 3]."""
    k = check_representation(rep)
    x = theta.reshape(*theta.shape[:-1], -1, k)
    return axis_angle_to_matrix(x) if rep == "aa" else rot6d_to_matrix(x)


def matrices_to_vector(rot: Tensor, rep: str) -> Tensor:
    """[B, P, 3, 3] -> [B, P·k]."""
    check_representation(rep)
    x = matrix_to_axis_angle(rot) if rep == "aa" else matrix_to_rot6d(rot)
    return x.reshape(*rot.shape[:-3], -1)
