"""The one exception for bad user input.

Every problem with a user's file, option or key raises :class:`InputError` with a one-line
message naming the file, the key and the problem (``FILE: key 'x': problem``); the ``weakpose``
command prints it as ``error: ...`` and exits with code 2. It lives at the bottom layer so that
every unit (cameras, data, engine, methods) can raise it without importing anything above it.
"""


class InputError(Exception):
    """Bad user input (file, key, value). The message is a single line meant for the user."""
