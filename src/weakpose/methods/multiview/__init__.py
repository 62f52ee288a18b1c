"""Iqbal, Molchanov & Kautz, CVPR 2020: weakly supervised 3D pose from multi-view 2D, via 2.5D.

``METHOD`` (registry name ``multiview``) is imported lazily so that ``weakpose --help``, which
loads the ``tracklets`` command of this package, stays fast.
"""


def __getattr__(name: str):
    if name == "METHOD":
        from weakpose.methods.multiview.method import METHOD
        return METHOD
    raise AttributeError(name)
