"""docs/figures/cmu_conversion.png: thorax repair (left) and cleaning of trial 05_06 (right).

Run from the repository root: OMP_NUM_THREADS=1 PYTHONPATH=src python docs/figures/cmu_conversion.py
"""
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from weakpose.data import bvh
from weakpose.data.converters import cmu
from weakpose.skeleton import H36M17

from weakpose.data.paths import data_root

root = str(data_root() / "cmu") + "/"
b = bvh.read_bvh(root + "bvh/07/07_01.bvh")
s = b.skeleton
raw = bvh.forward_kinematics(b)[100] * cmu.MM_PER_BVH_UNIT
fix = bvh.forward_kinematics(b, cmu.thorax_repaired_offsets(s))[100] * cmu.MM_PER_BVH_UNIT
fig, ax = plt.subplots(1, 2, figsize=(9, 4.2), gridspec_kw={"width_ratios": [1, 1.6]})
for pos, col, lab, dx in ((raw, "tab:gray", "BVH as released", 0), (fix, "tab:blue", "thorax repaired", 700)):
    h, extra = cmu.bvh_to_h36m17(pos[None], s)
    h, extra = h[0], extra[0]
    x0 = h[0, 0]
    for p, c in H36M17.bones:
        ax[0].plot([h[p, 0] - x0 + dx, h[c, 0] - x0 + dx], [h[p, 1], h[c, 1]], color=col, lw=2)
    ax[0].plot([h[10, 0] - x0 + dx, extra[0, 0] - x0 + dx], [h[10, 1], extra[0, 1]], color=col, lw=2, ls=":")
    ax[0].text(dx, -230, f"{lab}\nhead top {extra[0, 1]:.0f} mm", ha="center", fontsize=8)
ax[0].set_aspect("equal"); ax[0].set_ylim(-300, 1800); ax[0].set_title("07_01 frame 100 (front view, mm)", fontsize=9)
ax[0].set_xticks([]); ax[0].grid(alpha=0.3)

b = bvh.read_bvh(root + "bvh/05/05_06.bvh")
pos = bvh.forward_kinematics(b, cmu.thorax_repaired_offsets(b.skeleton)) * cmu.MM_PER_BVH_UNIT
h = cmu.bvh_to_h36m17(pos, b.skeleton)[0]
keep, stats = cmu.clean_trial(b.motion, h, 120.0)
step = np.r_[0, np.linalg.norm(np.diff(h, axis=0), axis=-1).max(-1)]
f = np.arange(len(step))
ax[1].semilogy(f[1:], step[1:], lw=0.7, color="k", label="largest joint step (mm / frame)")
ax[1].axhline(150, color="tab:red", ls="--", lw=1, label="150 mm threshold")
for a, e in cmu._runs(keep):
    ax[1].axvspan(a, e, color="tab:green", alpha=0.15, lw=0)
ax[1].set_xlabel("BVH frame (120 fps)"); ax[1].set_title(
    f"05_06 cleaning: kept clips shaded ({stats['dropped']} of {stats['src_frames']} frames dropped)", fontsize=9)
ax[1].legend(fontsize=7, loc="upper right")
fig.tight_layout()
fig.savefig("docs/figures/cmu_conversion.png", dpi=90)
