"""Pose priors: normalizing flow (Zanfir et al. 2020), GMM (Bogo et al. 2016), VAE (VPoser style)."""

from weakpose.methods.flows.priors.flow import FlowConfig, NormalizingFlow
from weakpose.methods.flows.priors.gmm import GMMPrior
from weakpose.methods.flows.priors.vae import PoseVAE, VAEConfig

__all__ = ["FlowConfig", "NormalizingFlow", "GMMPrior", "PoseVAE", "VAEConfig"]
