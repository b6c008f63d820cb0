"""The exception root of grit-desktop.

Every error meant for a person is a `GritError` (or a subclass); its message is shown as is, by
the CLI on stderr and by the GUI in the window. Anything else that escapes is a bug and is logged
with its traceback.
"""

from __future__ import annotations


class GritError(Exception):
    """An error whose message is written for the user and is shown without a traceback."""


class ModelNotFoundError(GritError):
    """The model folder or Hub id does not lead to usable weights on this machine."""


class ModelLoadError(GritError):
    """The model files are there but could not be loaded (broken, unsupported, no memory)."""


class DeviceError(GritError):
    """The requested device or quantization cannot be used on this machine."""


class ConfigError(GritError):
    """A settings file or option value is not valid."""


def first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message (its type's name when it has none), for one-line reports."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
