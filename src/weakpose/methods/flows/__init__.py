"""Zanfir et al., ECCV 2020: normalizing-flow kinematic prior, latent-space fitting and the
weakly supervised network.

Exports (lazily, so that ``weakpose --help``, which loads the ``fit`` command of this package,
stays fast) ``PRIOR`` (registry name ``prior``, §2.1) and ``FLOWS_WS`` (``flows-ws``, §2.3).
"""

_EXPORTS = {"PRIOR": "weakpose.methods.flows.prior", "FLOWS_WS": "weakpose.methods.flows.ws"}


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib
        return importlib.import_module(_EXPORTS[name]).METHOD
    raise AttributeError(name)
