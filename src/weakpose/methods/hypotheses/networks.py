"""Networks of Li & Lee, BMVC 2020: conditional pose generator, camera network, latent encoder
and the MMD-GAN critic with a pose branch and a KCS branch (paper Fig. 2, §3.1–3.3).

Layout (the paper's Fig. 2; widths from the authors' public code, where every layer is 1024
wide with LeakyReLU(0.2)):

- ``trunk``: normalised 2D pose (2J) -> ``width`` -> one residual block. Shared by the
  generator head and the camera head.
- ``generator`` head G(x, z): [trunk features, z] -> ``width`` -> ``width`` (+ skip from the
  trunk features) -> ``generator_blocks - 1`` residual blocks -> 3J, root-centred.
- ``camera`` head: ``camera_blocks`` residual blocks on the trunk features -> 6 numbers,
  a 2×3 weak-perspective camera M (π(y) = M y, paper Eq. 4).
- ``encoder`` E(y) -> z (paper Eq. 7): 3J -> ``width`` -> two layers (+ skip) -> latent.
- ``PoseCritic``: two branches (pose: ``critic_pose_width``, KCS: ``critic_kcs_width``), each
  one layer then two residual blocks, concatenated and mapped linearly to a
  ``critic_out``-dimensional feature on which the MMD kernel is evaluated (8 in the code).

All widths are constructor arguments: the paper configuration is 1024 everywhere (128 for the
critic's pose branch, as in the authors' code); weakpose's CPU default is smaller.
The poses handled here are in the *template frame* (see ``weakpose.methods.hypotheses.method``):
root-centred, in units of the template (metres of the training subjects' mean torso).
"""

from __future__ import annotations

import torch
from torch import nn

LEAK = 0.2
OUTPUT_INIT_GAIN = 0.01


def _dense(in_dim: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, out_dim), nn.LeakyReLU(LEAK))


class ResidualBlock(nn.Module):
    """Two dense LeakyReLU layers with an identity skip: ``x + f(f(x))``."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(_dense(width, width), _dense(width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x)


def _init_weights(module: nn.Module) -> None:
    """He (variance-scaling) initialisation with zero biases, as in the authors' code."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, a=LEAK, nonlinearity="leaky_relu")
            nn.init.zeros_(m.bias)


