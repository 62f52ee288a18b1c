"""Geometry in torch (batched): Procrustes, rotations, 2.5D reconstruction, bone-length scale."""

from weakpose.geometry.procrustes import procrustes, procrustes_align
from weakpose.geometry.reconstruction import reconstruct_from_2p5d
from weakpose.geometry.rotations import (
    axis_angle_to_matrix,
    euler_to_matrix,
    matrix_to_axis_angle,
    matrix_to_euler,
    matrix_to_rot6d,
    rot6d_to_matrix,
    rotation_between,
)
from weakpose.geometry.scale import bone_length_scale, observed_bone_weights

__all__ = [
    "procrustes", "procrustes_align", "reconstruct_from_2p5d", "axis_angle_to_matrix",
    "euler_to_matrix", "matrix_to_axis_angle", "matrix_to_euler", "rotation_between",
    "matrix_to_rot6d", "rot6d_to_matrix",
    "bone_length_scale", "observed_bone_weights",
]
