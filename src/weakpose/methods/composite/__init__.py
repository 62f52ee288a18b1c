"""Composite of the four weak signals (issue 17): ``weakpose train composite``.

- :mod:`.config`    settings (term weights ``w_*``, data sources);
- :mod:`.data`      the source kinds (single-view 2D, multi-view 2D, unpaired 3D, paired) and batches;
- :mod:`.objective` the terms, each imported from its method's module, and their weighted sum;
- :mod:`.method`    phases (flow prior, NRSfM teacher) and the training step.
"""



def __getattr__(name: str):
    """``METHOD`` (registry name ``composite``) is imported lazily, like the papers' packages."""
    if name == "METHOD":
        from weakpose.methods.composite.method import METHOD

        return METHOD
    raise AttributeError(name)
