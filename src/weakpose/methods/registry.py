"""Names of the trainable methods and the module that implements each.

Each module defines ``METHOD``, a :class:`weakpose.methods.base.Method` subclass. Modules are
imported lazily so that ``weakpose --help`` stays fast and a method's optional dependencies are
only needed when it is used.
"""

from __future__ import annotations

import importlib

METHOD_MODULES: dict[str, str] = {
    "supervised": "weakpose.methods.supervised",     # Martinez et al. residual MLP, 3D supervised reference
    "nrsfm": "weakpose.methods.nrsfm",               # Wang et al. 2019 §3: Deep NRSfM teacher
    "distill": "weakpose.methods.distill",           # Wang et al. 2019 §4: distilled student
    "hypotheses": "weakpose.methods.hypotheses",     # Li & Lee 2020: generative multi-hypothesis lifter
    "multiview": "weakpose.methods.multiview",       # Iqbal et al. 2020: multi-view consistency, 2.5D
    "prior": "weakpose.methods.prior",               # Zanfir et al. 2020 §2.1: normalizing-flow prior
    "flows-ws": "weakpose.methods.flows_ws",         # Zanfir et al. 2020 §2.3: weakly supervised network
    "composite": "weakpose.methods.composite",       # issue 17: the four weak signals on one lifter
}


def available_methods() -> list[str]:
    """Method names whose module is present in this installation."""
    names = []
    for name, module in METHOD_MODULES.items():
        if importlib.util.find_spec(module) is not None:
            names.append(name)
    return names


def get_method(name: str):
    """Return the ``Method`` subclass registered under ``name``."""
    if name not in METHOD_MODULES:
        raise KeyError(f"unknown method {name!r}; choose one of {', '.join(available_methods())}")
    module = importlib.import_module(METHOD_MODULES[name])
    return module.METHOD
