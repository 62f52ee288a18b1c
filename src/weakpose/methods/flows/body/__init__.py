"""weakpose's kinematic body model (Zanfir et al. 2020 §2 uses GHUM; weakpose builds its own
from the CMU skeletons) and an optional SMPL adapter."""

from weakpose.methods.flows.body.model import BodyModel, BodyOutput
from weakpose.methods.flows.body.parts import PART_NAMES

__all__ = ["BodyModel", "BodyOutput", "PART_NAMES"]
