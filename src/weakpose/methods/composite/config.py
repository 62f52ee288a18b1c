"""Settings of ``weakpose train composite`` (one default per setting, DESIGN.md house rules).

Term weights are the ``w_*`` keys; a term is on when its weight is > 0 **and** its data source
is present (see :mod:`weakpose.methods.composite.data`). Loss-internal weights keep the papers'
values (Iqbal et al. alpha = 10, beta = 100; Li & Lee lambda_gp = 0.1; Wang et al. beta = 0.3).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from weakpose.engine.config import TrainConfig, setting

#: every loss term of the composite, in the order they are logged
TERMS = ("2d", "mc", "mmd", "flow", "distill", "sup")
#: the value of a ``*_source`` key that means "the CMU-WS training subjects"
CMU_TRAIN = "cmu-train"


@dataclass
class CompositeConfig(TrainConfig):
    # --- data sources ("cmu-train" = CMU-WS training subjects; "" = absent) --------------------
    single_2d: str = CMU_TRAIN       # single-view 2D (Li & Lee, Zanfir, Wang; no 3D)
    multiview_2d: str = CMU_TRAIN    # synchronised multi-view 2D (Iqbal et al.; no 3D, no extrinsics)
    unpaired_3d: str = CMU_TRAIN     # 3D poses not paired with any 2D sample (critic, flow prior)
    paired: str = ""                 # paired 2D-3D samples (the optional supervised share)
    rig: str = "h36m"                # cameras of the single-view 2D and paired sources: h36m | wild
    noise: str = "gt"                # their 2D: gt projections | detector (the benchmark's noise model)
    stride: int = 2                  # every stride-th training frame (all sources)
    noise_fraction: float = 0.5      # share of 2D inputs given simulated detector noise (the 2D source stays the label)
    wild_fraction: float = 0.0       # share from random wild rigs (0: h36m rig, as measured; multiview: 1)
    views: int = 4                   # views per multi-view sample (L_MC)
    # --- term weights ----------------------------------------------------------------------------
    w2d: float = 10.0                # 2D estimate of every joint (the 2.5D lifter's L_H role; Iqbal Eq. 7)
    w_mc: float = 1.0                # alpha L_MC + beta L_B (Iqbal Eq. 8, 11), multi-view 2D
    w_mmd: float = 1.0               # MMD^2 of a pose + KCS critic (Li & Lee Eq. 8-9), unpaired 3D
    w_flow: float = 0.02             # NLL per dimension of a bone-direction flow prior (Zanfir Eq. 1-3), unpaired 3D
    w_distill: float = 1.0           # Deep NRSfM distillation (Wang et al. Eq. 14), single-view 2D
    w_sup: float = 5.0               # psi L_z on paired data (Iqbal Eq. 6), only with a paired source
    # --- term internals (papers' values) ------------------------------------------------------------
    alpha: float = 10.0              # L_MC weight inside the mc term
    beta: float = 100.0              # L_B weight inside the mc term
    lambda_gp: float = 0.1           # critic gradient penalty (Li & Lee §3.3)
    kernel_alphas: list[float] = field(default_factory=lambda: [0.1, 1.0, 10.0])
    dot_weight: float = 1.0
    critic_pose_width: int = setting(128, minimum=1)
    critic_kcs_width: int = setting(256, minimum=1)
    critic_blocks: int = 2
    critic_out: int = setting(8, minimum=1)
    critic_lr: float = 1e-3
    flow_kind: str = "realnvp"       # coupling: "realnvp" (Zanfir Eq. 4) | "spline" (not the paper's; extra `splines`)
    flow_steps: int = 6              # coupling steps of the bone-direction flow
    flow_hidden: int = setting(128, minimum=1)
    flow_fit_steps: int = 1500       # maximum-likelihood steps of the flow before the lifter trains
    flow_robust: float = 2.0         # per-dimension NLL above which the flow term grows logarithmically
    flow_noise: float = 0.05         # dequantisation noise on the unit bone directions while fitting the flow
    teacher: str = ""                # Deep NRSfM run folder; empty = train one as the first phase
    teacher_steps: int = 3000        # steps of that phase (the nrsfm method's defaults otherwise)
    reg_weight: float = 0.3          # beta of Wang et al. Eq. 14
    damping: float = 1e-6            # relative Tikhonov term of Eq. 13
    # --- lifter and optimisation (Iqbal et al.'s 2.5D keypoint network) ------------------------------
    steps: int = 4000
    batch_size: int = 128            # single-view 2D samples per step (and paired samples, when present)
    mv_batch_size: int = 32          # multi-view samples per step (x views poses)
    lr: float = 5e-4
    lr_final: float = 5e-5           # after lr_drop of the steps
    lr_drop: float = 0.8333
    width: int = setting(512, minimum=1)
    blocks: int = 2
    dropout: float = 0.1
    scale_pair: tuple[int, int] = (0, 8)
    pair_depth_bound: float = 0.75
    depthless_start: bool = True     # depth outputs start at 0 (method.start_depthless)
    eval_every: int = 1000
    checkpoint_every: int = 1000
    monitor_samples: int = 1024      # training-subject validation samples scored while training