class GenerativeLifter(nn.Module):
    """Shared trunk + generator head G(x, z) + camera head M(x) + encoder E(y).

    Args:
        num_joints: J (17 for Human3.6M-17).
        width: width of the trunk, generator, camera and encoder layers (1024 in the paper).
        latent_dim: dimension of z (1024 in the authors' code).
        generator_blocks: residual blocks of the generator head (2 in the code).
        camera_blocks: residual blocks of the camera head (2 in the code).
        camera_sides: 1 (the paper) or 2 (not in the paper): the generator head also reads a
            side s = ±1 and makes the pose for the camera M (s = +1) or for M·F, the camera on
            the other side of the template's torso plane (s = −1; see ``core.other_side``).
    """

    def __init__(
        self,
        num_joints: int = 17,
        width: int = 1024,
        latent_dim: int = 1024,
        generator_blocks: int = 2,
        camera_blocks: int = 2,
        camera_sides: int = 1,
    ) -> None:
        super().__init__()
        if generator_blocks < 1 or camera_blocks < 0:
            raise ValueError("generator_blocks must be >= 1 and camera_blocks >= 0")
        if camera_sides not in (1, 2):
            raise ValueError("camera_sides must be 1 or 2")
        self.camera_sides = camera_sides
        self.num_joints = num_joints
        self.latent_dim = latent_dim
        self.trunk = nn.Sequential(_dense(2 * num_joints, width), ResidualBlock(width))
        self.gen_in = nn.Sequential(_dense(width + latent_dim + (camera_sides == 2), width), _dense(width, width))
        self.gen_blocks = nn.Sequential(*[ResidualBlock(width) for _ in range(generator_blocks - 1)])
        self.gen_out = nn.Linear(width, 3 * num_joints)
        self.camera_head = nn.Sequential(*[ResidualBlock(width) for _ in range(camera_blocks)],
                                         nn.Linear(width, 6))
        self.enc_in = _dense(3 * num_joints, width)
        self.enc_mid = nn.Sequential(_dense(width, width), _dense(width, width))
        self.enc_out = nn.Linear(width, latent_dim)
        _init_weights(self)
        # small initial outputs (poses of a few cm, a camera near 0): the residual stacks amplify
        # He-initialised activations, and huge initial poses make the MMD critic diverge
        for head in (self.gen_out, self.camera_head[-1]):
            head.weight.data.mul_(OUTPUT_INIT_GAIN)

    def features(self, x2d: torch.Tensor) -> torch.Tensor:
        """Trunk features of normalised 2D poses [B, J, 2] -> [B, width]."""
        return self.trunk(x2d.reshape(x2d.shape[0], -1))

    def generate_from_features(self, h: torch.Tensor, z: torch.Tensor,
                               side: torch.Tensor | None = None) -> torch.Tensor:
        """G(x, z) from trunk features h [B, width] and codes z [B, latent] -> [B, J, 3] root-centred.
        With ``camera_sides=2``, ``side`` [B] (±1) says which camera the pose is for."""
        parts = [h, z]
        if self.camera_sides == 2:
            if side is None:
                raise ValueError("generate_from_features: camera_sides=2 needs side (+1 or -1 per sample)")
            parts.append(side.to(h).reshape(-1, 1))
        g = self.gen_in(torch.cat(parts, dim=-1)) + h
        y = self.gen_out(self.gen_blocks(g)).reshape(h.shape[0], self.num_joints, 3)
        return y - y[:, :1]

    def camera_from_features(self, h: torch.Tensor) -> torch.Tensor:
        """Weak-perspective camera M [B, 2, 3] from trunk features."""
        return self.camera_head(h).reshape(h.shape[0], 2, 3)

    def generate(self, x2d: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """G(x, z): [B, J, 2], [B, latent] -> [B, J, 3] (paper Eq. 5)."""
        return self.generate_from_features(self.features(x2d), z)

    def camera(self, x2d: torch.Tensor) -> torch.Tensor:
        """Camera network: [B, J, 2] -> M [B, 2, 3]."""
        return self.camera_from_features(self.features(x2d))

    def encode(self, y: torch.Tensor) -> torch.Tensor:
        """Encoder E(y): [B, J, 3] -> ẑ [B, latent] (paper Eq. 7)."""
        e = self.enc_in(y.reshape(y.shape[0], -1))
        return self.enc_out(e + self.enc_mid(e))

    def forward(self, x2d: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (y [B, J, 3], M [B, 2, 3])."""
        h = self.features(x2d)
        return self.generate_from_features(h, z), self.camera_from_features(h)


class _Branch(nn.Sequential):
    def __init__(self, in_dim: int, width: int, blocks: int) -> None:
        super().__init__(_dense(in_dim, width), *[ResidualBlock(width) for _ in range(blocks)])


class PoseCritic(nn.Module):
    """MMD-GAN critic (paper §3.1, §3.3): a pose branch and a KCS branch, concatenated.

    ``forward(pose, kcs)`` takes the root-centred 3D pose [B, J, 3] and its KCS matrix
    [B, K, K] (``weakpose.methods.hypotheses.losses.kcs_matrix``) and returns a
    ``out_dim``-dimensional feature [B, out_dim] on which the MMD kernel (Eq. 9) is evaluated.
    With ``chirality_dim`` > 0 (not in the paper) the KCS branch also reads
    ``chirality`` [B, chirality_dim] (``losses.chirality_features``), the reflection-odd
    companion of the reflection-invariant KCS matrix.
    """

    def __init__(
        self,
        num_joints: int = 17,
        num_bones: int = 16,
        pose_width: int = 128,
        kcs_width: int = 1024,
        out_dim: int = 8,
        blocks: int = 2,
        chirality_dim: int = 0,
    ) -> None:
        super().__init__()
        self.chirality_dim = chirality_dim
        self.pose_branch = _Branch(3 * num_joints, pose_width, blocks)
        self.kcs_branch = _Branch(num_bones * num_bones + chirality_dim, kcs_width, blocks)
        self.out = nn.Linear(pose_width + kcs_width, out_dim)
        _init_weights(self)

    def forward(self, pose: torch.Tensor, kcs: torch.Tensor, chirality: torch.Tensor | None = None) -> torch.Tensor:
        a = self.pose_branch(pose.reshape(pose.shape[0], -1))
        k = kcs.reshape(kcs.shape[0], -1)
        if self.chirality_dim:
            if chirality is None or chirality.shape[-1] != self.chirality_dim:
                raise ValueError(f"PoseCritic: expected chirality features [B, {self.chirality_dim}]")
            k = torch.cat([k, chirality], dim=-1)
        b = self.kcs_branch(k)
        return self.out(torch.cat([a, b], dim=-1))
