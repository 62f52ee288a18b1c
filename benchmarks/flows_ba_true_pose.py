"""L_BA (Zanfir et al. Eq. 7) of the true body against its own rendered part mask, split into
the forward and backward terms, for surface densities and mask resolutions (docs/flows.md,
"L_BA at the true pose"). Synthetic test skeleton, 8 random poses at 5 m, f = 1150 px.

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/flows_ba_true_pose.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "flows"))
from flows_helpers import synthetic_offsets  # noqa: E402

from weakpose.camera import project  # noqa: E402
from weakpose.methods.flows.body.model import BodyModel  # noqa: E402
from weakpose.methods.flows.body.parts import ALIGNMENT_DENSITY, PartSurface  # noqa: E402
from weakpose.methods.flows.body.pose import vector_to_matrices  # noqa: E402
from weakpose.methods.flows.fitting.losses import body_part_alignment  # noqa: E402
from weakpose.methods.flows.ws_rendering import CropBatch, full_image_mask_pixels  # noqa: E402
from weakpose.rendering import render_batch  # noqa: E402
from weakpose.vision.crops import crop_transform, person_box  # noqa: E402


def main() -> None:
    torch.set_num_threads(1)
    body = BodyModel(synthetic_offsets())
    B = 8
    g = torch.Generator().manual_seed(0)
    local = vector_to_matrices(0.4 * torch.randn(B, body.num_pose_joints * 3, generator=g), "aa")
    root = torch.tensor([[np.pi, 0.0, 0.0]] * B, dtype=torch.float32) + 0.3 * torch.randn(B, 3, generator=g)
    transl = torch.tensor([0.0, 0.0, 5000.0]).expand(B, 3)
    out = body(local, global_rot=vector_to_matrices(root, "aa")[:, 0], transl=transl)
    J = out.joints
    K = torch.tensor([[1150.0, 0, 500], [0, 1150.0, 500], [0, 0, 1]]).expand(B, 3, 3).contiguous()
    box = person_box(project(J, K).double().numpy())
    surfaces = {"372 (L_V surface)": PartSurface(), "1764 (alignment)": PartSurface(**ALIGNMENT_DENSITY),
                "5070": PartSurface(rings=16, around=16, sphere_points=400)}
    print("points | mask crop px | pixels | forward | backward | L_BA | L_BA +20 px")
    for size, pixels in ((64, 128), (128, 2048), (256, 4096)):
        T = crop_transform(box, size)
        A = torch.from_numpy((T @ K.double().numpy()).astype(np.float32))
        parts = render_batch(J, A, size, size, seed=0).parts
        masks = full_image_mask_pixels(CropBatch(None, parts, T, None), pixels, seed=0)
        for name, surf in surfaces.items():
            pts = project(surf(J), K)
            f, b = body_part_alignment(pts, surf.labels, *masks)
            f2, b2 = body_part_alignment(pts + torch.tensor([20.0, 0.0]), surf.labels, *masks)
            print(f"{name} | {size} | {pixels} | {f.mean():.1f} | {b.mean():.1f} | {(f + b).mean():.1f} | "
                  f"{(f2 + b2).mean():.1f}")


if __name__ == "__main__":
    main()
