"""Wang, Kong & Lucey, ICCV 2019: Deep NRSfM teacher (§3) and its distilled student (§4).

Exports (lazily) ``NRSFM`` (registry name ``nrsfm``) and ``DISTILL`` (``distill``).
"""

_EXPORTS = {"NRSFM": "weakpose.methods.nrsfm.teacher", "DISTILL": "weakpose.methods.nrsfm.distill"}


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib
        return importlib.import_module(_EXPORTS[name]).METHOD
    raise AttributeError(name)
