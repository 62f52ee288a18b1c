"""The lower half of the training engine, which every method imports: config resolution
(``config``), optimisers and schedules (``optim``), atomic checkpoints (``checkpoint``),
distributed-process information (``distributed``) and scalar logs (``logging``).

The training loop, which looks methods up in the registry, is the upper half,
:mod:`weakpose.training`; it sits above :mod:`weakpose.methods` so that the engine never imports
a method (checked by the import-linter contracts in ``pyproject.toml``).
"""
