"""Pose-and-shape regressor of Zanfir et al. §2.3 for 2D keypoint input, and the decoding of
its outputs through the normalizing-flow prior and the body model.

The network predicts, per sample,

* ``z``: the latent code of a trained flow prior (the pose is θ = f⁻¹(z), Eq. 6's variable),
* ``β``: the body model's shape (whitened bone-length coordinates),
* the camera-frame root orientation ``R`` in the 6D representation (Zhou et al.).

The camera translation is not predicted: as in the paper ("we fix the intrinsics and estimate
translation by means of fitting the predicted 3D skeleton to 2D joint detections", weak
perspective), it is solved from the decoded skeleton and the 2D keypoints when a loss needs it
(:func:`weakpose.methods.flows.fitting.camera_init.weak_perspective_translation`).

Choice the paper leaves open: the 6D output is added to the 6D vector of the upright,
camera-facing orientation (the fitter's first initial rotation), so an untrained network
predicts an upright person facing the camera in the mean pose (z = 0 at the flow's mode), the
same start the optimisation of §3 uses.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from weakpose.codec import encode_2d, feature_size
from weakpose.geometry.rotations import matrix_to_rot6d, rot6d_to_matrix
from weakpose.methods.flows.body.model import BodyModel
from weakpose.methods.flows.body.pose import vector_to_matrices
from weakpose.methods.flows.fitting.camera_init import initial_global_rotations
from weakpose.methods.flows.fitting.pose_space import PoseSpace
from weakpose.models.lifter import ResidualMLP


@dataclass
class PoseShapeOutput:
    z: Tensor           # [B, D] latent pose code
    beta: Tensor        # [B, K]
    global_rot: Tensor  # [B, 3, 3] camera-frame root orientation


@dataclass
class Decoded:
    theta: Tensor       # [B, D] pose vector θ = f⁻¹(z)
    joints: Tensor      # [B, 17, 3] mm, camera orientation, pelvis at the origin
    surface: Tensor     # [B, N, 3] labelled surface points, same frame


class OutputHead(nn.Module):
    """Splits a raw [B, D + K + 6] vector into :class:`PoseShapeOutput` (6D offset, module doc)."""

    def __init__(self, latent_dim: int, num_betas: int) -> None:
        super().__init__()
        self.latent_dim, self.num_betas = latent_dim, num_betas
        self.register_buffer("rot_offset", matrix_to_rot6d(initial_global_rotations(1)[0]).reshape(6))

    @property
    def size(self) -> int:
        return self.latent_dim + self.num_betas + 6

    def forward(self, raw: Tensor) -> PoseShapeOutput:
        if raw.shape[-1] != self.size:
            raise ValueError(f"expected [B, {self.size}] raw outputs, got {tuple(raw.shape)}")
        D, K = self.latent_dim, self.num_betas
        R = rot6d_to_matrix((raw[:, D + K:] + self.rot_offset).reshape(-1, 6))
        return PoseShapeOutput(raw[:, :D], raw[:, D:D + K], R)


class KeypointPoseShapeNet(nn.Module):
    """2D keypoints (:func:`weakpose.codec.encode_2d` features) -> (z, β, R) with a residual MLP."""

    def __init__(self, latent_dim: int, num_betas: int, width: int = 512, blocks: int = 2,
                 dropout: float = 0.0, norm: str = "batch") -> None:
        super().__init__()
        self.head = OutputHead(latent_dim, num_betas)
        self.mlp = ResidualMLP(feature_size(17), self.head.size, width, blocks, dropout, norm)

    def forward(self, keypoints_2d: Tensor, confidence: Tensor, intrinsics: Tensor | None) -> PoseShapeOutput:
        feats, _ = encode_2d(keypoints_2d, confidence, intrinsics)
        return self.head(self.mlp(feats))


def decode(space: PoseSpace, body: BodyModel, out: PoseShapeOutput) -> Decoded:
    """θ = f⁻¹(z) through the flow (``space`` is the flow's latent :class:`PoseSpace`), then the
    body model's FK with β and R; joints and surface points with the pelvis at the origin."""
    if not space.latent:
        raise ValueError("the network predicts a latent code: use the flow's latent PoseSpace")
    theta = space.pose(out.z)
    local = vector_to_matrices(theta, space.rep)
    res = body(local, out.beta, global_rot=out.global_rot)
    pelvis = res.joints[:, :1]
    return Decoded(theta, res.joints - pelvis, body.surface_points(res) - pelvis)
