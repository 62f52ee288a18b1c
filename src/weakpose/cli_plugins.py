"""Modules that add sub-commands to ``weakpose``.

Each module listed here defines ``register(subparsers)`` which adds its sub-commands with
``subparsers.add_parser(...)`` and sets ``func`` (a callable taking the parsed args and
returning an exit code) via ``set_defaults``. A module that is not present is skipped.
"""

COMMAND_MODULES: list[str] = [
    "weakpose.data.cli",        # weakpose data convert-cmu | convert-h36m | convert-3dhp | convert-coco | convert-mpii
    "weakpose.inference.cli",   # weakpose detect, weakpose render, weakpose view
    "weakpose.inference.export",  # weakpose export (BVH, JSON)
    "weakpose.methods.flows.fitting.cli",     # weakpose fit (Zanfir et al. latent-space fitting)
    "weakpose.methods.multiview.tracklets",  # weakpose tracklets (Iqbal et al. §4.1, in-the-wild multi-view data)
]
