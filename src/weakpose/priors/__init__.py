"""Pose priors: normalizing flow (Zanfir et al. 2020), GMM (Bogo et al. 2016), VAE (VPoser style)."""

from weakpose.priors.flow import FlowConfig, NormalizingFlow
from weakpose.priors.gmm import GMMPrior
from weakpose.priors.vae import PoseVAE, VAEConfig

__all__ = ["FlowConfig", "NormalizingFlow", "GMMPrior", "PoseVAE", "VAEConfig"]
