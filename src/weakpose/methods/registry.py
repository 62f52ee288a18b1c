"""Names of the trainable methods and where each is exported.

An entry is ``"package.module:ATTRIBUTE"`` (or a plain module path, meaning ``ATTRIBUTE`` =
``METHOD``): the attribute is a :class:`weakpose.methods.base.Method` subclass. Each paper is one
package under ``weakpose.methods`` whose ``__init__`` exports its methods. Packages are imported
lazily so that ``weakpose --help`` stays fast and a method's optional dependencies are only
needed when it is used.
"""

from __future__ import annotations

import importlib
import importlib.util

METHOD_MODULES: dict[str, str] = {
    "supervised": "weakpose.methods.supervised",             # Martinez et al. residual MLP, 3D supervised reference
    "nrsfm": "weakpose.methods.nrsfm:NRSFM",                 # Wang et al. 2019 §3: Deep NRSfM teacher
    "distill": "weakpose.methods.nrsfm:DISTILL",             # Wang et al. 2019 §4: distilled student
    "hypotheses": "weakpose.methods.hypotheses",             # Li & Lee 2020: generative multi-hypothesis lifter
    "multiview": "weakpose.methods.multiview",               # Iqbal et al. 2020: multi-view consistency, 2.5D
    "prior": "weakpose.methods.flows:PRIOR",                 # Zanfir et al. 2020 §2.1: normalizing-flow prior
    "flows-ws": "weakpose.methods.flows:FLOWS_WS",           # Zanfir et al. 2020 §2.3: weakly supervised network
    "composite": "weakpose.methods.composite",               # issue 17: the four weak signals on one lifter
}


def _split(entry: str) -> tuple[str, str]:
    module, _, attribute = entry.partition(":")
    return module, attribute or "METHOD"


def available_methods() -> list[str]:
    """Method names whose module is present in this installation."""
    names = []
    for name, entry in METHOD_MODULES.items():
        if importlib.util.find_spec(_split(entry)[0]) is not None:
            names.append(name)
    return names


def get_method(name: str):
    """Return the ``Method`` subclass registered under ``name``."""
    if name not in METHOD_MODULES:
        raise KeyError(f"unknown method {name!r}; choose one of {', '.join(available_methods())}")
    module, attribute = _split(METHOD_MODULES[name])
    return getattr(importlib.import_module(module), attribute)
