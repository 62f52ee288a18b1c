"""Image geometry and heatmap coding: person crops and their affine maps (``crops``), Gaussian
heatmap targets, soft-argmax decoding and the heatmap loss L_H (``heatmaps``)."""
