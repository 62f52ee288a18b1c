"""One package per paper (``multiview``, ``hypotheses``, ``flows``, ``nrsfm``) plus the
supervised reference (``supervised``), on the shared interface of ``base``; ``registry`` maps
the names of ``weakpose train NAME`` to what each package exports. The packages never import each
other (import-linter contract in ``pyproject.toml``)."""
