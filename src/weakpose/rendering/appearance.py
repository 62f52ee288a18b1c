"""Random appearance: clothing and skin colours, lighting and backgrounds.

All sampling goes through a ``torch.Generator`` so a seed fixes every pixel. The appearance
of a person (:class:`Appearance`) is sampled once per instant and shared by all views of it;
backgrounds are sampled per image.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from weakpose.rendering.body import SLOTS

_SKIN_TONES = torch.tensor(
    [[255, 224, 196], [241, 194, 125], [224, 172, 105], [198, 134, 66], [141, 85, 36], [90, 56, 37]],
    dtype=torch.float32,
) / 255.0
_HAIR = torch.tensor(
    [[20, 16, 14], [60, 40, 25], [110, 75, 40], [200, 160, 90], [130, 130, 130], [150, 60, 30]],
    dtype=torch.float32,
) / 255.0


def _uniform(n, lo, hi, g, *shape):
    return lo + (hi - lo) * torch.rand(n, *shape, generator=g)


def hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    """[..., 3] HSV in [0, 1] -> RGB in [0, 1]."""
    h, s, v = hsv.unbind(-1)
    k = torch.stack([(5 + h * 6) % 6, (3 + h * 6) % 6, (1 + h * 6) % 6], dim=-1)
    return v[..., None] - v[..., None] * s[..., None] * (torch.minimum(k, 4 - k).clamp(0, 1))


@dataclass
class Appearance:
    """Per-person colours and light.

    ``palette`` [N, 7, 3] RGB per clothing slot (order :data:`weakpose.rendering.body.SLOTS`),
    ``light`` [N, 3] unit direction *towards* the light in the frame of the poses given to
    the sampler's caller (world for multi-view scenes), ``ambient`` [N] in [0, 1].
    """

    palette: torch.Tensor
    light: torch.Tensor
    ambient: torch.Tensor

    def __len__(self) -> int:
        return self.palette.shape[0]

    def index(self, idx: torch.Tensor) -> Appearance:
        return Appearance(self.palette[idx], self.light[idx], self.ambient[idx])

    def rotate_light(self, R: torch.Tensor) -> Appearance:
        """Express the light in another frame: ``R`` [N, 3, 3] maps old to new coordinates."""
        return Appearance(self.palette, (R @ self.light[..., None])[..., 0], self.ambient)


def sample_appearance(
    n: int, generator: torch.Generator, up: tuple[float, float, float] = (0.0, 1.0, 0.0)
) -> Appearance:
    """``n`` random people: skin tone, hair, shirt, trousers (long or short), shoes, a light
    from the upper hemisphere around ``up`` (y-up world by default; pass ``(0, -1, 0)`` for
    camera-frame poses of an upright camera) and ambient level U(0.25, 0.5)."""
    g = generator
    tone = torch.rand(n, generator=g) * (len(_SKIN_TONES) - 1)
    lo = tone.floor().long()
    w = (tone - lo)[:, None]
    skin = _SKIN_TONES[lo] * (1 - w) + _SKIN_TONES[(lo + 1).clamp(max=len(_SKIN_TONES) - 1)] * w
    skin = skin * _uniform(n, 0.9, 1.1, g, 1)
    hair = _HAIR[torch.randint(len(_HAIR), (n,), generator=g)] * _uniform(n, 0.8, 1.2, g, 1)
    shirt = hsv_to_rgb(
        torch.stack([torch.rand(n, generator=g), _uniform(n, 0.05, 0.9, g), _uniform(n, 0.15, 0.95, g)], -1)
    )
    trousers = hsv_to_rgb(
        torch.stack([torch.rand(n, generator=g), _uniform(n, 0.05, 0.8, g), _uniform(n, 0.1, 0.85, g)], -1)
    )
    shoes = hsv_to_rgb(
        torch.stack([torch.rand(n, generator=g), _uniform(n, 0.0, 0.6, g), _uniform(n, 0.05, 0.45, g)], -1)
    )
    long_sleeves = (torch.rand(n, generator=g) < 0.6)[:, None]
    long_legs = (torch.rand(n, generator=g) < 0.8)[:, None]
    forearm = torch.where(long_sleeves, shirt, skin)
    shin = torch.where(long_legs, trousers, skin)
    palette = torch.stack([skin, shirt, forearm, trousers, shin, shoes, hair], dim=1).clamp(0, 1)
    assert palette.shape[1] == len(SLOTS)
    # light direction: elevation 20-80 degrees above the horizon, any azimuth
    up_v = torch.tensor(up, dtype=torch.float32)
    helper = torch.tensor([1.0, 0.0, 0.0]) if abs(float(up_v[0])) < 0.9 else torch.tensor([0.0, 0.0, 1.0])
    e1 = torch.linalg.cross(up_v, helper)
    e1 = e1 / e1.norm()
    e2 = torch.linalg.cross(up_v, e1)
    az = torch.rand(n, generator=g) * 2 * torch.pi
    el = torch.deg2rad(_uniform(n, 20.0, 80.0, g))
    light = (el.cos() * az.cos())[:, None] * e1 + (el.cos() * az.sin())[:, None] * e2 + el.sin()[:, None] * up_v
    ambient = _uniform(n, 0.25, 0.5, g)
    return Appearance(palette, light, ambient)


def _noise_background(n: int, h: int, w: int, g: torch.Generator) -> torch.Tensor:
    base = torch.rand(n, 3, 1, 1, generator=g)
    coarse = torch.rand(n, 3, 4, 4, generator=g) - 0.5
    fine = torch.rand(n, 3, 16, 16, generator=g) - 0.5
    a1 = _uniform(n, 0.2, 0.8, g, 1, 1, 1)
    a2 = _uniform(n, 0.0, 0.4, g, 1, 1, 1)
    img = base + a1 * F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    img = img + a2 * F.interpolate(fine, size=(h, w), mode="bilinear", align_corners=False)
    return img.permute(0, 2, 3, 1)


def _grid(n: int, h: int, w: int):
    y = (torch.arange(h, dtype=torch.float32) + 0.5) / h
    x = (torch.arange(w, dtype=torch.float32) + 0.5) / w
    return x[None, None, :], y[None, :, None]


def _gradient_background(n: int, h: int, w: int, g: torch.Generator) -> torch.Tensor:
    c0, c1 = torch.rand(n, 3, generator=g), torch.rand(n, 3, generator=g)
    ang = torch.rand(n, generator=g) * 2 * torch.pi
    x, y = _grid(n, h, w)
    s = (x - 0.5) * ang.cos()[:, None, None] + (y - 0.5) * ang.sin()[:, None, None]
    s = (s / 0.71 * 0.5 + 0.5).clamp(0, 1)[..., None]
    return c0[:, None, None] * (1 - s) + c1[:, None, None] * s


def _texture_background(n: int, h: int, w: int, g: torch.Generator) -> torch.Tensor:
    c0, c1 = torch.rand(n, 3, generator=g), torch.rand(n, 3, generator=g)
    ang = (torch.rand(n, generator=g) * torch.pi)[:, None, None]
    freq = _uniform(n, 2.0, 14.0, g, 1, 1)
    phase = torch.rand(n, 1, 1, generator=g) * 2 * torch.pi
    checker = (torch.rand(n, 1, 1, generator=g) < 0.5).float()
    sharp = _uniform(n, 1.0, 8.0, g, 1, 1)
    x, y = _grid(n, h, w)
    a = 2 * torch.pi * freq * (x * ang.cos() + y * ang.sin()) + phase
    b = 2 * torch.pi * freq * (-x * ang.sin() + y * ang.cos())
    s = a.sin() * (checker * b.sin() + (1 - checker))
    m = torch.sigmoid(sharp * s)[..., None]
    return c0[:, None, None] * (1 - m) + c1[:, None, None] * m


BACKGROUND_KINDS = ("noise", "gradient", "texture")


def sample_backgrounds(n: int, height: int, width: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` random backgrounds [n, H, W, 3] in [0, 1]: smooth colour noise, linear
    gradients or stripe/checker textures (one third each), plus grey pixel noise."""
    g = generator
    kind = torch.randint(len(BACKGROUND_KINDS), (n,), generator=g)
    out = torch.empty(n, height, width, 3)
    makers = (_noise_background, _gradient_background, _texture_background)
    for k, make in enumerate(makers):
        idx = (kind == k).nonzero(as_tuple=True)[0]
        if idx.numel():
            out[idx] = make(idx.numel(), height, width, g)
    sigma = _uniform(n, 0.0, 0.03, g, 1, 1, 1)
    out += sigma * torch.randn(n, height, width, 1, generator=g)
    return out.clamp_(0, 1)
