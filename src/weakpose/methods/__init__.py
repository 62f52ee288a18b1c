"""One module per method (see :mod:`weakpose.methods.registry`)."""
