"""Li & Lee, BMVC 2020: a generative multi-hypothesis lifter trained from 2D poses and unpaired 3D poses.

``METHOD`` (registry name ``hypotheses``) is imported lazily.
"""


def __getattr__(name: str):
    if name == "METHOD":
        from weakpose.methods.hypotheses.method import METHOD
        return METHOD
    raise AttributeError(name)
